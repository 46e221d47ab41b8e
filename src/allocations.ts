import { isLive, jobKey, type LiveAllocation } from "./model/allocation.js";
import type { Allocation, Job } from "./model/nomad.js";
import type { AllocationView } from "./ports.js";

/** Where the event count stood when a list was requested. */
export interface ListMark {
  readonly eventCount: number;
}

/**
 * The node's allocations as Nomad last described them: seeded from the node's allocation list and kept
 * current by the event stream. Every node receives every event of the cluster, so anything about another
 * node is ignored, and only the jobs of this node's allocations are cached.
 */
export class NodeAllocations implements AllocationView {
  private readonly allocations = new Map<string, Allocation>();
  private readonly jobs = new Map<string, Job>();
  /** Counts the events applied; an allocation remembers the count when an event last told of it. */
  private eventCount = 0;
  #seeded = false;
  private readonly lastToldAt = new Map<string, number>();

  constructor(private readonly nodeId: string) {}

  /** Whether a full list of the node's allocations has been applied: before, the view knows nothing. */
  get seeded(): boolean {
    return this.#seeded;
  }

  /** Call right before requesting the node's allocation list; pass the mark to `reconcile`. */
  listRequested(): ListMark {
    return { eventCount: this.eventCount };
  }

  /**
   * Reconciles with a full list of the node's allocations. What the list does not have was
   * garbage-collected (which sends no event), unless an event told of it after the list was requested.
   * Indexes cannot decide this: the list's index is the highest ModifyIndex among what it holds, which
   * after a garbage collection can be lower than a collected allocation's last ModifyIndex.
   */
  reconcile(list: readonly Allocation[], requested: ListMark): void {
    const listed = new Set<string>();
    for (const allocation of list) {
      if (allocation.NodeID !== this.nodeId) continue;
      listed.add(allocation.ID);
      this.store(allocation);
      if (allocation.Job) this.rememberJob(allocation.Job);
    }
    for (const id of this.allocations.keys()) {
      if (listed.has(id) || (this.lastToldAt.get(id) ?? 0) > requested.eventCount) continue;
      this.allocations.delete(id);
      this.lastToldAt.delete(id);
    }
    this.forgetUnusedJobs();
    this.#seeded = true;
  }

  /**
   * Applies an allocation from the event stream. Events are upserts: the state comes from the statuses,
   * never from the event type, and an event older than what is known is ignored (resumed streams replay).
   * Returns whether the view changed.
   */
  upsert(allocation: Allocation): boolean {
    if (allocation.NodeID !== this.nodeId) return false;
    this.eventCount += 1;
    this.lastToldAt.set(allocation.ID, this.eventCount);
    return this.store(allocation);
  }

  /** Applies a job from the event stream; only jobs with allocations on this node are kept. */
  updateJob(job: Job): boolean {
    const key = jobKey(job.Namespace, job.ID);
    const known = this.jobs.get(key);
    if (!known && !this.hasAllocationsOf(job.Namespace, job.ID)) return false;
    if (known && known.ModifyIndex >= job.ModifyIndex) return false;
    this.jobs.set(key, job);
    return true;
  }

  live(): LiveAllocation[] {
    const live: LiveAllocation[] = [];
    for (const allocation of this.allocations.values()) {
      if (!isLive(allocation)) continue;
      live.push({
        id: allocation.ID,
        namespace: allocation.Namespace,
        jobId: allocation.JobID,
        group: allocation.TaskGroup,
        running: allocation.ClientStatus === "running",
        startedAt: startedAt(allocation),
        job: this.jobs.get(jobKey(allocation.Namespace, allocation.JobID)),
      });
    }
    return live;
  }

  private store(allocation: Allocation): boolean {
    const known = this.allocations.get(allocation.ID);
    if (known && known.ModifyIndex >= allocation.ModifyIndex) return false;
    this.allocations.set(allocation.ID, { ...allocation, Job: null });
    return true;
  }

  private rememberJob(job: Job): void {
    const key = jobKey(job.Namespace, job.ID);
    const known = this.jobs.get(key);
    if (!known || known.ModifyIndex < job.ModifyIndex) this.jobs.set(key, job);
  }

  private hasAllocationsOf(namespace: string, jobId: string): boolean {
    for (const allocation of this.allocations.values()) {
      if (allocation.Namespace === namespace && allocation.JobID === jobId) return true;
    }
    return false;
  }

  private forgetUnusedJobs(): void {
    const used = new Set([...this.allocations.values()].map((a) => jobKey(a.Namespace, a.JobID)));
    for (const key of this.jobs.keys()) {
      if (!used.has(key)) this.jobs.delete(key);
    }
  }
}

function startedAt(allocation: Allocation): number {
  const starts = Object.values(allocation.TaskStates ?? {})
    .map((state) => Date.parse(state.StartedAt ?? ""))
    .filter((ms) => Number.isFinite(ms) && ms > 0);
  // CreateTime is Unix nanoseconds; milliseconds are all the precision a start time needs here.
  return starts.length > 0 ? Math.max(...starts) : Math.floor(allocation.CreateTime / 1e6);
}

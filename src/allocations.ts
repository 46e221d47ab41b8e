import { isLive, jobKey, type LiveAllocation } from "./model/allocation.js";
import type { Allocation, Job } from "./model/nomad.js";
import type { AllocationView } from "./ports.js";

/**
 * The node's allocations as Nomad last listed them (`/v1/node/<node>/allocations`, each with its job):
 * every answer of the allocation watch is the whole truth and replaces what was known. Only the jobs of
 * this node's allocations are kept, each at the newest version seen (a fresh look may bring a newer one).
 */
export class NodeAllocations implements AllocationView {
  private allocations = new Map<string, Allocation>();
  private readonly jobs = new Map<string, Job>();
  #seeded = false;

  constructor(private readonly nodeId: string) {}

  /** Whether a full list of the node's allocations has been applied: before, the view knows nothing. */
  get seeded(): boolean {
    return this.#seeded;
  }

  /**
   * Replaces the view with a list of the node's allocations. Returns whether it brought allocations the
   * view did not know (not counting the first list, which brings everything).
   */
  reconcile(list: readonly Allocation[]): boolean {
    const next = new Map<string, Allocation>();
    let fresh = false;
    for (const allocation of list) {
      if (allocation.NodeID !== this.nodeId) continue;
      if (!this.allocations.has(allocation.ID)) fresh = true;
      next.set(allocation.ID, { ...allocation, Job: null });
      if (allocation.Job) this.rememberJob(allocation.Job);
    }
    this.allocations = next;
    this.forgetUnusedJobs();
    const first = !this.#seeded;
    this.#seeded = true;
    return fresh && !first;
  }

  /** A job read afresh (before acting); kept when newer, and only for jobs with allocations on this node. */
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

import type { Allocation, AllocationListStub, Job, Registered, Submitted } from "../../src/model/nomad.js";
import type {
  BlockingQuery,
  NomadApi,
  ScaleRequest,
  StoredVariable,
  VariableEntry,
  VariableStore,
  VariableWrite,
} from "../../src/ports.js";
import type { HeapClock } from "./heap-clock.js";

/** What one node's monitor asked of the Nomad servers. */
export interface NodeCounts {
  requests: number;
  variableReads: number;
  variableWrites: number;
  variableLists: number;
  listEntries: number;
  /** Bytes of every answer but the event stream's (JSON as Nomad would send it). */
  bytesRead: number;
  byKind: Map<string, number>;
}

export function emptyCounts(): NodeCounts {
  return {
    requests: 0,
    variableReads: 0,
    variableWrites: 0,
    variableLists: 0,
    listEntries: 0,
    bytesRead: 0,
    byKind: new Map(),
  };
}

const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null));

/**
 * The Nomad servers as the monitors of a cluster see them, in memory: jobs, allocations, Variables with
 * raft indexes and check-and-set, and blocking queries on a node's allocations, answered when one of that
 * node's allocations changes or after the wait. Each node's monitor gets its own `NomadApi` and
 * `VariableStore`, which count what that node asks and how much comes back. The event stream is not
 * served (the monitors do not subscribe); the bytes of the events the cluster's changes make are counted,
 * which is what every node's subscription would receive (Nomad's stream cannot filter by node).
 */
/** The cluster's allocations, found by ID, by node and by job without a scan: thousands of nodes ask. */
export class AllocationStore {
  readonly #byId = new Map<string, Allocation>();
  readonly #byNode = new Map<string, Set<Allocation>>();
  readonly #byJob = new Map<string, Set<Allocation>>();

  get(allocId: string): Allocation | undefined {
    return this.#byId.get(allocId);
  }

  set(allocation: Allocation): void {
    this.delete(allocation.ID);
    this.#byId.set(allocation.ID, allocation);
    indexed(this.#byNode, allocation.NodeID).add(allocation);
    indexed(this.#byJob, `${allocation.Namespace}/${allocation.JobID}`).add(allocation);
  }

  delete(allocId: string): void {
    const allocation = this.#byId.get(allocId);
    if (!allocation) return;
    this.#byId.delete(allocId);
    this.#byNode.get(allocation.NodeID)?.delete(allocation);
    this.#byJob.get(`${allocation.Namespace}/${allocation.JobID}`)?.delete(allocation);
  }

  onNode(nodeId: string): Allocation[] {
    return [...(this.#byNode.get(nodeId) ?? [])];
  }

  /** By `namespace/job`. */
  ofJob(jobKey: string): Allocation[] {
    return [...(this.#byJob.get(jobKey) ?? [])];
  }
}

function indexed(index: Map<string, Set<Allocation>>, key: string): Set<Allocation> {
  const set = index.get(key) ?? new Set<Allocation>();
  index.set(key, set);
  return set;
}

export class FakeNomad {
  #index = 1000;
  readonly jobs = new Map<string, Job>();
  readonly allocations = new AllocationStore();
  readonly #variables = new Map<string, StoredVariable>();
  /** Each node's allocation index (its allocations' highest ModifyIndex, moved by removals too), and who waits on it. */
  readonly #nodeIndex = new Map<string, number>();
  readonly #waiting = new Map<string, Set<() => void>>();
  readonly counts = new Map<string, NodeCounts>();
  /** Bytes of every event the cluster's changes made: what one event stream subscription would receive. */
  clusterEventBytes = 0;

  constructor(readonly clock: HeapClock) {}

  nextIndex(): number {
    this.#index += 1;
    return this.#index;
  }

  /** Counts one request of `kind` from the node and the bytes of its answer, which it hands back. */
  #counter(nodeId: string): <T>(kind: string, answer: T) => T {
    const counts = this.countsOf(nodeId);
    return (kind, answer) => {
      counts.requests += 1;
      counts.bytesRead += size(answer);
      counts.byKind.set(kind, (counts.byKind.get(kind) ?? 0) + 1);
      return answer;
    };
  }

  countsOf(nodeId: string): NodeCounts {
    let counts = this.counts.get(nodeId);
    if (!counts) {
      counts = emptyCounts();
      this.counts.set(nodeId, counts);
    }
    return counts;
  }

  /** The cluster's changes as the event stream would carry them: counted, not sent. */
  publish(events: ReadonlyArray<{ Topic: string; Type: string; Key: string; Payload: unknown }>): void {
    const index = this.#index;
    this.clusterEventBytes += Buffer.byteLength(
      `${JSON.stringify({ Index: index, Events: events.map((event) => ({ ...event, Index: index })) })}\n`,
    );
  }

  /** An allocation of the node changed: its blocking queries are answered. */
  touched(nodeId: string): void {
    this.#nodeIndex.set(nodeId, this.nextIndex());
    const waiting = this.#waiting.get(nodeId);
    this.#waiting.delete(nodeId);
    for (const wake of waiting ?? []) wake();
  }

  async #blockOn(nodeId: string, blocking: BlockingQuery | undefined, signal: AbortSignal | undefined) {
    if (!blocking || (this.#nodeIndex.get(nodeId) ?? 0) > blocking.index) return;
    await new Promise<void>((resolve) => {
      const waiting = this.#waiting.get(nodeId) ?? new Set<() => void>();
      this.#waiting.set(nodeId, waiting);
      // The signal lives as long as the monitor: a listener left on it per query would pile up.
      const done = () => {
        cancel();
        waiting.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const cancel = this.clock.after(blocking.waitMs, done);
      waiting.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  api(nodeId: string): NomadApi {
    const count = this.#counter(nodeId);
    return {
      nodeAllocations: async (node, signal, blocking) => {
        await this.#blockOn(node, blocking, signal);
        const allocations = this.allocations
          .onNode(node)
          .map((alloc) => ({ ...alloc, Job: this.jobs.get(`${alloc.Namespace}/${alloc.JobID}`) ?? null }));
        count("node allocations", allocations);
        return { allocations, index: this.#nodeIndex.get(node) ?? 1 };
      },
      allocation: async (allocId) => count("allocation", this.allocations.get(allocId)) as Allocation,
      job: async (namespace, jobId) =>
        count("job", this.jobs.get(`${namespace}/${jobId}`)) as Job | undefined,
      jobAllocations: async (namespace, jobId) =>
        count("job allocations", this.allocations.ofJob(`${namespace}/${jobId}`)) as AllocationListStub[],
      stopJob: async (namespace, jobId) => {
        count("stop", {});
        const job = this.jobs.get(`${namespace}/${jobId}`);
        const jobModifyIndex = this.nextIndex();
        // As Nomad does: a stop is a new version of the job (what the wake record checks).
        if (job)
          this.jobs.set(`${namespace}/${jobId}`, {
            ...job,
            Stop: true,
            Version: job.Version + 1,
            JobModifyIndex: jobModifyIndex,
          });
        return { evalId: "eval", jobModifyIndex };
      },
      scaleGroup: async (_request: ScaleRequest) =>
        count("scale", { evalId: "eval", jobModifyIndex: this.nextIndex() }) as Submitted,
      registerJob: async () =>
        count("register", {
          kind: "registered",
          evalId: "eval",
          jobModifyIndex: this.nextIndex(),
        }) as Registered,
      readVariable: async () => count("token variable", { token: "action-token" }) as Record<string, string>,
    };
  }

  variables(nodeId: string): VariableStore {
    const counts = this.countsOf(nodeId);
    const request = this.#counter(nodeId);
    return {
      list: async (prefix) => {
        const entries: VariableEntry[] = [];
        for (const [path, variable] of this.#variables)
          if (path.startsWith(prefix)) entries.push({ path, modifyIndex: variable.modifyIndex });
        counts.variableLists += 1;
        counts.listEntries += entries.length;
        // Nomad lists metadata only: path, namespace, indexes, times (about 150 B an entry).
        request(
          "variable list",
          entries.map((entry) => ({ ...entry, Namespace: "default", CreateTime: 0 })),
        );
        return { entries, index: this.#index };
      },
      read: async (path) => {
        const variable = this.#variables.get(path);
        counts.variableReads += 1;
        request("variable read", variable);
        return variable && { items: { ...variable.items }, modifyIndex: variable.modifyIndex };
      },
      write: async (path, items, cas): Promise<VariableWrite> => {
        counts.variableWrites += 1;
        const current = this.#variables.get(path);
        request("variable write", items);
        // Nomad's check-and-set: 0 creates only what is absent; N writes only over ModifyIndex N.
        if (cas !== (current?.modifyIndex ?? 0))
          return { kind: "conflict", current: current ?? { items: {}, modifyIndex: 0 } };
        const modifyIndex = this.nextIndex();
        this.#variables.set(path, { items: { ...items }, modifyIndex });
        return { kind: "written", modifyIndex };
      },
      delete: async (path, cas) => {
        counts.variableWrites += 1;
        request("variable delete", {});
        const current = this.#variables.get(path);
        if (current && current.modifyIndex !== cas) return "conflict";
        this.#variables.delete(path);
        this.nextIndex();
        return "deleted";
      },
    };
  }
}

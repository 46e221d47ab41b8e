import { PassThrough, type Readable } from "node:stream";
import type { Allocation, AllocationListStub, Job } from "../../src/model/nomad.js";
import type {
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
  streamBytes: number;
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
    streamBytes: 0,
    byKind: new Map(),
  };
}

const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null));

/**
 * The Nomad servers as the monitors of a cluster see them, in memory: jobs, allocations, Variables with
 * raft indexes and check-and-set, and the event stream, which (as in Nomad) carries every event of the
 * cluster to every subscriber. Each node's monitor gets its own `NomadApi` and `VariableStore`, which count
 * what that node asks and how much comes back.
 */
export class FakeNomad {
  #index = 1000;
  readonly jobs = new Map<string, Job>();
  readonly allocations = new Map<string, Allocation>();
  readonly #variables = new Map<string, StoredVariable>();
  readonly #streams = new Map<string, Set<PassThrough>>();
  readonly counts = new Map<string, NodeCounts>();

  constructor(readonly clock: HeapClock) {}

  nextIndex(): number {
    this.#index += 1;
    return this.#index;
  }

  countsOf(nodeId: string): NodeCounts {
    let counts = this.counts.get(nodeId);
    if (!counts) {
      counts = emptyCounts();
      this.counts.set(nodeId, counts);
    }
    return counts;
  }

  /** Every subscriber receives the line, whatever node it watches: Nomad's stream cannot filter by node. */
  publish(events: ReadonlyArray<{ Topic: string; Type: string; Key: string; Payload: unknown }>): void {
    const index = this.#index;
    const line = Buffer.from(
      `${JSON.stringify({ Index: index, Events: events.map((e) => ({ ...e, Index: index })) })}\n`,
    );
    for (const [nodeId, streams] of this.#streams) {
      for (const stream of streams) {
        this.countsOf(nodeId).streamBytes += line.length;
        stream.write(line);
      }
    }
  }

  heartbeat(): void {
    const line = Buffer.from("{}\n");
    for (const [nodeId, streams] of this.#streams) {
      for (const stream of streams) {
        this.countsOf(nodeId).streamBytes += line.length;
        stream.write(line);
      }
    }
  }

  api(nodeId: string): NomadApi {
    const counts = this.countsOf(nodeId);
    const count = (kind: string, answer: unknown) => {
      counts.requests += 1;
      counts.bytesRead += size(answer);
      counts.byKind.set(kind, (counts.byKind.get(kind) ?? 0) + 1);
      return answer;
    };
    return {
      nodeAllocations: async (node) => {
        const allocations = [...this.allocations.values()]
          .filter((alloc) => alloc.NodeID === node)
          .map((alloc) => ({ ...alloc, Job: this.jobs.get(`${alloc.Namespace}/${alloc.JobID}`) ?? null }));
        count("node allocations", allocations);
        return { allocations, index: this.#index };
      },
      allocation: async (allocId) => count("allocation", this.allocations.get(allocId)) as Allocation,
      job: async (namespace, jobId) =>
        count("job", this.jobs.get(`${namespace}/${jobId}`)) as Job | undefined,
      jobAllocations: async (namespace, jobId) =>
        count(
          "job allocations",
          [...this.allocations.values()].filter((a) => a.Namespace === namespace && a.JobID === jobId),
        ) as AllocationListStub[],
      stopJob: async (namespace, jobId) => {
        count("stop", {});
        const job = this.jobs.get(`${namespace}/${jobId}`);
        if (job)
          this.jobs.set(`${namespace}/${jobId}`, { ...job, Stop: true, JobModifyIndex: this.nextIndex() });
        return "eval";
      },
      scaleGroup: async (_request: ScaleRequest) => count("scale", "eval") as string,
      registerJob: async () => count("register", "eval") as string,
      readVariable: async () => count("token variable", { token: "action-token" }) as Record<string, string>,
      openEventStream: async (_topics, _index, signal): Promise<Readable> => {
        count("event stream subscription", {});
        const stream = new PassThrough();
        const streams = this.#streams.get(nodeId) ?? new Set();
        this.#streams.set(nodeId, streams);
        streams.add(stream);
        signal.addEventListener("abort", () => {
          streams.delete(stream);
          stream.end();
        });
        stream.write("{}\n");
        return stream;
      },
    };
  }

  variables(nodeId: string): VariableStore {
    const counts = this.countsOf(nodeId);
    const request = (kind: string, answer: unknown) => {
      counts.requests += 1;
      counts.bytesRead += size(answer);
      counts.byKind.set(kind, (counts.byKind.get(kind) ?? 0) + 1);
    };
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

import type { LiveAllocation } from "./model/allocation.js";
import type {
  ClaimResult,
  ListedWake,
  NodeReport,
  PeerEvidence,
  PendingWake,
  WakeRecord,
} from "./model/cluster.js";
import type { ActionOutcome, MonitorEvent } from "./model/events.js";
import type { Allocation, AllocationListStub, Job, Registered, Submitted } from "./model/nomad.js";
import type { ConnectionsSetting, Reading, SignalReading } from "./model/readings.js";

// The interfaces the core consumes, declared here by the core; the adapters (nomad/api.ts,
// docker/network-sampler.ts, actions.ts) implement them, and tests pass fakes. Interfaces only: the
// types they speak in live in model/.

/** What the monitor needs from Nomad. */
export interface NomadApi {
  /**
   * The node's allocations, each with its job, and the index they were answered at. With `blocking`, the
   * answer waits until an allocation of the node changed after `blocking.index`, or `blocking.waitMs` passed.
   */
  nodeAllocations(
    nodeId: string,
    signal?: AbortSignal,
    blocking?: BlockingQuery,
  ): Promise<{ allocations: Allocation[]; index: number }>;
  allocation(allocId: string): Promise<Allocation>;
  /** `undefined` when the job does not exist (any more). */
  job(namespace: string, jobId: string, signal?: AbortSignal): Promise<Job | undefined>;
  jobAllocations(namespace: string, jobId: string, signal?: AbortSignal): Promise<AllocationListStub[]>;
  /** Stops (never purges) a job. */
  stopJob(namespace: string, jobId: string): Promise<Submitted>;
  scaleGroup(request: ScaleRequest): Promise<Submitted>;
  /**
   * Registers a job as given (what `wake` and `start-at` bring back), only while the job's JobModifyIndex
   * is `jobModifyIndex` — 0: only while no such job exists (Nomad's `EnforceIndex`).
   */
  registerJob(job: Job, jobModifyIndex: number): Promise<Registered>;
  /** Reads a Variable's items with the given token (the task's workload identity); `undefined` on 404. */
  readVariable(
    namespace: string,
    path: string,
    token: string | undefined,
  ): Promise<Record<string, string> | undefined>;
}

/** Nomad's blocking query: answered when the result moved past `index`, or after `waitMs` (at most 5 min). */
export interface BlockingQuery {
  index: number;
  waitMs: number;
}

export interface ScaleRequest {
  namespace: string;
  jobId: string;
  group: string;
  count: number;
  message: string;
  meta: Record<string, string>;
}

/** The node's allocations as Nomad last described them, kept current by the allocation watch (allocations.ts). */
export interface AllocationView {
  /** Whether a full list of the node's allocations has been applied: before, the view knows nothing. */
  readonly seeded: boolean;
  live(): LiveAllocation[];
  /** A job read afresh; kept when newer than the view's copy. Returns whether the view changed. */
  updateJob(job: Job): boolean;
}

/** What the monitor needs from a source of network counters. */
export interface NetworkSampler {
  /** One reading per requested allocation. Throws only when the Docker Engine cannot be reached at all. */
  sample(allocIds: readonly string[], at: number): Promise<Map<string, Reading>>;
  /** false when no container's process could be found under PROC_ROOT in the last cycle that looked. */
  procRootVisible?(): boolean | undefined;
  /**
   * Readings taken outside the regular cycle, as soon as a new container of an allocation has been seen:
   * an allocation's baseline within a moment of its start. May deliver an allocation more than once.
   */
  onBaseline?(listener: (reading: Reading) => void): void;
  /** Stops whatever the sampler keeps running between cycles (an event watch, open descriptors). */
  close?(): Promise<void>;
}

export interface ActionTarget {
  namespace: string;
  jobId: string;
  /** The job's JobModifyIndex in the look the action was planned on: a call whose answer was lost is confirmed against it. */
  jobModifyIndex: number;
}

/** Stop and scale-to-zero, each logged with its reason by the implementation. */
export interface JobActions {
  stopJob(target: ActionTarget, reason: string, signal?: AbortSignal): Promise<ActionOutcome>;
  scaleToZero(
    target: ActionTarget,
    group: string,
    reason: string,
    signal?: AbortSignal,
  ): Promise<ActionOutcome>;
}

/** Tells people of events; returns at once and never throws (a slow receiver never holds the loop). */
export interface Notifier {
  /** `jobWebhook`: the job's own `idle-monitor.webhook`, if it sets one. */
  notify(event: MonitorEvent, jobWebhook: string | undefined): void;
}

/** The action token: the token to send, and a way to read it again when Nomad rejects it. */
export interface TokenSource {
  current(): string | undefined;
  load(): Promise<void>;
  readonly loaded: boolean;
}

/** A Variable's metadata, as a prefix list gives it (no items). */
export interface VariableEntry {
  path: string;
  modifyIndex: number;
}

export interface StoredVariable {
  items: Record<string, string>;
  modifyIndex: number;
}

export type VariableWrite =
  | { kind: "written"; modifyIndex: number }
  | { kind: "conflict"; current: StoredVariable };

/** Nomad Variables in the monitor's namespace, with check-and-set, read and written with the monitor's identity. */
export interface VariableStore {
  /** Metadata of every Variable under the prefix, and the raft index the answer was served at. */
  list(prefix: string): Promise<{ entries: VariableEntry[]; index: number }>;
  read(path: string): Promise<StoredVariable | undefined>;
  /** `cas` 0 creates only when absent; otherwise writes only over that ModifyIndex. */
  write(path: string, items: Record<string, string>, cas: number): Promise<VariableWrite>;
  delete(path: string, cas: number): Promise<"deleted" | "conflict">;
}

export interface Lease {
  /** Up to when the holders of this lease carried out what came due; undefined for a new lease. */
  evaluatedAt: number | undefined;
  /** Records that what came due up to `at` was dealt with (kept with the lease at its next renewal). */
  evaluated(at: number): void;
}

/** What the monitors of a cluster share (cluster/exchange.ts implements it over Nomad Variables). */
export interface ClusterPort {
  /** Whether reports go out and come in; without it, jobs spanning nodes are left alone. */
  readonly sharing: boolean;
  /** This node's last report, read back after a restart. */
  restore(): Promise<NodeReport | undefined>;
  /**
   * Publishes this node's report when its cooldowns changed or its heartbeat is due, and every interval
   * while `deciding` a job that spans nodes.
   */
  publish(report: Omit<NodeReport, "heartbeatMs">, deciding: boolean): Promise<void>;
  /** What the given nodes report now; undefined when the reports cannot be read. */
  peerEvidence(nodeIds: readonly string[]): Promise<PeerEvidence[] | undefined>;
  /** Removes what gone nodes left (their reports, expired claims); for the housekeeping lease's holder. */
  sweep(): Promise<void>;
  /**
   * Right before acting: keeps what is needed to bring a job back (`wake`), pending — nothing acts on it
   * until `settleWake` writes it with the JobModifyIndex Nomad answered. A scale keeps the groups of the
   * record before it while the job is still as that record left it (at `decidedOn`, the JobModifyIndex
   * of the job the action was decided on). Undefined when it cannot be written (said, not thrown).
   */
  recordWake(record: WakeRecord, decidedOn: number): Promise<PendingWake | undefined>;
  /**
   * Every job's record of what the monitors stopped or scaled (for `start-at`), a stopped job's as its
   * outline; a record naming another job than its path is refused. Throws when they cannot be read.
   */
  wakeRecords(): Promise<ListedWake[]>;
  /** One job's whole record, read now; undefined when there is none or it names another job. */
  wakeRecord(namespace: string, jobId: string): Promise<WakeRecord | undefined>;
  /** Replaces a job's record with what is left to bring back, or removes it (undefined); throws on failure. */
  settleWake(namespace: string, jobId: string, remaining: WakeRecord | undefined): Promise<void>;
  /**
   * Takes or renews a lease that one monitor of the cluster holds at a time, or undefined when another
   * holds it (or it cannot be written). `evaluatedAt` is what its last holder said it had dealt with.
   */
  lease(name: string, durationMs: number): Promise<Lease | undefined>;
  /** Claims the action on a job, so that one node only acts. */
  claim(namespace: string, jobId: string, action: string, durationMs: number): Promise<ClaimResult>;
}

/** What to read beyond bytes of one allocation that is quiet by bytes (issue 12). */
export interface SignalRequest {
  allocId: string;
  cpu: boolean;
  /** `off`: its sessions are not read. */
  connections: ConnectionsSetting;
}

/** What the monitor needs from a source of activity beyond bytes: CPU time and inbound sessions. */
export interface ActivitySignals {
  /**
   * One reading per request; never throws (what cannot be read is `unknown`, with the reason). Called once
   * per cycle, with no request too: what an implementation keeps for allocations no longer asked about
   * (open descriptors) it may let go after a few calls.
   */
  read(requests: readonly SignalRequest[]): Promise<Map<string, SignalReading>>;
}

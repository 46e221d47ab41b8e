import type { NodeReport } from "../model/cluster.js";
import type { AllocationListStub, Job } from "../model/nomad.js";

/**
 * What `nomad-idle-monitor status` and the monitor's `/v1/status` show: for every watched group, its
 * state across nodes and how long until it is acted on, or why it waits. Pure: reports, jobs,
 * allocations, claims and a `now` in, rows out. Rendering lives in src/cli/; the rows are computed in compute.ts.
 */

/** One node's report as published, with when it was written (its Variable's ModifyTime, ms). */
export interface PublishedReport {
  report: NodeReport;
  /** Undefined when not known: its allocations then count as unknown. */
  writtenAt: number | undefined;
}

/** A claim Variable: which node took (or is taking) which action on the job, and when it wrote the claim. */
export interface ClaimSeen {
  namespace: string;
  jobId: string;
  node: string;
  action: string;
  /** The claim's ModifyTime (ms). */
  at: number;
}

/** What Nomad said about one job named in the reports. */
export type JobSeen =
  | { kind: "found"; job: Job; allocations: readonly AllocationListStub[] }
  | { kind: "not-found" }
  /** The token cannot read it: shown from the reports alone. */
  | { kind: "unreadable"; reason: string };

export interface StatusInput {
  reports: readonly PublishedReport[];
  /** By `jobKey(namespace, job)`; a job absent here is shown from the reports alone. */
  jobs?: ReadonlyMap<string, JobSeen>;
  claims?: readonly ClaimSeen[];
  /** The clock `writtenAt` and claim times are read against (the Nomad agent's, for the CLI). */
  now: number;
}

export type ReadingState = "quiet" | "active" | "unknown" | "stale" | "unreported";

/** One allocation of a watched group, as its node last reported it. */
export interface AllocationStatus {
  allocId: string;
  nodeId: string;
  /** The node's name where the job's allocations say it, else the node ID's first 8 characters. */
  node: string;
  /** Nomad's ClientStatus, when the job's allocations were read. */
  clientStatus: string | undefined;
  state: ReadingState;
  /** Quiet: for how long now (the reported quiet time plus the report's age). */
  idleForMs: number | undefined;
  /** Bytes seen since it was last active, as last reported. */
  bytesSinceActive: number | undefined;
  /** How long ago its node's report was written, or undefined when not known. */
  reportAgeMs: number | undefined;
}

/** Why a group is not counting down. Data; src/cli/render.ts says it in words. */
export type StatusWait =
  | { kind: "active"; nodes: string[] }
  | { kind: "unknown"; nodes: string[] }
  | { kind: "node-awaited"; node: string; why: "no report" | "stale report" }
  | { kind: "partly-opted-in"; groups: string[] }
  | { kind: "invalid-meta"; groups: string[] }
  | { kind: "other-group"; group: string; why: "not idle" | "scale-to-zero" }
  | { kind: "not-opted-in" }
  | { kind: "job-stopped" }
  | { kind: "job-not-found" }
  | { kind: "job-unreadable"; reason: string };

export type GroupState = "quiet" | "active" | "unknown" | "waiting";

export interface GroupStatus {
  namespace: string;
  job: string;
  group: string;
  action: string | undefined;
  timeoutMs: number | undefined;
  /** Names of the nodes running live allocations of the group (or reporting them). */
  nodes: string[];
  state: GroupState;
  /** The least idle allocation's idle time, when every allocation is quiet. */
  idleForMs: number | undefined;
  /** When nothing holds it back: how long until it is acted on (0: due now). */
  timeToActionMs: number | undefined;
  waits: StatusWait[];
  lastAction: { node: string; action: string; agoMs: number } | undefined;
  allocations: AllocationStatus[];
}

/** One allocation as one node's report tells it, and how old that report is. */
export interface ReportedAllocation {
  allocId: string;
  nodeId: string;
  record: NodeReport["allocs"][string];
  age: number | undefined;
  stale: boolean;
  heartbeatMs: number;
}

import type { Job, JobOutline } from "./nomad.js";

/** What another node's monitor reports about one allocation there (see cluster/exchange.ts). */
export interface PeerEvidence {
  nodeId: string;
  allocId: string;
  /**
   * `stale`: nothing in it counts — its writer has not written within its heartbeat (it is gone), or it
   * says quiet but was not written recently enough to count at decision time; `reported` says what it said.
   */
  state: "quiet" | "active" | "unknown" | "stale";
  /** How long the allocation has been quiet at least; undefined unless quiet. */
  idleForMs: number | undefined;
  /** At most how long ago the report was written (this node's clock); undefined when nothing bounds it. */
  ageMs: number | undefined;
  reported?: { state: AllocRecord["state"]; idleForMs: number | undefined };
}

/** What a node's monitor says about one opted-in allocation on its node. */
export interface AllocRecord {
  /** Which job and group it belongs to, and that group's policy: what `status` shows. */
  namespace?: string;
  job?: string;
  group?: string;
  timeoutMs?: number;
  action?: string;
  state: "quiet" | "active" | "unknown";
  /** Quiet: how long it had been quiet when the report was written. */
  quietForMs?: number;
  /** The writer's own clock, read back only by the writer after a restart. */
  quietSince?: number;
  bytesSinceActive?: number;
  counters?: Record<string, number>;
  countersAt?: number;
}

/** One node's report, published in Nomad Variables and read by every other node's monitor. */
export interface NodeReport {
  v: 1;
  nodeId: string;
  /** The writer promises a new write at least this often: silence longer than that means it is gone. */
  heartbeatMs: number;
  /** The writer's clock; only the writer reads it back. */
  writtenAt: number;
  allocs: Record<string, AllocRecord>;
  /** Jobs acted on from this node, and until when (the writer's clock) they are left alone. */
  cooldowns: Record<string, number>;
}

/**
 * What the monitor did to a job, kept so that `nomad-idle-monitor wake` and `start-at` can undo it — only
 * while the job is still exactly as the monitor left it (its JobModifyIndex is `jobModifyIndex`).
 */
export interface WakeRecord {
  v: 1;
  namespace: string;
  jobId: string;
  /** The node whose monitor acted, and when (its clock). */
  node: string;
  at: number;
  /** The job the monitor decided to stop, as Nomad returned it right before: registered again as it was. */
  stopped?: Job;
  /** Groups the monitor scaled to zero, with the counts they had. */
  scaled?: Record<string, number>;
  /**
   * The job's JobModifyIndex right after the monitor's own last action on it, from Nomad's answer. Absent
   * while the action is pending (the record is written before it) and when it was never confirmed: nothing
   * brings back a record without it.
   */
  jobModifyIndex?: number;
}

/** A wake record as start-at keeps it between cycles: a stopped job's outline, never its specification. */
export type WakeRecordOutline = Omit<WakeRecord, "stopped"> & { stopped?: JobOutline };

/** One job's wake record as listed: usable, or refused (it names another job than its path). */
export type ListedWake = { path: string; record: WakeRecordOutline } | { path: string; refused: string };

/** Written before an action: the pending record, and the record it replaced (restored when nothing was done). */
export interface PendingWake {
  record: WakeRecord;
  previous: WakeRecord | undefined;
}

/** A claim on an action: this node's now, another node's, or not writable (the Variables cannot be reached). */
export type ClaimResult = "claimed" | "held" | "unavailable";

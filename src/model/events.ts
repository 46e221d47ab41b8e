export type ActionOutcome =
  /**
   * Nomad took it: the evaluation, and the job's JobModifyIndex right after it (what `wake` checks against).
   * `evalId` undefined: Nomad's answer was lost, and the job read back (at `jobModifyIndex`) shows it done.
   */
  | { kind: "done"; evalId: string | undefined; jobModifyIndex: number }
  | { kind: "dry-run" }
  /** Nomad said no for a reason that may pass (an active deployment): try again next cycle. */
  | { kind: "refused"; message: string }
  | { kind: "failed"; message: string };

export type MonitorEventType = "warned" | "stopped" | "scaled" | "started" | "failed";

/** Something the monitor did or is about to do, for the people who own the job (webhooks). */
export interface MonitorEvent {
  type: MonitorEventType;
  namespace: string;
  job: string;
  group?: string;
  reason: string;
  node: string;
  at: number;
}

export type ActionOutcome =
  /** `evalId` undefined: Nomad's answer was lost, and the job read back shows the call carried out. */
  | { kind: "done"; evalId: string | undefined }
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

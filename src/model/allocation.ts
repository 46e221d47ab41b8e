import type { Allocation, Job } from "./nomad.js";

/** An allocation of this node that is (about to be) running, with the job version the view knows for it. */
export interface LiveAllocation {
  readonly id: string;
  readonly namespace: string;
  readonly jobId: string;
  readonly group: string;
  /** Its client status is `running` (not `pending`: its containers may still be starting). */
  readonly running: boolean;
  /** When its tasks last started (ms since epoch); the idle timer never starts before this. */
  readonly startedAt: number;
  readonly job: Job | undefined;
}

export function jobKey(namespace: string, jobId: string): string {
  return `${namespace}/${jobId}`;
}

/** nomad-api-notes.md "Allocations": live while pending or running and desired to run. */
export function isLive(allocation: Pick<Allocation, "ClientStatus" | "DesiredStatus">): boolean {
  return (
    (allocation.ClientStatus === "pending" || allocation.ClientStatus === "running") &&
    allocation.DesiredStatus === "run"
  );
}

/** Nomad's UI and CLI show the first 8 characters of an ID (allocation, node, evaluation). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

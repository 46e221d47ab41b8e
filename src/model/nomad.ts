import type { Allocation, AllocationListStub, Job, Task, TaskGroup } from "../nomad/generated/types.gen.js";

// Nomad's own payloads, as the generated client types them: what every layer passes around.
export type { Allocation, AllocationListStub, Job };

/**
 * What says whether and how a job's groups are watched: who the job is, its type, its and its groups'
 * meta, and its tasks' drivers — not its specification. What start-at keeps of a stopped job's record.
 */
export type JobOutline = Pick<Job, "ID" | "Namespace" | "Type" | "Meta"> & {
  TaskGroups: Array<
    Pick<TaskGroup, "Name" | "Meta"> & { Tasks: Array<Pick<Task, "Name" | "Driver" | "Meta">> }
  >;
};

/** Nomad's answer to a stop, a scale or a registration: its evaluation, and the job's JobModifyIndex after it. */
export interface Submitted {
  evalId: string;
  jobModifyIndex: number;
}

/** A registration with `EnforceIndex`: done, or refused because the job is not at the index given. */
export type Registered = ({ kind: "registered" } & Submitted) | { kind: "changed"; message: string };

export type NomadErrorKind = "auth" | "not-found" | "rejected" | "unavailable";

/**
 * A failed Nomad call, classified for the caller's next move: `auth` → reload the token, `unavailable` →
 * retry with backoff, `rejected`/`not-found` → permanent. Adapters build it from the response only:
 * an HTTP client's error carries the request headers (the token), so it never travels into the core.
 */
export class NomadError extends Error {
  constructor(
    readonly kind: NomadErrorKind,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = "NomadError";
  }
}

import type { Allocation, AllocationListStub, Job } from "../nomad/generated/types.gen.js";

// Nomad's own payloads, as the generated client types them: what every layer passes around.
export type { Allocation, AllocationListStub, Job };

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

import { AxiosError } from "axios";
import { NomadError, type NomadErrorKind } from "../model/nomad.js";

// How Nomad's error answers are taken, by the daemon and the CLI alike (table-tested over the payloads
// recorded from Nomad 1.6.5 and 2.0.5 in test/fixtures/).

// nomad-api-notes.md: permission failures come as 403, and as 500 on the event stream (Nomad 1.6).
const AUTH_BODY = /permission denied|acl token|token not found/i;
// A Variable too large, or a bad path, will never pass: Nomad 1.6.5 answers 500 with the bare message,
// Nomad 2.0.5 400 with `RPC Error:: 400,<message>`.
const PERMANENT_BODY = /limited to 64KiB|invalid path/i;

/**
 * `auth` → reload the token; `not-found`; `unavailable` → retry with backoff (a server error, a server
 * outage's `rpc error: failed to get conn…` or `Server error authenticating request`, 429); `rejected` →
 * permanent (any other 4xx, and the permanent bodies above whatever their status).
 */
export function errorKind(status: number, body: string): NomadErrorKind {
  if (status === 401 || status === 403 || AUTH_BODY.test(body)) return "auth";
  if (status === 404) return "not-found";
  if (PERMANENT_BODY.test(body)) return "rejected";
  if (status >= 500 || status === 429) return "unavailable";
  return "rejected";
}

/**
 * A failed call as a NomadError, built from the response only: an HTTP client's error carries the
 * request's headers (the token), so it never travels further. `what` says what was asked.
 */
export function nomadError(error: unknown, what: string): NomadError {
  if (error instanceof NomadError) return error;
  if (!(error instanceof AxiosError)) {
    return new NomadError(
      "unavailable",
      undefined,
      `${what}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const status = error.response?.status;
  if (status === undefined) {
    return new NomadError(
      "unavailable",
      undefined,
      `${what}: ${error.code ?? "network error"} (${error.message})`,
    );
  }
  const body = bodyText(error.response?.data);
  return new NomadError(errorKind(status, body), status, `${what}: HTTP ${status}${body ? ` ${body}` : ""}`);
}

/** Nomad's errors are plain text; a JSON body (a lost CAS race) is shown as JSON. */
function bodyText(data: unknown): string {
  if (data === undefined || data === null) return "";
  const text = typeof data === "string" ? data : JSON.stringify(data);
  return text.trim().slice(0, 300);
}

/** Error bodies of stream requests arrive as streams; read a little so the error says what Nomad said. */
export async function withReadableBody(error: unknown): Promise<unknown> {
  const response = error instanceof AxiosError ? error.response : undefined;
  const data: unknown = response?.data;
  if (!response || !data || typeof data !== "object" || !(Symbol.asyncIterator in data)) return error;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      chunks.push(Buffer.from(chunk));
      size += chunk.length;
      if (size > 4096) break;
    }
  } catch {
    // A body cut short still says enough.
  }
  response.data = Buffer.concat(chunks).toString("utf8");
  return error;
}

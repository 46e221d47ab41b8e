import { readFileSync } from "node:fs";
import { AxiosError, type AxiosResponse } from "axios";
import { describe, expect, it } from "vitest";
import type { NomadErrorKind } from "../src/model/nomad.js";
import { errorKind, nomadError } from "../src/nomad/errors.js";

// One classifier for the daemon and the CLI (src/nomad/errors.ts), over the error answers recorded from
// real Nomad 1.6.5 and 2.0.5 (test/fixtures/*/README.md): what a failure means for the caller's next move.

/** Status and body of a recorded `curl -i` answer, the body cut to its Content-Length. */
function recorded(file: string): { status: number; body: string } {
  const text = readFileSync(new URL(`./fixtures/${file}`, import.meta.url), "utf8").replaceAll("\r\n", "\n");
  const split = text.indexOf("\n\n");
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(text)?.[1]);
  const length = Number(/^content-length: *(\d+)$/im.exec(text.slice(0, split))?.[1]);
  const body = Buffer.from(text.slice(split + 2), "utf8")
    .subarray(0, length)
    .toString("utf8");
  return { status, body };
}

const recordings: Array<{ file: string; kind: NomadErrorKind; why: string }> = [
  { file: "nomad-1.6.5/err-403-no-capability.http", kind: "auth", why: "a token without the capability" },
  { file: "nomad-1.6.5/err-403-unknown-token.http", kind: "auth", why: "an unknown token" },
  { file: "nomad-1.6.5/err-anonymous.http", kind: "auth", why: "no token" },
  {
    file: "nomad-1.6.5/err-var-read-by-action-token.http",
    kind: "auth",
    why: "a Variable the token may not read",
  },
  {
    file: "nomad-1.6.5/err-stream-no-capability.http",
    kind: "auth",
    why: "the stream's 500 Permission denied",
  },
  { file: "nomad-1.6.5/job-404.http", kind: "not-found", why: "no such job" },
  { file: "nomad-1.6.5/var-404.http", kind: "not-found", why: "no such Variable" },
  {
    file: "nomad-1.6.5/var-put-too-large.http",
    kind: "rejected",
    why: "a 500 that never passes: over 64 KiB",
  },
  {
    file: "nomad-1.6.5/var-put-invalid-path.http",
    kind: "rejected",
    why: "a 500 that never passes: a bad path",
  },
  { file: "nomad-1.6.5/job-scale-bad-group.http", kind: "rejected", why: "a group the job does not have" },
  {
    file: "nomad-1.6.5/var-put-cas-conflict.http",
    kind: "rejected",
    why: "a lost check-and-set (read as a conflict first)",
  },
  {
    file: "nomad-1.6.5/server-outage-node-allocations.http",
    kind: "unavailable",
    why: "the servers are down (rpc error: failed to get conn)",
  },
  {
    file: "nomad-1.6.5/server-outage-stream-subscribe.http",
    kind: "unavailable",
    why: "the servers are down, on subscribe",
  },
  { file: "nomad-2.0.5/err-403-no-capability.http", kind: "auth", why: "a token without the capability" },
  { file: "nomad-2.0.5/err-403-unknown-token.http", kind: "auth", why: "an unknown token" },
  { file: "nomad-2.0.5/err-anonymous.http", kind: "auth", why: "no token" },
  {
    file: "nomad-2.0.5/err-var-read-by-action-token.http",
    kind: "auth",
    why: "a Variable the token may not read",
  },
  { file: "nomad-2.0.5/job-404.http", kind: "not-found", why: "no such job" },
  { file: "nomad-2.0.5/var-404.http", kind: "not-found", why: "no such Variable" },
  { file: "nomad-2.0.5/var-put-too-large.http", kind: "rejected", why: "400 RPC Error: over 64 KiB" },
  { file: "nomad-2.0.5/var-put-invalid-path.http", kind: "rejected", why: "400 RPC Error: a bad path" },
  { file: "nomad-2.0.5/job-scale-bad-group.http", kind: "rejected", why: "a group the job does not have" },
  {
    file: "nomad-2.0.5/var-put-cas-conflict.http",
    kind: "rejected",
    why: "a lost check-and-set (read as a conflict first)",
  },
];

describe("errorKind: what Nomad's error answers mean, daemon and CLI alike", () => {
  it.each(recordings)("$file ($why): $kind", ({ file, kind }) => {
    const { status, body } = recorded(file);
    expect(errorKind(status, body)).toBe(kind);
  });

  it.each([
    // Seen in the monitor's log during the same outage (fixtures README): a server problem, never a bad token.
    { status: 500, body: "Server error authenticating request", kind: "unavailable" },
    { status: 500, body: "No cluster leader", kind: "unavailable" },
    { status: 502, body: "", kind: "unavailable" },
    { status: 429, body: "rate limited", kind: "unavailable" },
    { status: 401, body: "", kind: "auth" },
    { status: 400, body: "bad request", kind: "rejected" },
  ])("HTTP $status $body: $kind", ({ status, body, kind }) => {
    expect(errorKind(status, body)).toBe(kind);
  });
});

describe("nomadError: a failed request as the core sees it", () => {
  const failed = (status: number, data: unknown) =>
    new AxiosError("Request failed", "ERR_BAD_RESPONSE", undefined, undefined, {
      status,
      data,
      headers: {},
    } as AxiosResponse);

  it("says what was asked and what Nomad answered, classified", () => {
    const error = nomadError(
      failed(500, "rpc error: failed to get conn: dial tcp 127.0.0.1:4647"),
      "read job dev",
    );
    expect([error.kind, error.status, error.message]).toEqual([
      "unavailable",
      500,
      "read job dev: HTTP 500 rpc error: failed to get conn: dial tcp 127.0.0.1:4647",
    ]);
  });

  it("takes a network failure as Nomad unavailable", () => {
    const error = nomadError(
      new AxiosError("connect ECONNREFUSED 127.0.0.1:4646", "ECONNREFUSED"),
      "list allocations",
    );
    expect([error.kind, error.status, error.message]).toEqual([
      "unavailable",
      undefined,
      "list allocations: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:4646)",
    ]);
  });
});

import { createHmac, timingSafeEqual } from "node:crypto";

// How a request proves it came from a monitor holding the `webhook_secret`: the sender signs, receivers verify
// (docs/webhooks.md).

export const HEADER_TIMESTAMP = "X-Idle-Monitor-Timestamp";
export const HEADER_SIGNATURE = "X-Idle-Monitor-Signature";
export const HEADER_EVENT_ID = "X-Idle-Monitor-Event-Id";
export const HEADER_EVENT_TYPE = "X-Idle-Monitor-Event";
/** How far a timestamp may be from the receiver's clock by default: 5 minutes. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

/** The hex HMAC-SHA256 of `<timestamp>.<body>`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

export type VerifyResult = { ok: true; eventId: string | undefined } | { ok: false; reason: string };

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const wanted = name.toLowerCase();
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === wanted);
  const value = key === undefined ? undefined : headers[key];
  return typeof value === "string" ? value : value?.[0];
}

/**
 * For receivers: whether a request came from a monitor holding `secret` and is recent. `body` is the raw
 * request body, exactly as received; `now` is milliseconds since the epoch. A request is refused when its
 * timestamp is more than `toleranceMs` away from `now` (a replay); within that window, receivers drop a
 * repeated `X-Idle-Monitor-Event-Id` (a retry of an event that did arrive, or a replay).
 */
export function verifyWebhook(
  secret: string,
  headers: Headers,
  body: string,
  now: number,
  toleranceMs: number = DEFAULT_TOLERANCE_MS,
): VerifyResult {
  const timestamp = header(headers, HEADER_TIMESTAMP);
  const signature = header(headers, HEADER_SIGNATURE);
  if (timestamp === undefined || !/^\d{1,15}$/.test(timestamp)) {
    return { ok: false, reason: `no valid ${HEADER_TIMESTAMP} header` };
  }
  if (Math.abs(now - Number(timestamp) * 1000) > toleranceMs) {
    return { ok: false, reason: `${HEADER_TIMESTAMP} is outside the tolerance of ${toleranceMs} ms` };
  }
  const given = signature
    ?.split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("v1="))
    .map((part) => Buffer.from(part.slice(3), "utf8"));
  const expected = Buffer.from(webhookSignature(secret, timestamp, body), "utf8");
  const matches = given?.some(
    (candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected),
  );
  if (!matches) return { ok: false, reason: `${HEADER_SIGNATURE} does not match` };
  return { ok: true, eventId: header(headers, HEADER_EVENT_ID) };
}

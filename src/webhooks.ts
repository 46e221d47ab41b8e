import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { type Clock, systemClock } from "./clock.js";
import type { WebhookFormat } from "./config.js";
import { type BackoffPolicy, backoffDelay } from "./retry.js";

/**
 * Webhooks (issue 11): events about what the monitor did, POSTed to WEBHOOK_URL and to a job's own
 * `idle-monitor.webhook` when its host is on WEBHOOK_ALLOWED_HOSTS. Every request is signed with the
 * `webhook_secret` item of the monitor's Nomad Variable; without a secret nothing is sent. Deliveries
 * run in the background from a bounded queue, are retried with backoff within bounds of count and time,
 * and never block the caller.
 */

export type WebhookEventType = "warned" | "stopped" | "scaled" | "started" | "failed";

export interface WebhookEvent {
  readonly type: WebhookEventType;
  readonly job: string;
  readonly namespace: string;
  readonly group?: string | undefined;
  readonly reason: string;
  /** The node of the monitor that acted. */
  readonly node: string;
  /** RFC 3339; the clock's time when omitted. */
  readonly time?: string | undefined;
}

export const HEADER_TIMESTAMP = "X-Idle-Monitor-Timestamp";
export const HEADER_SIGNATURE = "X-Idle-Monitor-Signature";
export const HEADER_EVENT_ID = "X-Idle-Monitor-Event-Id";
export const HEADER_EVENT_TYPE = "X-Idle-Monitor-Event";
/** How far a timestamp may be from the receiver's clock by default: 5 minutes. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

export interface WebhookBounds {
  /** Attempts per delivery, the first included. */
  readonly attempts: number;
  /** Each request is cut after this long, whatever the receiver does. */
  readonly requestTimeoutMs: number;
  /** No attempt starts, and none runs on, later than this after the first one began. */
  readonly deadlineMs: number;
  readonly backoff: BackoffPolicy;
  /** Events waiting; the oldest is dropped when one more arrives. */
  readonly queueLimit: number;
  /** Requests in flight at once; never two to the same receiver. */
  readonly concurrency: number;
}

export const DEFAULT_WEBHOOK_BOUNDS: WebhookBounds = {
  attempts: 5,
  requestTimeoutMs: 10_000,
  deadlineMs: 2 * 60_000,
  backoff: { initialMs: 1_000, maxMs: 30_000 },
  queueLimit: 100,
  concurrency: 2,
};

export interface WebhooksOptions {
  /** WEBHOOK_URL: every event goes there. */
  readonly url?: string | undefined;
  /** WEBHOOK_ALLOWED_HOSTS, as `allowedHostEntry` normalises them. */
  readonly allowedHosts?: readonly string[];
  readonly format?: WebhookFormat;
  /** The Variable's `webhook_secret` item, read at each attempt (so a rotated secret is used at once). */
  readonly secret: () => string | undefined;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly bounds?: Partial<WebhookBounds>;
  readonly random?: () => number;
}

/** What happened to the events so far, for metrics and tests. */
export interface WebhookStats {
  delivered: number;
  failed: number;
  dropped: number;
  unsigned: number;
}

/** What `notify` did with a job's own URL: `refused` says why it was not used (log it once per job). */
export interface NotifyResult {
  readonly queued: number;
  readonly refused?: string;
}

interface Delivery {
  readonly id: string;
  readonly url: URL;
  /** scheme://host:port only: a URL's path can be a secret (Slack's are), so only this is logged. */
  readonly origin: string;
  readonly type: WebhookEventType;
  readonly job: string;
  readonly body: string;
}

type Attempt = { ok: true } | { ok: false; retry: boolean; why: string };

/**
 * A WEBHOOK_ALLOWED_HOSTS entry in the form URLs are compared in (`host` or `host:port`, lower case,
 * IPv6 in brackets), or undefined when it is not one.
 */
export function allowedHostEntry(raw: string): string | undefined {
  const match = /^((?:[a-z0-9_-]+\.)*[a-z0-9_-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i.exec(raw.trim());
  if (!match?.[1]) return undefined;
  const port = match[2];
  if (port !== undefined && Number(port) > 65_535) return undefined;
  const host = match[1].toLowerCase();
  if (host.startsWith("[") && !URL.canParse(`http://${host}/`)) return undefined;
  const normalised = host.startsWith("[") ? new URL(`http://${host}/`).hostname : host;
  return port === undefined ? normalised : `${normalised}:${Number(port)}`;
}

/** An http(s) URL to send events to, or undefined. */
export function webhookUrl(raw: string): URL | undefined {
  if (/\s/.test(raw) || !URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return undefined;
  return url;
}

const effectivePort = (url: URL) => url.port || (url.protocol === "https:" ? "443" : "80");

/**
 * A job's `idle-monitor.webhook`, checked against the allow-list: the URL to use, or why not. Without
 * the allow-list, anyone who can submit a job could make the monitor call any address.
 */
export function jobWebhookTarget(
  raw: string,
  allowedHosts: readonly string[],
): { ok: true; url: URL } | { ok: false; reason: string } {
  const url = webhookUrl(raw.trim());
  if (!url) {
    return { ok: false, reason: "idle-monitor.webhook is not an http:// or https:// URL; it is not used" };
  }
  const host = url.hostname.toLowerCase();
  const allowed = allowedHosts.some((entry) => entry === host || entry === `${host}:${effectivePort(url)}`);
  if (allowed) return { ok: true, url };
  const list =
    allowedHosts.length === 0
      ? "WEBHOOK_ALLOWED_HOSTS is not set"
      : `WEBHOOK_ALLOWED_HOSTS is ${allowedHosts.join(",")}`;
  return {
    ok: false,
    reason: `idle-monitor.webhook names host ${url.host}, which is not allowed (${list}); it is not used. To allow it, add ${url.host} to WEBHOOK_ALLOWED_HOSTS`,
  };
}

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

const SLACK_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
const slackEscape = (text: string) => text.replace(/[&<>]/g, (char) => SLACK_ESCAPES[char] ?? char);

/** The body sent: the event as JSON with its ID, or a Slack-compatible `{ "text": … }`. */
export function webhookBody(
  format: WebhookFormat,
  id: string,
  event: WebhookEvent & { time: string },
): string {
  if (format === "json") {
    const { type, job, namespace, group, reason, node, time } = event;
    return JSON.stringify({
      id,
      type,
      job,
      namespace,
      ...(group === undefined ? {} : { group }),
      reason,
      node,
      time,
    });
  }
  const where = event.group === undefined ? "" : ` group ${event.group}`;
  const text = `nomad-idle-monitor ${event.type}: job ${event.job}${where} in namespace ${event.namespace} on node ${event.node}: ${event.reason} (${event.time})`;
  return JSON.stringify({ text: slackEscape(text) });
}

/** Why an attempt failed, from the status or error code only: the client's errors carry the request. */
function failure(error: unknown, timedOut: boolean, timeoutMs: number): Attempt {
  if (timedOut) return { ok: false, retry: true, why: `no answer within ${timeoutMs} ms` };
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  return { ok: false, retry: true, why: code === undefined ? "a network error" : `network error ${code}` };
}

export class Webhooks {
  readonly stats: WebhookStats = { delivered: 0, failed: 0, dropped: 0, unsigned: 0 };

  private readonly url: URL | undefined;
  private readonly allowedHosts: readonly string[];
  private readonly format: WebhookFormat;
  private readonly clock: Clock;
  private readonly bounds: WebhookBounds;
  private readonly queue: Delivery[] = [];
  /** Origins with a request or a backoff under way: one at a time per receiver. */
  private readonly busy = new Set<string>();
  private readonly workers = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private overflowing = false;
  private warnedUnsigned = false;

  constructor(private readonly options: WebhooksOptions) {
    this.url = options.url === undefined ? undefined : webhookUrl(options.url);
    this.allowedHosts = options.allowedHosts ?? [];
    this.format = options.format ?? "json";
    this.clock = options.clock ?? systemClock;
    this.bounds = { ...DEFAULT_WEBHOOK_BOUNDS, ...options.bounds };
    // Node sets up its HTTP client on the first fetch, which takes a few hundred milliseconds of the
    // event loop: that happens here, at startup, not in the middle of the first stop.
    if (this.url !== undefined || this.allowedHosts.length > 0) {
      fetch("data:,")
        .then((response) => response.body?.cancel())
        .catch(() => undefined);
    }
  }

  /**
   * Queues the event for WEBHOOK_URL and for the job's own URL (its `idle-monitor.webhook`, if any) and
   * returns at once. Does nothing after `close()`.
   */
  notify(event: WebhookEvent, jobWebhook?: string): NotifyResult {
    const targets: URL[] = this.url ? [this.url] : [];
    let refused: string | undefined;
    if (jobWebhook !== undefined && jobWebhook.trim() !== "") {
      const target = jobWebhookTarget(jobWebhook, this.allowedHosts);
      if (target.ok) targets.push(target.url);
      else refused = target.reason;
    }
    if (this.closing.signal.aborted) return { queued: 0, ...(refused ? { refused } : {}) };
    const id = randomUUID();
    const full = { ...event, time: event.time ?? new Date(this.clock.now()).toISOString() };
    const body = webhookBody(this.format, id, full);
    const unique = [...new Map(targets.map((url) => [url.href, url])).values()];
    for (const url of unique) {
      this.enqueue({ id, url, origin: url.origin, type: event.type, job: event.job, body });
    }
    this.pump();
    return { queued: unique.length, ...(refused ? { refused } : {}) };
  }

  /**
   * Whether events can be signed now. At start, so that a missing secret is said then (once), not at
   * the first event hours later.
   */
  checkSecret(): boolean {
    return this.secret() !== undefined;
  }

  /** Stops: queued events are dropped, requests and backoffs under way are cut, nothing is retried. */
  async close(): Promise<void> {
    if (!this.closing.signal.aborted) {
      this.closing.abort();
      if (this.queue.length > 0) {
        this.options.log.info(
          `webhooks: ${this.queue.length} queued event(s) not sent: the monitor is stopping`,
        );
      }
      this.queue.length = 0;
    }
    await Promise.all(this.workers);
  }

  private enqueue(delivery: Delivery): void {
    if (this.queue.length >= this.bounds.queueLimit) {
      const dropped = this.queue.shift();
      this.stats.dropped += 1;
      if (!this.overflowing && dropped) {
        this.overflowing = true;
        this.options.log.warn(
          `webhooks: more than ${this.bounds.queueLimit} events waiting; dropping the oldest (${dropped.type} of job ${dropped.job}), ${this.stats.dropped} dropped so far`,
        );
      }
    }
    this.queue.push(delivery);
  }

  private pump(): void {
    while (this.workers.size < this.bounds.concurrency) {
      const index = this.queue.findIndex((delivery) => !this.busy.has(delivery.origin));
      if (index < 0) return;
      const [delivery] = this.queue.splice(index, 1);
      if (!delivery) return;
      this.busy.add(delivery.origin);
      const worker: Promise<void> = this.deliver(delivery).finally(() => {
        this.busy.delete(delivery.origin);
        this.workers.delete(worker);
        if (this.queue.length === 0) this.overflowing = false;
        if (!this.closing.signal.aborted) this.pump();
      });
      this.workers.add(worker);
    }
  }

  private async deliver(delivery: Delivery): Promise<void> {
    const { attempts, deadlineMs, backoff, requestTimeoutMs } = this.bounds;
    // The caller of notify() goes on before any of the work of a request is done.
    await Promise.resolve();
    const deadline = this.clock.now() + deadlineMs;
    let last: Attempt = { ok: false, retry: false, why: "not attempted" };
    let made = 0;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) {
        const wait = backoffDelay(attempt - 1, backoff, this.options.random);
        if (this.clock.now() + wait >= deadline) break;
        await this.clock.sleep(wait, this.closing.signal);
      }
      if (this.closing.signal.aborted) return;
      const secret = this.secret();
      if (secret === undefined) {
        this.stats.unsigned += 1;
        return;
      }
      const timeout = Math.min(requestTimeoutMs, deadline - this.clock.now());
      last = await this.attempt(delivery, secret, timeout);
      made += 1;
      if (last.ok) {
        this.stats.delivered += 1;
        return;
      }
      if (this.closing.signal.aborted || !last.retry) break;
    }
    if (this.closing.signal.aborted) return;
    this.stats.failed += 1;
    const tries = `${made} attempt(s)`;
    this.options.log.warn(
      `webhooks: ${delivery.type} event of job ${delivery.job} not delivered to ${delivery.origin} after ${tries}: ${last.why}`,
    );
  }

  /** The secret, or undefined (once warned) when there is none: events are never sent unsigned. */
  private secret(): string | undefined {
    let secret: string | undefined;
    try {
      secret = this.options.secret()?.trim() || undefined;
    } catch {
      secret = undefined;
    }
    if (secret === undefined && !this.warnedUnsigned) {
      this.warnedUnsigned = true;
      this.options.log.warn(
        'webhooks: no item "webhook_secret" in the action token\'s Nomad Variable; events are not sent unsigned. Add one as README "Webhooks" shows (the receivers verify with the same secret)',
      );
    }
    if (secret !== undefined) this.warnedUnsigned = false;
    return secret;
  }

  private async attempt(delivery: Delivery, secret: string, timeoutMs: number): Promise<Attempt> {
    const controller = new AbortController();
    let timedOut = false;
    const cancelTimer = this.clock.after(timeoutMs, () => {
      timedOut = true;
      controller.abort();
    });
    const onClose = () => controller.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    const timestamp = String(Math.floor(this.clock.now() / 1000));
    try {
      const response = await fetch(delivery.url, {
        method: "POST",
        body: delivery.body,
        // A redirect could lead anywhere, past the allow-list: it is a failure, not followed.
        redirect: "manual",
        signal: controller.signal,
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "nomad-idle-monitor",
          [HEADER_EVENT_ID]: delivery.id,
          [HEADER_EVENT_TYPE]: delivery.type,
          [HEADER_TIMESTAMP]: timestamp,
          [HEADER_SIGNATURE]: `v1=${webhookSignature(secret, timestamp, delivery.body)}`,
        },
      });
      await response.body?.cancel().catch(() => undefined);
      const { status } = response;
      if (status >= 200 && status < 300) return { ok: true };
      const retry = status >= 500 || status === 429 || status === 408;
      return {
        ok: false,
        retry,
        why: `status ${status}${status >= 300 && status < 400 ? " (redirects are not followed)" : ""}`,
      };
    } catch (error) {
      return failure(error, timedOut, timeoutMs);
    } finally {
      cancelTimer();
      this.closing.signal.removeEventListener("abort", onClose);
    }
  }
}

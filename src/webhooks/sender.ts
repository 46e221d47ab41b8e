import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../clock.js";
import type { WebhookFormat } from "../config.js";
import { type BackoffPolicy, backoffDelay } from "../retry.js";
import { type WebhookEvent, type WebhookEventType, webhookBody } from "./body.js";
import {
  HEADER_EVENT_ID,
  HEADER_EVENT_TYPE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  webhookSignature,
} from "./signature.js";
import { jobWebhookTarget, webhookUrl } from "./url.js";

/**
 * Webhooks (issue 11): events about what the monitor did, POSTed to WEBHOOK_URL and to a job's own
 * `idle-monitor.webhook` when its host is on WEBHOOK_ALLOWED_HOSTS. Every request is signed with the
 * `webhook_secret` item of the monitor's Nomad Variable; without a secret nothing is sent. Deliveries
 * run in the background from a bounded queue, are retried with backoff within bounds of count and time,
 * and never block the caller.
 */

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
        'webhooks: no item "webhook_secret" in the action token\'s Nomad Variable; events are not sent unsigned. Add one as docs/webhooks.md shows (the receivers verify with the same secret)',
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

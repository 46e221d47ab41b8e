import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { NodeAllocations } from "../allocations.js";
import type { Cancel, Clock } from "../clock.js";
import { formatDuration } from "../duration.js";
import type { MonitorMetrics } from "../metrics.js";
import { NomadError } from "../model/nomad.js";
import { RateLimitedNotice } from "../notices.js";
import type { NomadApi, TokenSource } from "../ports.js";
import { type BackoffPolicy, backoffDelay } from "../retry.js";
import { isRefusal, withTokenReload } from "../token-reload.js";
import { NdjsonDecoder, type StreamItem } from "./ndjson.js";
import { applyEvents } from "./stream-events.js";

export interface WatchTiming {
  /** nomad-api-notes.md: heartbeats every 30 s; this much silence means the connection is dead. */
  silenceMs: number;
  /** Nomad writes `{}` as soon as a subscription starts: headers and a first line within this, or give up. */
  openMs: number;
  /** The stream has gaps that nothing announces: list the node's allocations again this often. */
  resyncMs: number;
  reconnect: BackoffPolicy;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = {
  silenceMs: 75_000,
  openMs: 30_000,
  resyncMs: 3 * 60_000,
  reconnect: { initialMs: 1_000, maxMs: 60_000 },
};

const TOPICS = ["Allocation", "Job"] as const;

/** How one subscription ended: whether it had worked (resets the backoff), and whether the token is suspect. */
interface ConnectionOutcome {
  healthy: boolean;
  reloadToken: boolean;
}

/**
 * Keeps a node's allocation view current: list the node's allocations, open the event stream at the
 * list's index, apply events as upserts, and on any reconnect list again (seed → observe → reconcile).
 */
export class AllocationWatch {
  private readonly notices: RateLimitedNotice;
  private readingJobs: Promise<void> = Promise.resolve();
  /** When the stream last said anything (an event or a heartbeat). */
  private lastEventAt: number | undefined;
  /** The operator was told why subscriptions stay silent; said again only after one worked. */
  private silentStreamSaid = false;

  constructor(
    private readonly deps: {
      nomad: NomadApi;
      token: TokenSource;
      view: NodeAllocations;
      nodeId: string;
      clock: Clock;
      log: Logger;
      timing?: WatchTiming;
      metrics: MonitorMetrics;
      /** Called when the stream brought allocations new to the view (their jobs read). */
      onNewAllocations?: () => void;
    },
  ) {
    this.notices = new RateLimitedNotice(60_000, () => deps.clock.now());
    deps.metrics.watchEvents(() => this.lastEventAt);
  }

  private get timing(): WatchTiming {
    return this.deps.timing ?? DEFAULT_WATCH_TIMING;
  }

  /** Runs until the signal aborts; every failure is logged (at most once a minute) and retried. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    for (let connection = 0; !signal.aborted; connection++) {
      if (connection > 0) this.deps.metrics.streamReconnects.inc();
      const outcome = await this.connectOnce(signal).catch((error: unknown) => this.failure(error));
      if (signal.aborted) return;
      // The next subscription must carry the new token, or it fails the same way again.
      if (outcome.reloadToken) await this.reloadToken();
      if (outcome.healthy) attempt = 0;
      await this.deps.clock.sleep(backoffDelay(attempt++, this.timing.reconnect), signal);
    }
  }

  /** Lists the node's allocations into the view. */
  async resync(signal?: AbortSignal): Promise<number> {
    const requested = this.deps.view.listRequested();
    const { allocations, index } = await this.call(
      () => this.deps.nomad.nodeAllocations(this.deps.nodeId, signal),
      signal,
    );
    this.deps.view.reconcile(allocations, requested);
    await this.queueJobReads();
    return index;
  }

  private async connectOnce(signal: AbortSignal): Promise<ConnectionOutcome> {
    const { clock, log } = this.deps;
    const index = await this.resync(signal);
    const connection = new AbortController();
    const abort = () => connection.abort();
    signal.addEventListener("abort", abort, { once: true });
    const timers: Cancel[] = [];
    // Both deadlines run from the moment the request is sent: a subscription that never answers is as
    // dead as one that went silent.
    const progress = { lastHeard: clock.now(), firstLine: false, reloadToken: false };
    let givenUp: string | undefined;
    const giveUp = (message: string, level: "warn" | "info" | "debug" = "warn", reloadToken = false) => {
      if (givenUp === undefined) {
        givenUp = message;
        progress.reloadToken = reloadToken;
        log[level](message);
      }
      connection.abort();
    };
    let answered = false;
    const subscribedWith = this.deps.token.current();
    const openWithin = formatDuration(this.timing.openMs);
    timers.push(
      clock.after(this.timing.openMs, () => {
        if (progress.firstLine) return;
        if (!answered)
          return giveUp(`Nomad did not start the event stream within ${openWithin}; reconnecting`);
        // Nomad 2.x answers a subscription the token may not make with 200 and then nothing at all, where
        // 1.6.5 answered 500 Permission denied (test/fixtures/nomad-*/err-stream-no-capability.http).
        giveUp(
          `Nomad accepted the event stream subscription but sent nothing within ${openWithin}, not even a heartbeat. Nomad 2.x does that when the action token lacks read-job in the namespaces watched (nomad/idle-monitor-policy.hcl); reloading the action token and subscribing again`,
          this.silentStreamSaid ? "debug" : "warn",
          true,
        );
        this.silentStreamSaid = true;
      }),
      clock.every(Math.min(5_000, this.timing.silenceMs / 3), () => {
        const silentMs = clock.now() - progress.lastHeard;
        if (silentMs >= this.timing.silenceMs)
          giveUp(`no event or heartbeat from Nomad for ${formatDuration(silentMs)}; reconnecting`);
      }),
      clock.every(this.timing.resyncMs, () => {
        // Nomad 2.x leaves the stream of a deleted token open: a token reloaded meanwhile (by the relist
        // Nomad refused, below) tells that the stream's token is gone, and it is opened again with the new one.
        if (this.deps.token.current() !== subscribedWith)
          return giveUp("the action token changed; subscribing to the event stream with the new one", "info");
        this.resync()
          .then(() => {
            if (this.deps.token.current() !== subscribedWith)
              giveUp("resubscribing to the event stream with the reloaded action token", "info");
          })
          .catch((error: unknown) => this.failure(error));
      }),
    );
    try {
      const body = await this.call(
        () => this.deps.nomad.openEventStream(TOPICS, index, connection.signal),
        connection.signal,
      );
      answered = true;
      if (this.notices.clear("nomad")) log.info("connected to Nomad again; watching allocations");
      log.debug(`event stream open from index ${index}`);
      return await this.consume(body, connection.signal, index, progress);
    } catch (error) {
      if (givenUp === undefined && !signal.aborted) throw error;
      return { healthy: false, reloadToken: progress.reloadToken };
    } finally {
      for (const cancel of timers) cancel();
      signal.removeEventListener("abort", abort);
      connection.abort();
    }
  }

  private consume(
    body: Readable,
    connection: AbortSignal,
    index: number,
    progress: { lastHeard: number; firstLine: boolean; reloadToken: boolean },
  ): Promise<ConnectionOutcome> {
    const { clock, log } = this.deps;
    const decoder = new NdjsonDecoder();
    let garbageSaid = false;
    let ending: StreamItem | undefined;

    const firstLine = () => {
      progress.firstLine = true;
      if (this.silentStreamSaid) log.info("the event stream sends again; watching allocations");
      this.silentStreamSaid = false;
    };
    const handle = (items: readonly StreamItem[]) => {
      for (const item of items) {
        if (item.kind === "heartbeat") {
          firstLine();
        } else if (item.kind === "batch") {
          firstLine();
          this.apply(item.events);
        } else if (item.kind === "closed-by-server" || item.kind === "server-gone") {
          ending = item;
        } else if (!garbageSaid) {
          garbageSaid = true;
          log.warn(`the event stream sent a line that is not JSON; ignoring it: ${item.line}`);
        }
      }
    };

    return new Promise((resolve) => {
      const finish = (outcome: ConnectionOutcome) => {
        connection.removeEventListener("abort", onAbort);
        body.destroy();
        resolve(outcome);
      };
      const onAbort = () => finish({ healthy: progress.firstLine, reloadToken: progress.reloadToken });
      connection.addEventListener("abort", onAbort, { once: true });

      body.on("data", (chunk: Buffer) => {
        progress.lastHeard = clock.now();
        this.lastEventAt = progress.lastHeard;
        handle(decoder.push(chunk));
      });
      body.on("error", (error) => {
        if (connection.aborted) return;
        this.failure(new NomadError("unavailable", undefined, `the event stream broke (${error.message})`));
        finish({ healthy: progress.firstLine, reloadToken: false });
      });
      body.on("end", () => {
        handle(decoder.end());
        if (ending?.kind === "closed-by-server") {
          // nomad-api-notes.md: the server ends a subscription this way when the token was revoked, expired
          // or its policy changed, so the token is read again before resubscribing.
          log.warn(
            `Nomad closed the event stream ("${ending.message}"); reloading the action token and resubscribing`,
          );
          return finish({ healthy: progress.firstLine, reloadToken: true });
        }
        const why =
          ending?.kind === "server-gone" ? "EOF: the Nomad server went away" : `from index ${index}`;
        log.info(`the event stream ended (${why}); listing the node's allocations again and resubscribing`);
        finish({ healthy: progress.firstLine, reloadToken: false });
      });
    });
  }

  private apply(events: unknown[]): void {
    const missingJobs = applyEvents(this.deps.view, events);
    // Told once the jobs of new allocations are known too, so that they can be measured at once.
    if (missingJobs) void this.queueJobReads().then(() => this.deps.onNewAllocations?.());
  }

  /** One job read at a time, whoever asks (events or a resync), so no job is read twice at once. */
  private queueJobReads(): Promise<void> {
    this.readingJobs = this.readingJobs.then(() => this.readMissingJobs());
    return this.readingJobs;
  }

  /** Allocations from the stream carry no job (nomad-api-notes.md); read the job once for each. */
  private async readMissingJobs(): Promise<void> {
    const missing = new Map<string, { namespace: string; jobId: string }>();
    for (const allocation of this.deps.view.live()) {
      if (!allocation.job) missing.set(`${allocation.namespace}/${allocation.jobId}`, allocation);
    }
    for (const { namespace, jobId } of missing.values()) {
      try {
        const job = await this.call(() => this.deps.nomad.job(namespace, jobId));
        if (job) this.deps.view.updateJob(job);
      } catch (error) {
        this.failure(error);
      }
    }
  }

  /** A call to Nomad; a refused token is read again and the call tried once more (token-reload.ts). */
  private call<T>(request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withTokenReload(this.deps.token, request, {
      refused: (error) =>
        this.deps.log.warn(`Nomad refused the action token (${error.message}); reloading it`),
      reloadFailed: (error) => this.sayTokenFailure(error),
      signal,
    });
  }

  /** How an attempt failed, said (at most once a minute while Nomad cannot be reached). */
  private failure(error: unknown): ConnectionOutcome {
    const { log } = this.deps;
    // Said where it was refused, and the token read again (call): the next attempt carries it.
    if (isRefusal(error)) return { healthy: false, reloadToken: false };
    if (this.notices.shouldSay("nomad")) {
      log.warn(`cannot reach Nomad to watch allocations: ${(error as Error).message}; retrying with backoff`);
    }
    return { healthy: false, reloadToken: false };
  }

  private async reloadToken(): Promise<void> {
    await this.deps.token.load().catch((error: unknown) => this.sayTokenFailure(error));
  }

  private sayTokenFailure(error: unknown): void {
    if (this.notices.shouldSay("token")) this.deps.log.error((error as Error).message);
  }
}

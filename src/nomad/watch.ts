import type { Readable } from "node:stream";
import type { Logger } from "pino";
import type { NodeAllocations } from "../allocations.js";
import type { Clock } from "../clock.js";
import { formatDuration } from "../duration.js";
import { type BackoffPolicy, backoffDelay, RateLimitedNotice, sleep } from "../retry.js";
import { type Allocation, type Job, type NomadApi, NomadError } from "./api.js";
import { NdjsonDecoder, type StreamItem } from "./ndjson.js";
import type { ActionToken } from "./token.js";

export interface WatchTiming {
  /** nomad-api-notes.md: heartbeats every 30 s; this much silence means the connection is dead. */
  silenceMs: number;
  /** The stream has gaps that nothing announces: list the node's allocations again this often. */
  resyncMs: number;
  reconnect: BackoffPolicy;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = {
  silenceMs: 75_000,
  resyncMs: 3 * 60_000,
  reconnect: { initialMs: 1_000, maxMs: 60_000 },
};

const TOPICS = ["Allocation", "Job"] as const;

interface StreamEvent {
  Topic?: string;
  Payload?: { Allocation?: Allocation; Job?: Job };
}

/**
 * Keeps a node's allocation view current: list the node's allocations, open the event stream at the
 * list's index, apply events as upserts, and on any reconnect list again (seed → observe → reconcile).
 */
export class AllocationWatch {
  private readonly notices: RateLimitedNotice;
  private readingJobs: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      nomad: NomadApi;
      token: ActionToken;
      view: NodeAllocations;
      nodeId: string;
      clock: Clock;
      log: Logger;
      timing?: WatchTiming;
    },
  ) {
    this.notices = new RateLimitedNotice(60_000, () => deps.clock.now());
  }

  private get timing(): WatchTiming {
    return this.deps.timing ?? DEFAULT_WATCH_TIMING;
  }

  /** Runs until the signal aborts; every failure is logged (at most once a minute) and retried. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const outcome = await this.connectOnce(signal).catch((error: unknown) => this.failure(error));
      if (signal.aborted) return;
      if (outcome === "healthy") attempt = 0;
      const delay = backoffDelay(attempt++, this.timing.reconnect);
      await sleep(delay, signal);
    }
  }

  /** Lists the node's allocations into the view. */
  async resync(signal?: AbortSignal): Promise<number> {
    const requested = this.deps.view.listRequested();
    const { allocations, index } = await this.deps.nomad.nodeAllocations(this.deps.nodeId, signal);
    this.deps.view.reconcile(allocations, requested);
    await this.queueJobReads();
    return index;
  }

  private async connectOnce(signal: AbortSignal): Promise<"healthy" | "failed"> {
    const index = await this.resync(signal);
    const connection = new AbortController();
    const abort = () => connection.abort();
    signal.addEventListener("abort", abort, { once: true });
    try {
      const body = await this.deps.nomad.openEventStream(TOPICS, index, connection.signal);
      if (this.notices.clear("nomad")) this.deps.log.info("connected to Nomad again; watching allocations");
      this.deps.log.debug({ index }, "event stream open");
      return await this.consume(body, connection, index);
    } finally {
      signal.removeEventListener("abort", abort);
      connection.abort();
    }
  }

  private consume(body: Readable, connection: AbortController, index: number): Promise<"healthy" | "failed"> {
    const { clock, log } = this.deps;
    const decoder = new NdjsonDecoder();
    let lastHeard = clock.now();
    let received = false;
    let garbageSaid = false;
    let closedBy: string | undefined;

    const handle = (items: readonly StreamItem[]) => {
      for (const item of items) {
        if (item.kind === "heartbeat") {
          received = true;
        } else if (item.kind === "batch") {
          received = true;
          this.apply(item.events);
        } else if (item.kind === "closed-by-server") {
          closedBy = item.message;
        } else if (!garbageSaid) {
          garbageSaid = true;
          log.warn({ line: item.line }, "the event stream sent a line that is not JSON; ignoring it");
        }
      }
    };

    return new Promise((resolve) => {
      const finish = (outcome: "healthy" | "failed") => {
        clearInterval(watchdog);
        clearInterval(resync);
        body.destroy();
        resolve(outcome);
      };
      const watchdog = setInterval(
        () => {
          if (clock.now() - lastHeard < this.timing.silenceMs) return;
          log.warn(
            `no event or heartbeat from Nomad for ${formatDuration(clock.now() - lastHeard)}; reconnecting`,
          );
          finish(received ? "healthy" : "failed");
        },
        Math.min(5_000, this.timing.silenceMs / 3),
      );
      const resync = setInterval(() => {
        this.resync().catch((error: unknown) => this.failure(error));
      }, this.timing.resyncMs);

      body.on("data", (chunk: Buffer) => {
        lastHeard = clock.now();
        handle(decoder.push(chunk));
      });
      body.on("error", (error) => {
        if (connection.signal.aborted) return finish("healthy");
        this.failure(new NomadError("unavailable", undefined, `the event stream broke (${error.message})`));
        finish(received ? "healthy" : "failed");
      });
      body.on("end", () => {
        handle(decoder.end());
        if (closedBy === undefined) {
          log.info(`the event stream ended (from index ${index}); resubscribing`);
        } else {
          // nomad-api-notes.md: the server ends a stream this way when the token was revoked, expired or
          // its policy changed, so the token is read again before resubscribing.
          log.warn(
            `Nomad closed the event stream ("${closedBy}"); reloading the action token and resubscribing`,
          );
          this.deps.token.load().catch((error: unknown) => this.failure(error));
        }
        finish(received ? "healthy" : "failed");
      });
    });
  }

  private apply(events: unknown[]): void {
    const { view } = this.deps;
    let missingJobs = false;
    for (const event of events as StreamEvent[]) {
      const allocation = event.Payload?.Allocation;
      const job = event.Payload?.Job;
      if (event.Topic === "Allocation" && allocation) {
        if (view.upsert(allocation)) missingJobs = true;
      } else if (event.Topic === "Job" && job) {
        view.updateJob(job);
      }
    }
    if (missingJobs) void this.queueJobReads();
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
        const job = await this.deps.nomad.job(namespace, jobId);
        if (job) this.deps.view.updateJob(job);
      } catch (error) {
        this.failure(error);
      }
    }
  }

  private failure(error: unknown): "failed" {
    const { log } = this.deps;
    if (error instanceof NomadError && error.kind === "auth") {
      log.warn(`Nomad refused the action token (${error.message}); reloading it`);
      this.deps.token.load().catch((reloadError: unknown) => {
        if (this.notices.shouldSay("token")) log.error(String((reloadError as Error).message));
      });
      return "failed";
    }
    if (this.notices.shouldSay("nomad")) {
      log.warn(`cannot reach Nomad to watch allocations: ${(error as Error).message}; retrying with backoff`);
    }
    return "failed";
  }
}

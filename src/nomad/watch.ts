import type { Logger } from "pino";
import type { NodeAllocations } from "../allocations.js";
import type { Clock } from "../clock.js";
import type { MonitorMetrics } from "../metrics.js";
import { RateLimitedNotice } from "../notices.js";
import type { NomadApi, TokenSource } from "../ports.js";
import { type BackoffPolicy, backoffDelay } from "../retry.js";
import { isRefusal, withTokenReload } from "../token-reload.js";

export interface WatchTiming {
  /**
   * How long Nomad may hold each blocking query before answering with nothing new (its `wait`; 5 minutes is
   * Nomad's most and its default). An answer comes at once when an allocation of the node changes.
   */
  waitMs: number;
  reconnect: BackoffPolicy;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = {
  waitMs: 5 * 60_000,
  reconnect: { initialMs: 1_000, maxMs: 60_000 },
};

/**
 * Keeps the node's allocation view current with one blocking query on the node's allocations
 * (`/v1/node/<node>/allocations?index=…&wait=…`), as Nomad's own client watches its node: Nomad answers
 * when an allocation of this node changes, or after the wait with nothing new. Each answer holds every
 * allocation of the node with its job and replaces the view. Nothing else in the cluster reaches this
 * node: the event stream would bring every allocation and job event of the cluster to every node (it
 * cannot filter by node), which costs the servers nodes × the cluster's churn (README "Performance").
 */
export class AllocationWatch {
  private readonly notices: RateLimitedNotice;
  /** When Nomad last answered. */
  private lastAnswerAt: number | undefined;

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
      /** Called when an answer brought allocations new to the view. */
      onNewAllocations?: () => void;
    },
  ) {
    this.notices = new RateLimitedNotice(60_000, () => deps.clock.now());
    deps.metrics.watchAnswers(() => this.lastAnswerAt);
  }

  private get timing(): WatchTiming {
    return this.deps.timing ?? DEFAULT_WATCH_TIMING;
  }

  /** Runs until the signal aborts; every failure is said (at most once a minute) and retried with backoff. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, log, metrics, nomad, nodeId, view } = this.deps;
    let index = 0;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        // The first list, and the one after a failure, is answered at once.
        const blocking = index > 0 ? { index, waitMs: this.timing.waitMs } : undefined;
        const answer = await this.call(() => nomad.nodeAllocations(nodeId, signal, blocking), signal);
        if (signal.aborted) return;
        this.lastAnswerAt = clock.now();
        if (this.notices.clear("nomad")) log.info("reaching Nomad again; watching the node's allocations");
        // An index that went backwards (a snapshot restored on the servers) is simply the new one to wait from.
        index = answer.index;
        attempt = 0;
        if (view.reconcile(answer.allocations)) this.deps.onNewAllocations?.();
      } catch (error) {
        if (signal.aborted) return;
        metrics.watchFailures.inc();
        this.failure(error);
        index = 0;
        await clock.sleep(backoffDelay(attempt++, this.timing.reconnect), signal);
      }
    }
  }

  /** A call to Nomad; a refused token is read again and the call tried once more (token-reload.ts). */
  private call<T>(request: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return withTokenReload(this.deps.token, request, {
      refused: (error) =>
        this.deps.log.warn(`Nomad refused the action token (${error.message}); reloading it`),
      reloadFailed: (error) => {
        if (this.notices.shouldSay("token")) this.deps.log.error((error as Error).message);
      },
      signal,
    });
  }

  /** A failed request, said at most once a minute while Nomad cannot be reached. */
  private failure(error: unknown): void {
    // A refusal was said where it happened (call), and the token read again: the next attempt carries it.
    if (isRefusal(error) || !this.notices.shouldSay("nomad")) return;
    this.deps.log.warn(
      `cannot reach Nomad to watch the node's allocations: ${(error as Error).message}; retrying with backoff`,
    );
  }
}

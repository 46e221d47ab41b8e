import type { Logger } from "pino";
import { type NomadApi, NomadError } from "./nomad/api.js";
import type { ActionToken } from "./nomad/token.js";
import { type BackoffPolicy, backoffDelay, sleep } from "./retry.js";

export type ActionOutcome =
  | { kind: "done"; evalId: string }
  | { kind: "dry-run" }
  /** Nomad said no for a reason that may pass (an active deployment): try again next cycle. */
  | { kind: "refused"; message: string }
  | { kind: "failed"; message: string };

export interface ActionTarget {
  namespace: string;
  jobId: string;
}

export interface ActionsOptions {
  nomad: NomadApi;
  token: ActionToken;
  dryRun: boolean;
  retry?: { attempts: number; backoff: BackoffPolicy };
}

const DEFAULT_RETRY = { attempts: 4, backoff: { initialMs: 500, maxMs: 8_000 } };

/**
 * Stop and scale-to-zero against Nomad. Both are idempotent (stopping a stopped job, or scaling a group
 * that is already at zero, changes nothing), so a retry after a lost answer is safe. Dry-run lives here,
 * so that everything up to the call itself runs for real.
 */
export class Actions {
  constructor(private readonly options: ActionsOptions) {}

  async stopJob(
    target: ActionTarget,
    reason: string,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<ActionOutcome> {
    if (this.options.dryRun) {
      log.info(`dry run: would stop job ${target.jobId} in namespace ${target.namespace}: ${reason}`);
      return { kind: "dry-run" };
    }
    const outcome = await this.withRetries(
      () => this.options.nomad.stopJob(target.namespace, target.jobId),
      signal,
    );
    if (outcome.kind === "done") {
      log.info(
        `stopped job ${target.jobId} in namespace ${target.namespace} (evaluation ${outcome.evalId}): ${reason}`,
      );
    }
    return outcome;
  }

  async scaleToZero(
    target: ActionTarget,
    group: string,
    reason: string,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<ActionOutcome> {
    if (this.options.dryRun) {
      log.info(
        `dry run: would scale group ${group} of job ${target.jobId} in namespace ${target.namespace} to 0: ${reason}`,
      );
      return { kind: "dry-run" };
    }
    const outcome = await this.withRetries(
      () =>
        this.options.nomad.scaleGroup({
          namespace: target.namespace,
          jobId: target.jobId,
          group,
          count: 0,
          // Shown in the Nomad UI as the group's scaling event.
          message: `nomad-idle-monitor: ${reason}`,
          meta: { "idle-monitor.reason": reason },
        }),
      signal,
    );
    if (outcome.kind === "done") {
      log.info(
        `scaled group ${group} of job ${target.jobId} in namespace ${target.namespace} to 0 (evaluation ${outcome.evalId}): ${reason}`,
      );
    }
    return outcome;
  }

  private async withRetries(call: () => Promise<string>, signal?: AbortSignal): Promise<ActionOutcome> {
    const { attempts, backoff } = this.options.retry ?? DEFAULT_RETRY;
    let reloadedToken = false;
    for (let attempt = 0; ; attempt++) {
      // Once shutdown began, no new call starts: a stop that goes out after SIGTERM is a surprise.
      if (signal?.aborted) return { kind: "failed", message: "not attempted: the monitor is stopping" };
      try {
        return { kind: "done", evalId: await call() };
      } catch (error) {
        if (!(error instanceof NomadError)) throw error;
        if (error.kind === "auth" && !reloadedToken) {
          reloadedToken = true;
          await this.options.token.load().catch(() => undefined);
          continue;
        }
        if (error.kind === "rejected") return { kind: "refused", message: error.message };
        if (error.kind !== "unavailable" || attempt + 1 >= attempts) {
          return { kind: "failed", message: error.message };
        }
        await sleep(backoffDelay(attempt, backoff), signal);
      }
    }
  }
}

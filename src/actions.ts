import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { ActionOutcome } from "./model/events.js";
import { NomadError, type Submitted } from "./model/nomad.js";
import type { ActionTarget, JobActions, NomadApi, TokenSource } from "./ports.js";
import { type BackoffPolicy, backoffDelay } from "./retry.js";
import { withTokenReload } from "./token-reload.js";

export interface ActionsOptions {
  nomad: Pick<NomadApi, "stopJob" | "scaleGroup">;
  token: Pick<TokenSource, "load">;
  clock: Clock;
  log: Logger;
  dryRun: boolean;
  retry?: { attempts: number; backoff: BackoffPolicy };
}

const DEFAULT_RETRY = { attempts: 4, backoff: { initialMs: 500, maxMs: 8_000 } };

/**
 * Stop and scale-to-zero against Nomad. Both are idempotent (stopping a stopped job, or scaling a group
 * that is already at zero, changes nothing), so a retry after a lost answer is safe. Dry-run lives here,
 * so that everything up to the call itself runs for real.
 */
export class Actions implements JobActions {
  constructor(private readonly options: ActionsOptions) {}

  async stopJob(target: ActionTarget, reason: string, signal?: AbortSignal): Promise<ActionOutcome> {
    const { log, dryRun, nomad } = this.options;
    const job = `job ${target.jobId} in namespace ${target.namespace}`;
    if (dryRun) {
      log.info(`dry run: would stop ${job}: ${reason}`);
      return { kind: "dry-run" };
    }
    const outcome = await this.withRetries(() => nomad.stopJob(target.namespace, target.jobId), signal);
    if (outcome.kind === "done") log.info(`stopped ${job} (evaluation ${outcome.evalId}): ${reason}`);
    return outcome;
  }

  async scaleToZero(
    target: ActionTarget,
    group: string,
    reason: string,
    signal?: AbortSignal,
  ): Promise<ActionOutcome> {
    const { log, dryRun, nomad } = this.options;
    const what = `group ${group} of job ${target.jobId} in namespace ${target.namespace}`;
    if (dryRun) {
      log.info(`dry run: would scale ${what} to 0: ${reason}`);
      return { kind: "dry-run" };
    }
    const outcome = await this.withRetries(
      () =>
        nomad.scaleGroup({
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
    if (outcome.kind === "done") log.info(`scaled ${what} to 0 (evaluation ${outcome.evalId}): ${reason}`);
    return outcome;
  }

  /** A refused token is read again and the call tried once more (token-reload.ts); Nomad unavailable, with backoff. */
  private async withRetries(call: () => Promise<Submitted>, signal?: AbortSignal): Promise<ActionOutcome> {
    const { attempts, backoff } = this.options.retry ?? DEFAULT_RETRY;
    for (let attempt = 0; ; attempt++) {
      // Once shutdown began, no new call starts: a stop that goes out after SIGTERM is a surprise.
      if (signal?.aborted) return { kind: "failed", message: "not attempted: the monitor is stopping" };
      try {
        return { kind: "done", ...(await withTokenReload(this.options.token, call, { signal })) };
      } catch (error) {
        if (!(error instanceof NomadError)) throw error;
        if (error.kind === "rejected") return { kind: "refused", message: error.message };
        if (error.kind !== "unavailable" || attempt + 1 >= attempts) {
          return { kind: "failed", message: error.message };
        }
        await this.options.clock.sleep(backoffDelay(attempt, backoff), signal);
      }
    }
  }
}

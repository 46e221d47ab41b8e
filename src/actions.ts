import type { Logger } from "pino";
import type { ActionOutcome } from "./model/events.js";
import { type Job, NomadError, type Submitted } from "./model/nomad.js";
import type { ActionTarget, JobActions, NomadApi, TokenSource } from "./ports.js";
import { withTokenReload } from "./token-reload.js";

export interface ActionsOptions {
  nomad: Pick<NomadApi, "stopJob" | "scaleGroup" | "job">;
  token: Pick<TokenSource, "load">;
  log: Logger;
  dryRun: boolean;
}

/**
 * Stop and scale-to-zero against Nomad, one call each. A call Nomad did not answer (unavailable, a timeout,
 * a connection reset) may have been carried out all the same: it is confirmed by reading the job, never
 * sent again blind — the next cycle reads the job and its allocations again and plans anew, so a job run
 * again meanwhile is not acted on. Dry-run lives here, so that everything up to the call itself runs for real.
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
    const outcome = await this.once(
      target,
      () => nomad.stopJob(target.namespace, target.jobId),
      (read) => read.Stop,
      signal,
    );
    if (outcome.kind === "done") log.info(`stopped ${job} (${evaluation(outcome)}): ${reason}`);
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
    const outcome = await this.once(
      target,
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
      (read) => read.TaskGroups.find((candidate) => candidate.Name === group)?.Count === 0,
      signal,
    );
    if (outcome.kind === "done") log.info(`scaled ${what} to 0 (${evaluation(outcome)}): ${reason}`);
    return outcome;
  }

  /**
   * One call. A refused token is read again and the call tried once more (token-reload.ts): Nomad said no,
   * so nothing was done. Without an answer, `done` tells from the job read back whether the call was
   * carried out: a new version of the job (its JobModifyIndex moved past the one planned on) that is as
   * the call leaves it.
   */
  private async once(
    target: ActionTarget,
    call: () => Promise<Submitted>,
    done: (read: Job) => boolean,
    signal?: AbortSignal,
  ): Promise<ActionOutcome> {
    // Once shutdown began, no new call starts: a stop that goes out after SIGTERM is a surprise.
    if (signal?.aborted) return { kind: "failed", message: "not attempted: the monitor is stopping" };
    try {
      return { kind: "done", ...(await withTokenReload(this.options.token, call, { signal })) };
    } catch (error) {
      if (!(error instanceof NomadError)) throw error;
      if (error.kind === "rejected") return { kind: "refused", message: error.message };
      if (error.kind !== "unavailable") return { kind: "failed", message: error.message };
      const read = await this.options.nomad
        .job(target.namespace, target.jobId, signal)
        .catch(() => undefined);
      if (read && read.JobModifyIndex > target.jobModifyIndex && done(read))
        return { kind: "done", evalId: undefined, jobModifyIndex: read.JobModifyIndex };
      return { kind: "failed", message: error.message };
    }
  }
}

function evaluation(outcome: Extract<ActionOutcome, { kind: "done" }>): string {
  return outcome.evalId === undefined
    ? "no answer from Nomad; the job read back shows it done"
    : `evaluation ${outcome.evalId}`;
}

import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { PlannedAction } from "../decide/causes.js";
import type { WatchedGroup } from "../decide/eligibility.js";
import { cooldownAfter } from "../decide/triage.js";
import type { ActionKind, MonitorMetrics } from "../metrics.js";
import type { ActionOutcome } from "../model/events.js";
import type { Job } from "../model/nomad.js";
import type { ClusterPort, JobActions, NomadApi } from "../ports.js";
import type { Say } from "./say.js";
import { WakeRecorder } from "./wake-record.js";

export interface CarryOutDeps {
  nodeId: string;
  dryRun: boolean;
  actionCooldownMs: number;
  cluster: ClusterPort;
  nomad: Pick<NomadApi, "job">;
  actions: JobActions;
  clock: Clock;
  log: Logger;
  metrics: MonitorMetrics;
  say: Say;
  /** Each job acted on, and until when it is left alone. */
  cooldowns: Map<string, number>;
  /** In a dry run, each job it said it would act on, and until when it does not say so again. */
  dryRunsSaid: Map<string, number>;
}

/** What one call to Nomad did, and for which groups. */
export interface Carried {
  groups: string[];
  result: ActionOutcome;
}

/**
 * Carries out what the plan decided, through the actions (actions.ts → nomad/api.ts): first records what
 * `wake` needs, then scales the groups to scale and stops the job once for every group that stops it;
 * after each call, the cooldown, the metric, the event for the job's owners, or the warning.
 */
export class CarryOut {
  readonly #deps: CarryOutDeps;
  readonly #wake: WakeRecorder;

  constructor(deps: CarryOutDeps) {
    this.#deps = deps;
    this.#wake = new WakeRecorder(deps);
  }

  /** `key`: the job's key; `first`: one of its watched groups, for the job's name, namespace and webhook. */
  async run(
    key: string,
    first: WatchedGroup,
    job: Job | undefined,
    actions: readonly PlannedAction[],
    reasonOf: (outcome: PlannedAction) => string,
    signal?: AbortSignal,
  ): Promise<Carried[]> {
    const { actions: nomad, dryRun } = this.#deps;
    // The plan acts only on a job it read: without one there is nothing to act on.
    if (!job) return [];
    const target = { namespace: first.namespace, jobId: first.jobId, jobModifyIndex: job.JobModifyIndex };
    const wake = dryRun ? undefined : await this.#wake.before(first, job, actions);
    const carried: Carried[] = [];
    for (const outcome of actions) {
      if (outcome.kind !== "scale" || signal?.aborted) continue;
      const reason = reasonOf(outcome);
      const result = await nomad.scaleToZero(target, outcome.group, reason, signal);
      const what = `scale group ${outcome.group} of job ${first.jobId}`;
      this.#after(key, "scale", result, what, { group: first, scaled: outcome.group, reason }, signal);
      carried.push({ groups: [outcome.group], result });
    }
    const stopping = actions.filter((outcome) => outcome.kind === "stop");
    if (stopping.length > 0 && !signal?.aborted) {
      const reason = stopping.map(reasonOf).join("; ");
      const result = await nomad.stopJob(target, reason, signal);
      this.#after(key, "stop", result, `stop job ${first.jobId}`, { group: first, reason }, signal);
      carried.push({ groups: stopping.map((outcome) => outcome.group), result });
    }
    if (wake) await this.#wake.after(wake, carried);
    return carried;
  }

  #after(
    key: string,
    kind: ActionKind,
    outcome: ActionOutcome,
    what: string,
    about: { group: WatchedGroup; scaled?: string; reason: string },
    signal?: AbortSignal,
  ): void {
    const { clock, actionCooldownMs, log, metrics, say, cooldowns, dryRunsSaid } = this.#deps;
    metrics.actions.inc({ kind, outcome: outcome.kind });
    const { group, scaled, reason } = about;
    const until = cooldownAfter(outcome, clock.now(), actionCooldownMs);
    if (until !== undefined) cooldowns.set(key, until);
    if (outcome.kind === "dry-run") dryRunsSaid.set(key, clock.now() + actionCooldownMs);
    if (outcome.kind === "done") {
      say.notify(group, kind === "scale" ? "scaled" : "stopped", reason, scaled);
      return;
    }
    if (signal?.aborted || outcome.kind === "dry-run") return;
    if (say.mayNoticeOfJob(key, `action:${what}`)) {
      log.warn(`could not ${what}: ${outcome.message}; will try again next cycle`);
      if (outcome.kind === "failed")
        say.notify(group, "failed", `could not ${what}: ${outcome.message}`, scaled);
    }
  }
}

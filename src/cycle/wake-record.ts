import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { PlannedAction } from "../decide/causes.js";
import type { WatchedGroup } from "../decide/eligibility.js";
import type { PendingWake, WakeRecord } from "../model/cluster.js";
import type { ActionOutcome } from "../model/events.js";
import type { Job } from "../model/nomad.js";
import type { ClusterPort, NomadApi } from "../ports.js";

export interface WakeRecorderDeps {
  nodeId: string;
  cluster: ClusterPort;
  nomad: Pick<NomadApi, "job">;
  clock: Clock;
  log: Logger;
}

/** The record written before acting on one job, and the job the action was decided on. */
export interface BeforeActing {
  pending: PendingWake;
  decided: Job;
  /** The groups this action scales. */
  scaling: string[];
}

/**
 * The wake record of an action on a job (README "Waking a job up"). Written pending right before acting,
 * so that a monitor that dies half-way leaves nothing start-at or `wake` would act on; confirmed after
 * with the JobModifyIndex Nomad answered, once the job read back is the one decided on plus the
 * monitor's own changes (a job re-run between the look and the action is never recorded as it was
 * before); put back as it was when nothing was done.
 */
export class WakeRecorder {
  readonly #deps: WakeRecorderDeps;

  constructor(deps: WakeRecorderDeps) {
    this.#deps = deps;
  }

  async before(
    group: WatchedGroup,
    job: Job,
    actions: readonly PlannedAction[],
  ): Promise<BeforeActing | undefined> {
    const { cluster, nodeId, clock } = this.#deps;
    const stopping = actions.some((outcome) => outcome.kind === "stop");
    const scaling = actions.filter((outcome) => outcome.kind === "scale").map((outcome) => outcome.group);
    const scaled = Object.fromEntries(
      scaling.map((name) => [name, job.TaskGroups.find((candidate) => candidate.Name === name)?.Count ?? 1]),
    );
    const record: WakeRecord = {
      v: 1,
      namespace: group.namespace,
      jobId: group.jobId,
      node: nodeId,
      at: clock.now(),
      ...(stopping ? { stopped: job } : { scaled }),
    };
    const pending = await cluster.recordWake(record, job.JobModifyIndex);
    return pending && { pending, decided: job, scaling };
  }

  /** After acting: `carried`, each call's groups and outcome, in the order they were made. */
  async after(
    before: BeforeActing,
    carried: ReadonlyArray<{ groups: string[]; result: ActionOutcome }>,
  ): Promise<void> {
    const { pending, decided, scaling } = before;
    const { namespace, jobId } = pending.record;
    const done = carried.flatMap(({ groups, result }) =>
      result.kind === "done" ? [{ groups, result }] : [],
    );
    const last = done.at(-1)?.result.jobModifyIndex;
    if (last === undefined) return this.#settle(pending.record, pending.previous);
    const now = await this.#deps.nomad.job(namespace, jobId).catch(() => undefined);
    const expected = decided.Version + done.length;
    if (now?.JobModifyIndex !== last || now.Version !== expected) {
      const seen = now ? `version ${now.Version} at JobModifyIndex ${now.JobModifyIndex}` : "not readable";
      this.#deps.log.warn(
        `job ${jobId} in namespace ${namespace} is not what the monitor acted on (${seen}; expected version ${expected} at ${last}): its wake record stays unconfirmed, and neither start-at nor \`nomad-idle-monitor wake\` will bring it back`,
      );
      return;
    }
    const notDone = scaling.filter((group) => !done.some(({ groups }) => groups.includes(group)));
    const scaled = pending.record.scaled && Object.entries(pending.record.scaled);
    const kept = scaled && Object.fromEntries(scaled.filter(([group]) => !notDone.includes(group)));
    await this.#settle(pending.record, {
      ...pending.record,
      ...(kept && { scaled: kept }),
      jobModifyIndex: last,
    });
  }

  async #settle(pending: WakeRecord, record: WakeRecord | undefined): Promise<void> {
    await this.#deps.cluster
      .settleWake(pending.namespace, pending.jobId, record)
      .catch((error: unknown) =>
        this.#deps.log.warn(
          `cannot settle the wake record of job ${pending.jobId} (${(error as Error).message}); it stays unconfirmed, and neither start-at nor \`nomad-idle-monitor wake\` will bring the job back`,
        ),
      );
  }
}

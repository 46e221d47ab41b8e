import type { WakeRecord } from "./model/cluster.js";
import type { Job, Registered, Submitted } from "./model/nomad.js";
import type { ScaleRequest } from "./ports.js";

/** What bringing a job back needs from Nomad. */
export interface WakeApi {
  job(namespace: string, jobId: string): Promise<Job | undefined>;
  registerJob(job: Job, jobModifyIndex: number): Promise<Registered>;
  scaleGroup(request: ScaleRequest): Promise<Submitted>;
}

export type WakeStep =
  | { kind: "running"; version: number }
  | { kind: "registered"; version: number; evalId: string }
  | { kind: "scaled"; group: string; count: number; evalId: string }
  /** Not as the monitor left it (`why`): not brought back, and its record (or the group's part) dropped. */
  | { kind: "dropped"; group?: string; why: string };

export interface WakeResult {
  steps: WakeStep[];
  /** What is left to bring back later (groups not asked for), or undefined when the record is done. */
  remaining: WakeRecord | undefined;
}

/**
 * Brings back what the monitor did to a job, from its record — only while the job is still exactly as the
 * monitor left it (README "Waking a job up"): its JobModifyIndex is the one Nomad answered to the
 * monitor's own stop or scale. A stopped job is registered again as it was with `EnforceIndex` (which
 * also takes it back after Nomad garbage-collected it, as long as nobody created it again); scaled groups
 * still at 0 get their counts back — all of them, or only `groups`. Anything else drops the record, so
 * that an older specification never replaces a newer one and a group is never scaled down. Used by
 * `wake` and by `start-at`.
 */
export async function bringBack(
  api: WakeApi,
  record: WakeRecord,
  groups: readonly string[] | undefined,
  reason: string,
): Promise<WakeResult> {
  const action = record.stopped ? "stop" : "scale";
  if (record.jobModifyIndex === undefined)
    return dropped(
      `Nomad's answer to node ${record.node}'s ${action} was never recorded (lost, or the record comes from an older monitor), so the job may have changed since`,
    );
  const current = await api.job(record.namespace, record.jobId);
  if (record.stopped) return bringBackStopped(api, { ...record, stopped: record.stopped }, current);
  if (!current) return dropped("the job is gone");
  if (current.JobModifyIndex !== record.jobModifyIndex)
    return dropped(changedSince(record, current, "scaled it to 0"));
  return bringBackScaled(api, record, current, groups, reason);
}

async function bringBackStopped(
  api: WakeApi,
  record: WakeRecord & { stopped: Job },
  current: Job | undefined,
): Promise<WakeResult> {
  if (current && current.JobModifyIndex !== record.jobModifyIndex) {
    if (!current.Stop)
      return { steps: [{ kind: "running", version: current.Version }], remaining: undefined };
    return dropped(changedSince(record, current, "stopped it"));
  }
  // Gone (garbage-collected or purged): registered only while nobody created it again (index 0).
  const registered = await api.registerJob(
    { ...record.stopped, Stop: false },
    current ? current.JobModifyIndex : 0,
  );
  if (registered.kind === "changed") return dropped(`it changed meanwhile (${registered.message})`);
  const step: WakeStep = { kind: "registered", version: record.stopped.Version, evalId: registered.evalId };
  return { steps: [step], remaining: undefined };
}

/** Each group asked for, scaled back while it is still at 0 and the job still as the monitor's own scales left it. */
async function bringBackScaled(
  api: WakeApi,
  record: WakeRecord,
  current: Job,
  groups: readonly string[] | undefined,
  reason: string,
): Promise<WakeResult> {
  const scaled = Object.entries(record.scaled ?? {});
  const chosen = scaled.filter(([name]) => groups === undefined || groups.includes(name));
  const steps: WakeStep[] = [];
  let job = current;
  let leftAt = current.JobModifyIndex;
  for (const [index, [group, count]] of chosen.entries()) {
    if (index > 0) {
      const read = await api.job(record.namespace, record.jobId);
      if (read?.JobModifyIndex !== leftAt) {
        steps.push(...dropped("it changed while its groups were scaled back").steps);
        return { steps, remaining: undefined };
      }
      job = read;
    }
    const now = job.TaskGroups.find((candidate) => candidate.Name === group)?.Count;
    if (now !== 0) {
      const why = now === undefined ? "the group is gone" : `the group is at ${now} now, not 0`;
      steps.push({ kind: "dropped", group, why });
      continue;
    }
    const answer = await api.scaleGroup({
      namespace: record.namespace,
      jobId: record.jobId,
      group,
      count,
      message: `nomad-idle-monitor ${reason}: back to ${count}, as before node ${record.node} scaled it to 0`,
      meta: { "idle-monitor.reason": reason },
    });
    leftAt = answer.jobModifyIndex;
    steps.push({ kind: "scaled", group, count, evalId: answer.evalId });
  }
  const left = scaled.filter(([name]) => !chosen.some(([done]) => done === name));
  const remaining =
    left.length > 0 ? { ...record, scaled: Object.fromEntries(left), jobModifyIndex: leftAt } : undefined;
  return { steps, remaining };
}

function dropped(why: string): WakeResult {
  return { steps: [{ kind: "dropped", why }], remaining: undefined };
}

function changedSince(record: WakeRecord, current: Job, what: string): string {
  return `it changed since node ${record.node} ${what} (its JobModifyIndex is ${current.JobModifyIndex}, the monitor left it at ${record.jobModifyIndex}: run again, stopped or scaled by someone else)`;
}

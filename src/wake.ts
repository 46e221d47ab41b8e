import type { WakeRecord } from "./model/cluster.js";
import type { Job } from "./model/nomad.js";
import type { ScaleRequest } from "./ports.js";

/** What bringing a job back needs from Nomad. */
export interface WakeApi {
  job(namespace: string, jobId: string): Promise<Job | undefined>;
  registerJob(job: Job): Promise<string>;
  scaleGroup(request: ScaleRequest): Promise<string>;
}

export type WakeStep =
  | { kind: "running"; version: number }
  | { kind: "registered"; version: number; evalId: string }
  | { kind: "scaled"; group: string; count: number; evalId: string };

export interface WakeResult {
  steps: WakeStep[];
  /** What is left to bring back later (groups not asked for), or undefined when the record is done. */
  remaining: WakeRecord | undefined;
}

/**
 * Brings back what the monitor did to a job, from its record: a stopped job is registered again as it
 * was (which also takes it back after Nomad garbage-collected it) unless it runs already; scaled groups
 * get their counts back — all of them, or only `groups`. Used by `wake` and by `start-at`.
 */
export async function bringBack(
  api: WakeApi,
  record: WakeRecord,
  groups: readonly string[] | undefined,
  reason: string,
): Promise<WakeResult> {
  if (record.stopped) {
    const current = await api.job(record.namespace, record.jobId);
    if (current && !current.Stop)
      return { steps: [{ kind: "running", version: current.Version }], remaining: undefined };
    const evalId = await api.registerJob({ ...record.stopped, Stop: false });
    return { steps: [{ kind: "registered", version: record.stopped.Version, evalId }], remaining: undefined };
  }
  const scaled = Object.entries(record.scaled ?? {});
  const chosen = scaled.filter(([name]) => groups === undefined || groups.includes(name));
  const steps: WakeStep[] = [];
  for (const [group, count] of chosen) {
    const evalId = await api.scaleGroup({
      namespace: record.namespace,
      jobId: record.jobId,
      group,
      count,
      message: `nomad-idle-monitor ${reason}: back to ${count}, as before node ${record.node} scaled it to 0`,
      meta: { "idle-monitor.reason": reason },
    });
    steps.push({ kind: "scaled", group, count, evalId });
  }
  const left = scaled.filter(([name]) => !chosen.some(([done]) => done === name));
  return { steps, remaining: left.length > 0 ? { ...record, scaled: Object.fromEntries(left) } : undefined };
}

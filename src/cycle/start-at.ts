import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import { type EligibilityRules, groupEligibility } from "../decide/eligibility.js";
import { formatDuration } from "../duration.js";
import type { ListedWake, WakeRecord, WakeRecordOutline } from "../model/cluster.js";
import type { MonitorEvent } from "../model/events.js";
import type { JobOutline } from "../model/nomad.js";
import { RateLimitedNotice } from "../notices.js";
import type { ClusterPort, Notifier } from "../ports.js";
import { describeInstant, type Schedule } from "../schedule.js";
import { bringBack, type WakeApi, type WakeStep } from "../wake.js";

export interface StartAtDeps {
  cluster: ClusterPort;
  nomad: WakeApi;
  rules: EligibilityRules;
  nodeId: string;
  clock: Clock;
  log: Logger;
  dryRun: boolean;
  /** A firing missed by more than this (every monitor was down) is skipped, not carried out late. */
  graceMs: number;
  /** How long the lease lasts unless renewed: how soon another monitor takes over from one that died. */
  leaseMs: number;
  /** A wake record older than this (WAKE_RECORD_RETENTION) is dropped. */
  retentionMs: number;
  notifier?: Notifier;
}

const LEASE = "start-at";

/** The groups of a record whose `start-at` came due, and the firing. */
interface Due {
  groups: string[];
  firing: number;
  schedule: Schedule;
  /** The job's own `idle-monitor.webhook`. */
  webhook: string | undefined;
}

/**
 * `idle-monitor.start-at`: brings back, when it fires, what the monitors stopped or scaled to zero — from
 * the wake records, because a stopped job has no allocations anywhere for a node to watch. One monitor of
 * the cluster does it: the holder of a lease Variable. The lease keeps up to when firings were dealt
 * with, so a new holder neither replays them nor forgets those missed while every monitor was down
 * (carried out late within the grace, else skipped with a log line). The holder also drops the records
 * older than the retention, refuses (with a line) those it may not use, and sweeps the reports of gone
 * nodes and expired claims.
 */
export class StartAt {
  private readonly notices: RateLimitedNotice;
  /** The refusal said of each record path: said once while that record stays as it is. */
  private readonly refusals = new Map<string, string>();

  constructor(private readonly deps: StartAtDeps) {
    this.notices = new RateLimitedNotice(60_000, () => deps.clock.now());
  }

  async run(signal?: AbortSignal): Promise<void> {
    const { cluster, clock, leaseMs, log } = this.deps;
    const lease = await cluster.lease(LEASE, leaseMs);
    if (!lease || signal?.aborted) return;
    // The lease's holder is also the one monitor that clears what gone nodes left (cluster/sweep.ts).
    await cluster.sweep();
    const now = clock.now();
    let listed: ListedWake[];
    try {
      listed = await cluster.wakeRecords();
    } catch (error) {
      if (this.notices.shouldSay("records"))
        log.warn(
          `cannot read the wake records for start-at: ${(error as Error).message}; trying again next cycle`,
        );
      return;
    }
    // What is said of a record is forgotten with it.
    const paths = new Set(listed.map(({ path }) => path));
    this.notices.retain((key) => key === "records" || paths.has(key));
    for (const path of this.refusals.keys()) if (!paths.has(path)) this.refusals.delete(path);
    for (const entry of listed) {
      if (signal?.aborted) return;
      if ("refused" in entry) {
        this.refuse(entry.path, entry.refused);
        continue;
      }
      await this.consider(entry.path, entry.record, lease.evaluatedAt, now).catch((error: unknown) => {
        if (this.notices.shouldSay(entry.path))
          log.error(
            `start-at of job ${entry.record.jobId} failed: ${(error as Error).message}; trying again next cycle`,
          );
      });
    }
    lease.evaluated(now);
  }

  /** A record the monitor may not use, said once while it stays: whoever may write there could have any job registered. */
  private refuse(path: string, reason: string): void {
    if (this.refusals.get(path) === reason) return;
    this.refusals.set(path, reason);
    this.deps.log.warn(
      `not using the wake record ${path}: ${reason}; a record is used only for the job its path names, in a namespace of NAMESPACES`,
    );
  }

  /** Past its retention: dropped, and said. */
  private async expire(record: WakeRecordOutline, ageMs: number): Promise<void> {
    const { cluster, log, retentionMs } = this.deps;
    await cluster.settleWake(record.namespace, record.jobId, undefined);
    log.info(
      `dropped the wake record of job ${record.jobId} in namespace ${record.namespace}: node ${record.node} ${record.stopped ? "stopped" : "scaled"} it ${formatDuration(ageMs)} ago, longer than WAKE_RECORD_RETENTION (${formatDuration(retentionMs)}); neither start-at nor \`nomad-idle-monitor wake\` will bring it back`,
    );
  }

  private async consider(
    path: string,
    outline: WakeRecordOutline,
    evaluatedAt: number | undefined,
    now: number,
  ): Promise<void> {
    const { nomad, cluster, dryRun, rules, retentionMs } = this.deps;
    if (rules.namespaces !== "*" && !rules.namespaces.includes(outline.namespace))
      return this.refuse(path, `it is about namespace ${outline.namespace}, which is not in NAMESPACES`);
    if (now - outline.at > retentionMs) return this.expire(outline, now - outline.at);
    const job = outline.stopped ?? (await nomad.job(outline.namespace, outline.jobId));
    if (!job) return;
    const due = this.due(outline, job, evaluatedAt, now);
    if (!due) return;
    const log = this.deps.log.child({ job: outline.jobId, namespace: outline.namespace });
    const why = `start-at ${due.schedule
      .expressions("start-at")
      .map((expression) => `"${expression}"`)
      .join("; ")} fired at ${describeInstant(due.firing, due.schedule.timezone)}`;
    if (dryRun) {
      log.info(`DRY_RUN: would bring back ${describeRecord(outline, due.groups)} (${why})`);
      return;
    }
    // The specification is read only now that it is needed, and used only if it is the record listed.
    const record = outline.stopped ? await cluster.wakeRecord(outline.namespace, outline.jobId) : outline;
    if (!record || record.at !== outline.at || record.jobModifyIndex !== outline.jobModifyIndex) return;
    const result = await bringBack(
      nomad,
      record as WakeRecord,
      record.stopped ? undefined : due.groups,
      "start-at",
    );
    await cluster.settleWake(record.namespace, record.jobId, result.remaining);
    for (const step of result.steps) {
      const line = describeStep(outline, step, why);
      log.info(line);
      if (step.kind === "registered" || step.kind === "scaled")
        this.notify(outline, step.kind === "scaled" ? step.group : undefined, line, due.webhook);
    }
  }

  /** Which groups' start-at came due since the last evaluation, and after the record was made. */
  private due(
    record: WakeRecordOutline,
    job: JobOutline,
    evaluatedAt: number | undefined,
    now: number,
  ): Due | undefined {
    const { rules, graceMs } = this.deps;
    const candidates = record.stopped
      ? job.TaskGroups.map((group) => group.Name)
      : Object.keys(record.scaled ?? {});
    const after = Math.max(evaluatedAt ?? now - graceMs, record.at);
    let due: Due | undefined;
    for (const group of candidates) {
      const eligibility = groupEligibility(job, group, rules);
      if (eligibility.kind !== "watched") continue;
      const { schedule } = eligibility.policy;
      const firing = schedule.dueFiring("start-at", after, now, graceMs);
      if (!firing) continue;
      const log = this.deps.log.child({ job: record.jobId, namespace: record.namespace, group });
      if (firing.kind === "skipped") {
        log.info(
          `job ${record.jobId} group ${group}: its start-at fired at ${describeInstant(firing.firing, schedule.timezone)} while no monitor could act (${formatDuration(firing.lateByMs)} ago, more than the grace of ${formatDuration(graceMs)}); not bringing it back late — \`nomad-idle-monitor wake ${record.jobId}\` does it by hand`,
        );
        continue;
      }
      if (schedule.excluded(now)) {
        log.info(
          `job ${record.jobId} group ${group}: start-at fired, but the job is excluded until ${describeInstant(schedule.excludeUntil ?? now, schedule.timezone)} (idle-monitor.exclude-until); not bringing it back`,
        );
        continue;
      }
      const { webhook } = eligibility.policy;
      due = { groups: [...(due?.groups ?? []), group], firing: firing.firing, schedule, webhook };
    }
    return due;
  }

  private notify(
    record: WakeRecordOutline,
    group: string | undefined,
    reason: string,
    webhook: string | undefined,
  ): void {
    const { notifier, nodeId, clock } = this.deps;
    const event: MonitorEvent = {
      type: "started",
      namespace: record.namespace,
      job: record.jobId,
      ...(group !== undefined ? { group } : {}),
      reason,
      node: nodeId,
      at: clock.now(),
    };
    notifier?.notify(event, webhook);
  }
}

function describeRecord(record: WakeRecordOutline, groups: readonly string[]): string {
  if (record.stopped) return `job ${record.jobId} (stopped by node ${record.node})`;
  return `${groups.map((group) => `group ${group} of job ${record.jobId} to ${record.scaled?.[group]}`).join(", ")}`;
}

function describeStep(record: WakeRecordOutline, step: WakeStep, why: string): string {
  switch (step.kind) {
    case "running":
      return `job ${record.jobId} runs already (version ${step.version}); nothing for its ${why} to bring back`;
    case "registered":
      return `started job ${record.jobId} in namespace ${record.namespace} again as it was before node ${record.node} stopped it (evaluation ${step.evalId}): ${why}`;
    case "scaled":
      return `scaled group ${step.group} of job ${record.jobId} back to ${step.count} (evaluation ${step.evalId}): ${why}`;
    case "dropped":
      return `not bringing back ${step.group === undefined ? "" : `group ${step.group} of `}job ${record.jobId} for its ${why}: ${step.why}; dropped from its wake record`;
  }
}

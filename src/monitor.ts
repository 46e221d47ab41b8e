import type { Logger } from "pino";
import { NodeAllocations } from "./allocations.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import type { GroupOutcome, GroupVerdict, WaitCause } from "./decide/causes.js";
import { claimLetsAct, mustClaim, spansNodes } from "./decide/claim.js";
import {
  describeFiring,
  describeFiringWait,
  describeIdleness,
  describeSkippedFiring,
  describeWait,
  describeWarning,
  waitKey,
} from "./decide/describe.js";
import {
  type EligibilityRules,
  type JobNotes,
  type WatchedGroup,
  watchedGroups,
} from "./decide/eligibility.js";
import { planFiring } from "./decide/firing.js";
import { ActivityTracker, decideGroup, type GroupDecision } from "./decide/idle-timer.js";
import { groupFingerprint } from "./decide/job-change.js";
import { type ActivityThreshold, TrafficMeter } from "./decide/meter.js";
import { planJob } from "./decide/plan.js";
import { SignalSchedule } from "./decide/signal-schedule.js";
import { firedTogether, lookAtStopAt, type StopAtMemory } from "./decide/stop-at.js";
import { cooldownAfter, triage } from "./decide/triage.js";
import { warningsDue } from "./decide/warnings.js";
import { formatDuration } from "./duration.js";
import type { ActionKind, GroupState, MonitorMetrics } from "./metrics.js";
import { jobKey, shortId } from "./model/allocation.js";
import type { AllocRecord, NodeReport } from "./model/cluster.js";
import type { ActionOutcome, MonitorEvent } from "./model/events.js";
import { type AllocationListStub, type Job, NomadError } from "./model/nomad.js";
import type { Activity, Reading } from "./model/readings.js";
import { exchangeTiming, LEASE_INTERVALS, TAKEOVER_INTERVALS } from "./model/timing.js";
import { AllocationWatch, type WatchTiming } from "./nomad/watch.js";
import { RateLimitedNotice, SayOnce } from "./notices.js";
import type {
  ActivitySignals,
  ClusterPort,
  JobActions,
  NetworkSampler,
  NomadApi,
  Notifier,
  TokenSource,
} from "./ports.js";
import { missedFiringGraceMs } from "./schedule.js";
import { groupChecks } from "./signals/check-budget.js";
import { StartAt } from "./start-at.js";
import { type GroupStatus, nodeStatus } from "./status.js";

export interface MonitorDeps {
  config: Config;
  metrics: MonitorMetrics;
  cluster: ClusterPort;
  nodeId: string;
  nomad: NomadApi;
  token: TokenSource;
  sampler: NetworkSampler;
  actions: JobActions;
  clock: Clock;
  log: Logger;
  watchTiming?: WatchTiming;
  /** Webhooks; none when WEBHOOK_URL and WEBHOOK_ALLOWED_HOSTS are unset. */
  notifier?: Notifier;
  /** CPU time and inbound sessions (issue 12); without it, an allocation with either signal on is unknown. */
  signals?: ActivitySignals;
}

/** A running allocation unknown for this many readings in a row is worth a warning; before, it is starting. */
const UNKNOWN_READINGS_BEFORE_WARNING = 3;
const NODE_SCOPE = "";

interface GroupCycle {
  group: WatchedGroup;
  verdict: GroupVerdict;
}

type ActionPlanned = Exclude<GroupOutcome, { kind: "wait" }>;

/** Groups of one job whose stop-at fired. */
interface Fired {
  firing: number;
  groups: GroupCycle[];
}

/**
 * The loop that wires the pieces: every CHECK_INTERVAL, sample the opted-in allocations of this node
 * (eligibility), turn readings into activity and decisions (idle), plan what to do with a fresh look at
 * each job (plan), and act (actions). Cycles never overlap.
 */
export class Monitor {
  readonly view: NodeAllocations;
  readonly watch: AllocationWatch;
  private readonly meter = new TrafficMeter();
  private readonly tracker = new ActivityTracker();
  private readonly signalSchedule: SignalSchedule;
  private readonly said = new SayOnce();
  private readonly notices: RateLimitedNotice;
  private readonly lastDecision = new Map<string, GroupDecision["kind"]>();
  /** What each group's policy and tasks were last cycle: when they change, its timers start over. */
  private readonly fingerprints = new Map<string, string>();
  private readonly cooldownUntil = new Map<string, number>();
  private readonly unknownStreak = new Map<string, number>();
  /** Each allocation's latest activity, for this node's report. */
  private readonly latest = new Map<string, Activity["state"]>();
  /** What this node reported before a restart, for the allocations not measured since. */
  private restored: NodeReport | undefined;
  private readonly rules: EligibilityRules;
  /** The labels of each watched group's `seconds_until_action` series, so that it goes with the group. */
  private readonly seriesOf = new Map<string, { namespace: string; job: string; group: string }>();
  private lastReport: Omit<NodeReport, "heartbeatMs"> | undefined;
  private readonly startAt: StartAt;
  private readonly graceMs: number;
  /** Each group's stop-at: up to when its firings were looked at, and one still to carry out. */
  private readonly stopAt = new Map<string, StopAtMemory>();
  /** Before the first cycle after a restart: when this node last reported, so missed firings show. */
  private stopAtRestoredFrom: number | undefined;
  /** The action each group was last warned of, per kind, so that a warning is said once. */
  private readonly warned = new Map<string, Map<string, number>>();
  /** When the last cycle ended (for /healthz), and whether the Docker Engine answered in it (/readyz). */
  lastCycleAt: number | undefined;
  dockerAnswers = false;

  constructor(private readonly deps: MonitorDeps) {
    const { config, nomad, token, nodeId, clock, log, metrics } = deps;
    this.view = new NodeAllocations(nodeId);
    this.signalSchedule = new SignalSchedule(config.checkIntervalMs);
    this.watch = new AllocationWatch({
      metrics,
      onNewAllocations: () => void this.baselineNewAllocations(),
      nomad,
      token,
      view: this.view,
      nodeId,
      clock,
      log,
      timing: deps.watchTiming,
    });
    this.notices = new RateLimitedNotice(60_000, () => clock.now());
    this.rules = {
      defaults: {
        timeoutMs: config.idleTimeoutMs,
        thresholdBytes: config.activityThresholdBytes,
        checkIntervalMs: config.checkIntervalMs,
        timezone: config.timezone,
      },
      namespaces: config.namespaces,
      self: { namespace: config.namespace, jobId: config.self.jobId },
    };
    this.graceMs = missedFiringGraceMs(config.checkIntervalMs);
    this.startAt = new StartAt({
      cluster: deps.cluster,
      nomad,
      rules: this.rules,
      nodeId,
      clock,
      log,
      dryRun: config.dryRun,
      graceMs: this.graceMs,
      leaseMs: LEASE_INTERVALS * config.checkIntervalMs,
      notifier: deps.notifier,
    });
  }

  /** Watches and samples until the signal aborts; an action in flight is allowed to finish. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, config, log, metrics } = this.deps;
    const watching = this.watch.run(signal);
    await this.restore();
    this.deps.sampler.onBaseline?.((reading) => this.takeBaseline(reading));
    let nextTick = clock.now();
    while (!signal.aborted) {
      const started = clock.now();
      await this.cycle(signal).catch((error: unknown) => {
        log.error(`sampling cycle failed: ${(error as Error).message}`);
      });
      nextTick += config.checkIntervalMs;
      const now = clock.now();
      this.lastCycleAt = now;
      metrics.cycleDuration.observe((now - started) / 1000);
      if (now > nextTick) {
        const skipped = Math.ceil((now - nextTick) / config.checkIntervalMs);
        metrics.cyclesSkipped.inc(skipped);
        log.warn(
          `a sampling cycle took ${formatDuration(now - started)}, longer than CHECK_INTERVAL (${formatDuration(config.checkIntervalMs)}); skipping ${skipped} tick(s)`,
        );
        nextTick += skipped * config.checkIntervalMs;
      }
      await clock.sleep(nextTick - clock.now(), signal);
    }
    await watching;
  }

  /** One sampling cycle: sample → decide → plan → act. */
  async cycle(signal?: AbortSignal): Promise<void> {
    const { clock, cluster } = this.deps;
    // Before the first list of the node's allocations nothing is known, and nothing is published.
    if (!this.view.seeded) return;
    const { watched, notes } = watchedGroups(this.view.live(), this.rules);
    for (const job of notes) this.sayNotes(job);
    this.forgetWhatIsGone(watched);

    // Sampled even with nothing to measure: the sampler's answer says whether the Docker Engine does.
    await this.measure(watched, clock.now());
    // Published whether or not anything is watched here: the heartbeat says this node's monitor runs.
    this.lastReport = this.report(watched);
    await cluster.publish(this.lastReport);
    await cluster.refresh();
    const now = clock.now();
    const byJob = new Map<string, GroupCycle[]>();
    for (const group of watched) {
      this.restartTimersIfChanged(group, now);
      const key = jobKey(group.namespace, group.jobId);
      byJob.set(key, [...(byJob.get(key) ?? []), { group, verdict: this.decide(group, now) }]);
    }
    this.updateGroupMetrics([...byJob.values()].flat(), notes);
    for (const [key, groups] of byJob) {
      if (signal?.aborted) break;
      await this.actOnJob(key, groups, now, signal).catch((error: unknown) => {
        if (signal?.aborted) return;
        // One bad job never stops the others.
        const [{ group }] = groups as [GroupCycle];
        if (this.notices.shouldSay(`act:${key}`))
          this.deps.log.error(`acting on job ${group.jobId} failed: ${(error as Error).message}`);
      });
    }
    this.stopAtRestoredFrom = undefined;
    if (!signal?.aborted)
      await this.startAt.run(signal).catch((error: unknown) => {
        if (this.notices.shouldSay("start-at"))
          this.deps.log.error(`start-at failed: ${(error as Error).message}`);
      });
    // A cooldown begun this cycle is published at once, so that it survives a restart right after.
    this.lastReport = this.report(watched);
    await cluster.publish(this.lastReport);
  }

  /** This node's view for /v1/status: its watched groups as its last report tells them. */
  status(): { node: string; groups: GroupStatus[] } {
    const { nodeId, clock, config } = this.deps;
    if (!this.lastReport) return { node: nodeId, groups: [] };
    const { heartbeatMs } = exchangeTiming(config.checkIntervalMs);
    return { node: nodeId, groups: nodeStatus({ ...this.lastReport, heartbeatMs }, clock.now()) };
  }

  /**
   * Picks up where this node left off before a restart: cooldowns at once, and each allocation's timer
   * and counters when it is first measured again (if it is still live).
   */
  private async restore(): Promise<void> {
    const { cluster, clock, log } = this.deps;
    this.restored = await cluster.restore();
    if (!this.restored) return;
    this.stopAtRestoredFrom = this.restored.writtenAt;
    const now = clock.now();
    for (const [key, until] of Object.entries(this.restored.cooldowns)) {
      if (until > now) this.cooldownUntil.set(key, until);
    }
    const allocs = Object.keys(this.restored.allocs).length;
    log.info(
      `resuming from this node's last report: ${allocs} allocation${allocs === 1 ? "" : "s"}, ${this.cooldownUntil.size} job${this.cooldownUntil.size === 1 ? "" : "s"} in cooldown`,
    );
  }

  /**
   * A reading the sampler took as soon as a new container started, outside the cycle: the allocation's
   * baseline, so that its first cycle already measures traffic instead of starting the count.
   */
  private takeBaseline(reading: Reading): void {
    const { allocId } = reading;
    if (reading.state !== "measured" || this.latest.has(allocId)) return;
    const group = watchedGroups(this.view.live(), this.rules).watched.find((candidate) =>
      candidate.allocations.some((alloc) => alloc.id === allocId),
    );
    const alloc = group?.allocations.find((candidate) => candidate.id === allocId);
    if (!group || !alloc) return;
    this.resume(allocId);
    if (this.meter.lastGood(allocId)) return;
    const activity = this.meter.measure(reading, this.thresholdOf(group));
    this.tracker.record(activity, alloc.startedAt);
    this.latest.set(allocId, activity.state);
    this.unknownStreak.set(allocId, 0);
    this.groupLog(group).debug(
      `job ${group.jobId} group ${group.group} allocation ${shortId(allocId)}: ${activity.state}, ${activity.reason} (taken as soon as it was seen)`,
    );
  }

  /**
   * New allocations are measured as soon as the stream tells of them, outside the cycle; those whose
   * containers are not up yet get their baseline when the sampler sees them start (takeBaseline).
   */
  private async baselineNewAllocations(): Promise<void> {
    const { sampler, clock } = this.deps;
    const fresh = watchedGroups(this.view.live(), this.rules)
      .watched.flatMap((group) => group.allocations.map((alloc) => alloc.id))
      .filter((allocId) => !this.latest.has(allocId));
    if (fresh.length === 0) return;
    const readings = await sampler.sample(fresh, clock.now()).catch(() => undefined);
    for (const reading of readings?.values() ?? []) this.takeBaseline(reading);
  }

  private resume(allocId: string): void {
    const record = this.restored?.allocs[allocId];
    if (!record || this.latest.has(allocId)) return;
    delete this.restored?.allocs[allocId];
    if (record.counters && record.countersAt !== undefined)
      this.meter.resume(allocId, record.countersAt, new Map(Object.entries(record.counters)));
    if (record.quietSince !== undefined)
      this.tracker.resume(allocId, record.quietSince, record.bytesSinceActive ?? 0);
  }

  /** This node's report: what other nodes need to decide, and what this node needs after a restart. */
  private report(watched: readonly WatchedGroup[]): Omit<NodeReport, "heartbeatMs"> {
    const { clock, nodeId } = this.deps;
    const now = clock.now();
    const allocs: Record<string, AllocRecord> = {};
    for (const group of watched) {
      for (const alloc of group.allocations) allocs[alloc.id] = this.record(group, alloc.id, now);
    }
    return { v: 1, nodeId, writtenAt: now, allocs, cooldowns: Object.fromEntries(this.cooldownUntil) };
  }

  private record(group: WatchedGroup, allocId: string, now: number): AllocRecord {
    const state = this.tracker.stateOf(allocId);
    const lastGood = this.meter.lastGood(allocId);
    const measured = state.unknownReason === undefined;
    const quiet = measured && this.latest.get(allocId) === "quiet";
    return {
      namespace: group.namespace,
      job: group.jobId,
      group: group.group,
      timeoutMs: group.policy.timeoutMs,
      action: group.policy.action,
      state: !measured ? "unknown" : quiet ? "quiet" : "active",
      ...(quiet && state.quietSince !== undefined ? { quietForMs: now - state.quietSince } : {}),
      quietSince: state.quietSince,
      bytesSinceActive: state.bytesSinceActive,
      counters: lastGood && Object.fromEntries(lastGood.counters),
      countersAt: lastGood?.at,
    };
  }

  private async measure(watched: readonly WatchedGroup[], at: number): Promise<void> {
    const { log, sampler, config, metrics } = this.deps;
    const allocations = watched.flatMap((group) => group.allocations.map((alloc) => ({ alloc, group })));
    let readings: Map<string, Reading>;
    try {
      readings = await sampler.sample(
        allocations.map(({ alloc }) => alloc.id),
        at,
      );
      this.dockerAnswers = true;
      if (this.notices.clear("docker")) log.info("the Docker Engine answers again; sampling resumed");
      if (sampler.procRootVisible?.() === false) {
        this.said.say(NODE_SCOPE, "proc-root", () =>
          log.error(
            `cannot see any container's processes under PROC_ROOT=${config.procRoot}: mount the host's /proc read-only at /host/proc (the job spec in nomad/ does); until then nothing can be measured`,
          ),
        );
      }
    } catch (error) {
      this.dockerAnswers = false;
      metrics.dockerErrors.inc();
      if (this.notices.shouldSay("docker")) {
        log.warn(
          `cannot reach the Docker Engine: ${(error as Error).message}; allocations count as unknown until it answers`,
        );
      }
      const reason = "Docker Engine unreachable";
      readings = new Map(
        allocations.map(({ alloc }) => [alloc.id, { allocId: alloc.id, at, state: "unknown", reason }]),
      );
    }
    const measured = allocations.map(({ alloc, group }) => {
      this.resume(alloc.id);
      const reading: Reading = readings.get(alloc.id) ?? {
        allocId: alloc.id,
        at,
        state: "unknown",
        reason: "not sampled",
      };
      return { alloc, group, activity: this.meter.measure(reading, this.thresholdOf(group)) };
    });
    await this.readSignals(measured);
    for (const { alloc, group, activity } of measured) {
      this.tracker.record(activity, alloc.startedAt);
      this.latest.set(alloc.id, activity.state);
      metrics.readings.inc({ state: activity.state === "unknown" ? "unknown" : "measured" });
      const streak =
        activity.state === "unknown" && alloc.running ? (this.unknownStreak.get(alloc.id) ?? 0) + 1 : 0;
      this.unknownStreak.set(alloc.id, streak);
      const what = `job ${group.jobId} group ${group.group} allocation ${shortId(alloc.id)}`;
      this.groupLog(group).debug(`${what}: ${activity.state}, ${activity.reason}`);
      if (activity.signal !== undefined) {
        this.said.say(jobKey(group.namespace, group.jobId), `signal:${alloc.id}:${activity.signal}`, () =>
          this.groupLog(group).info(`${what} is active though quiet by bytes: ${activity.reason}`),
        );
      }
    }
  }

  /** Bytes per interval that count, less the job's own health checks when `idle-monitor.ignore-checks` is on. */
  private thresholdOf(group: WatchedGroup): ActivityThreshold {
    const { thresholdBytes, signals } = group.policy;
    const checks = signals.ignoreChecks ? groupChecks(group.job, group.group) : [];
    return { thresholdBytes, checkIntervalMs: this.deps.config.checkIntervalMs, checks };
  }

  /**
   * The signals beyond bytes (CPU, open connections), read only for allocations quiet by bytes whose group
   * turns one on (a busy allocation costs nothing more), and then only when they can change what is done
   * (SignalSchedule).
   */
  private async readSignals(
    measured: Array<{ alloc: { id: string }; group: WatchedGroup; activity: Activity }>,
  ): Promise<void> {
    const { checkIntervalMs } = this.deps.config;
    const gated = measured.flatMap((entry) => {
      if (entry.activity.state !== "quiet") return [];
      const { allocId, at } = entry.activity;
      const { cpuPercent } = entry.group.policy.signals;
      const cpuDue =
        cpuPercent !== undefined && this.meter.cpuReadDue(allocId, at, cpuPercent, checkIntervalMs);
      const { quietSince } = this.tracker.stateOf(allocId);
      const settings = this.signalSchedule.toRead(allocId, entry.group.policy, quietSince, at, cpuDue);
      if (settings.cpuPercent === undefined && settings.connections.kind === "off") return [];
      return [{ entry, settings }];
    });
    // Called with none too: the adapter lets go of what it keeps for allocations no longer read.
    const requests = gated.map(({ entry, settings }) => ({
      allocId: entry.alloc.id,
      cpu: settings.cpuPercent !== undefined,
      connections: settings.connections,
    }));
    const readings = (await this.deps.signals?.read(requests)) ?? new Map();
    for (const { entry, settings } of gated) {
      const reading = readings.get(entry.alloc.id) ?? {};
      entry.activity = this.meter.withSignals(entry.activity, reading, settings, checkIntervalMs);
    }
  }

  /**
   * A group whose policy or tasks changed (someone re-ran the job) is measured again from now: a job
   * touched at its deadline is not stopped on the strength of the version before.
   */
  private restartTimersIfChanged(group: WatchedGroup, now: number): void {
    const fingerprint = groupFingerprint(group.job, group.group, group.policy);
    const previous = this.fingerprints.get(group.key);
    this.fingerprints.set(group.key, fingerprint);
    if (previous === undefined || previous === fingerprint) return;
    for (const alloc of group.allocations) this.tracker.restart(alloc.id, now);
    this.groupLog(group).info(
      `job ${group.jobId} group ${group.group} changed (job version ${group.job.Version}); its idle timer starts over`,
    );
  }

  private decide(group: WatchedGroup, now: number): GroupVerdict {
    const { config } = this.deps;
    const states = group.allocations.map((alloc) => this.tracker.stateOf(alloc.id));
    const decision = decideGroup(states, group.policy, now, config.checkIntervalMs);
    const log = this.groupLog(group);
    const previous = this.lastDecision.get(group.key);
    this.lastDecision.set(group.key, decision.kind);
    const what = `job ${group.jobId} group ${group.group}`;
    if (previous === undefined) {
      const { timeoutMs, thresholdBytes, action } = group.policy;
      log.info(
        `watching ${what}: ${action === "stop" ? "stop the job" : "scale the group to 0"} after ${formatDuration(timeoutMs)} without more than ${thresholdBytes} B per ${formatDuration(config.checkIntervalMs)}${group.policy.schedule.describe()}`,
      );
    }
    if (decision.kind === "unknown") this.reportUnknown(group, decision);
    if (decision.kind === "active" && previous === "idle") log.info(`${what} is active again`);
    log.debug(`${what}: ${decision.kind}: ${decision.reason}`);
    const measured = group.allocations
      .filter((alloc) => this.tracker.stateOf(alloc.id).unknownReason === undefined)
      .map((alloc) => alloc.id);
    return { group: group.group, policy: group.policy, decision, measured: new Set(measured) };
  }

  private updateGroupMetrics(groups: readonly GroupCycle[], notes: readonly JobNotes[]): void {
    const { metrics } = this.deps;
    const counts: Record<GroupState, number> = { quiet: 0, active: 0, unknown: 0, invalid: 0 };
    const seen = new Map(groups.map(({ group }) => [group.key, group]));
    for (const [key, labels] of this.seriesOf) {
      if (seen.has(key)) continue;
      metrics.secondsUntilAction.remove(labels);
      this.seriesOf.delete(key);
    }
    for (const { group, verdict } of groups) {
      const { decision, policy } = verdict;
      const labels = { namespace: group.namespace, job: group.jobId, group: group.group };
      this.seriesOf.set(group.key, labels);
      const active = group.allocations.some((alloc) => this.latest.get(alloc.id) !== "quiet");
      counts[decision.kind === "unknown" ? "unknown" : active ? "active" : "quiet"] += 1;
      if (decision.kind === "unknown") metrics.secondsUntilAction.remove(labels);
      else metrics.secondsUntilAction.set(labels, Math.max(0, policy.timeoutMs - decision.idleForMs) / 1000);
    }
    counts.invalid = notes
      .flatMap((job) => job.notes)
      .filter((note) => note.kind === "not-watched" && note.why.kind === "invalid-meta").length;
    for (const [state, count] of Object.entries(counts)) metrics.groups.set({ state }, count);
  }

  /** Containers of a new placement take a few readings to appear: only a lasting unknown is a warning. */
  private reportUnknown(group: WatchedGroup, decision: Extract<GroupDecision, { kind: "unknown" }>): void {
    const lasting = decision.unmeasured.some(
      (allocId) => (this.unknownStreak.get(allocId) ?? 0) >= UNKNOWN_READINGS_BEFORE_WARNING,
    );
    if (!lasting) return;
    const what = `job ${group.jobId} group ${group.group}`;
    this.said.say(jobKey(group.namespace, group.jobId), `unknown:${group.group}:${decision.why}`, () =>
      this.groupLog(group).warn(`cannot measure ${what}: ${decision.reason}; it is not treated as idle`),
    );
  }

  /** `decidedAt`: when the groups' decisions were made (their idle times count from then). */
  private async actOnJob(
    key: string,
    groups: readonly GroupCycle[],
    decidedAt: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const { clock, nodeId, cluster, config } = this.deps;
    const [{ group: first }] = groups as [GroupCycle];
    const now = clock.now();
    const fired = this.firedStopAt(groups, now);
    if (fired) return this.actOnFiring(key, fired, signal);
    this.warnAhead(groups, decidedAt);
    // A schedule holding back every idle group, or the cooldown, needs no fresh look at the job.
    const triaged = triage(
      groups.map(({ verdict }) => verdict),
      this.cooldownUntil.get(key),
      now,
    );
    const byGroup = new Map(groups.map((entry) => [entry.group.group, entry]));
    for (const [name, held] of triaged.held) this.onWait((byGroup.get(name) as GroupCycle).group, held);
    if (!triaged.look) return;

    // Re-read right before acting: the view may lag, and a stop cannot be undone.
    const { job, allocations } = await this.freshLook(first.namespace, first.jobId, signal);
    if (signal?.aborted) return;
    if (job) this.view.updateJob(job);
    const outcomes = planJob({
      nodeId,
      decidedOn: first.job,
      verdicts: groups.map(({ verdict }) => verdict),
      fresh: job,
      allocations,
      peers: cluster.sharing ? cluster.evidence() : [],
      takeoverMs: TAKEOVER_INTERVALS * config.checkIntervalMs,
      now: clock.now(),
      triage: triaged,
      rules: this.rules,
    });
    const actions = outcomes.filter((outcome) => outcome.kind !== "wait");
    for (const outcome of outcomes) {
      if (outcome.kind === "wait")
        this.onWait((byGroup.get(outcome.group) as GroupCycle).group, outcome.cause);
    }
    const [firstAction] = actions;
    if (!firstAction || signal?.aborted) return;
    if (!(await this.claim(first, firstAction.kind, spansNodes(actions)))) return;

    await this.carryOut(
      key,
      first,
      job,
      actions,
      (outcome) => {
        const { verdict } = byGroup.get(outcome.group) as GroupCycle;
        return `group ${outcome.group} ${describeIdleness(verdict, outcome.otherNodes, config.checkIntervalMs)}`;
      },
      signal,
    );
  }

  /** Records what `wake` needs, then scales and stops as planned; each action's outcome, with its groups. */
  private async carryOut(
    key: string,
    first: WatchedGroup,
    job: Job | undefined,
    actions: readonly ActionPlanned[],
    reasonOf: (outcome: ActionPlanned) => string,
    signal?: AbortSignal,
  ): Promise<Array<{ groups: string[]; result: ActionOutcome }>> {
    const target = { namespace: first.namespace, jobId: first.jobId };
    if (!this.deps.config.dryRun && job) await this.recordWake(first, job, actions);
    const carried: Array<{ groups: string[]; result: ActionOutcome }> = [];
    for (const outcome of actions) {
      if (outcome.kind !== "scale" || signal?.aborted) continue;
      const reason = reasonOf(outcome);
      const result = await this.deps.actions.scaleToZero(target, outcome.group, reason, signal);
      const what = `scale group ${outcome.group} of job ${first.jobId}`;
      this.afterAction(key, "scale", result, what, { group: first, scaled: outcome.group, reason }, signal);
      carried.push({ groups: [outcome.group], result });
    }
    const stopping = actions.filter((outcome) => outcome.kind === "stop");
    if (stopping.length === 0 || signal?.aborted) return carried;
    const reason = stopping.map(reasonOf).join("; ");
    const result = await this.deps.actions.stopJob(target, reason, signal);
    this.afterAction(key, "stop", result, `stop job ${first.jobId}`, { group: first, reason }, signal);
    carried.push({ groups: stopping.map((outcome) => outcome.group), result });
    return carried;
  }

  /** The groups whose stop-at came due since the last cycle (or is still to be carried out). */
  private firedStopAt(groups: readonly GroupCycle[], now: number): Fired | undefined {
    return firedTogether(groups.map((entry) => ({ group: entry, firing: this.dueStopAt(entry.group, now) })));
  }

  private dueStopAt(group: WatchedGroup, now: number): number | undefined {
    const { schedule } = group.policy;
    const look = lookAtStopAt({
      schedule,
      memory: this.stopAt.get(group.key),
      restoredFrom: this.stopAtRestoredFrom,
      startedAt: group.allocations.map((alloc) => alloc.startedAt),
      now,
      graceMs: this.graceMs,
    });
    if (look.memory) this.stopAt.set(group.key, look.memory);
    if (look.skipped)
      this.groupLog(group).info(
        describeSkippedFiring(group.jobId, group.group, schedule.timezone, look.skipped, this.graceMs),
      );
    return look.firing;
  }

  /** The firing of the group is done with: carried out, or no longer to be. */
  private settleStopAt(group: WatchedGroup): void {
    const memory = this.stopAt.get(group.key);
    if (memory) this.stopAt.set(group.key, { ...memory, pending: undefined });
  }

  /** A stop-at fired: the job is stopped (or the groups scaled to zero) whatever its activity, by one node. */
  private async actOnFiring(key: string, fired: Fired, signal?: AbortSignal): Promise<void> {
    const { clock, nodeId } = this.deps;
    const [{ group: first }] = fired.groups as [GroupCycle];
    const { job, allocations } = await this.freshLook(first.namespace, first.jobId, signal);
    if (signal?.aborted) return;
    if (job) this.view.updateJob(job);
    const byGroup = new Map(fired.groups.map((entry) => [entry.group.group, entry]));
    const outcomes = planFiring({
      nodeId,
      fired: fired.groups.map(({ verdict }) => ({ group: verdict.group, policy: verdict.policy })),
      firing: fired.firing,
      fresh: job,
      allocations,
      now: clock.now(),
      rules: this.rules,
    });
    const reasonOf = (group: string) =>
      describeFiring(group, (byGroup.get(group) as GroupCycle).group.policy.schedule, fired.firing);
    for (const outcome of outcomes) {
      if (outcome.kind !== "wait") continue;
      const { group } = byGroup.get(outcome.group) as GroupCycle;
      this.settleStopAt(group);
      this.groupLog(group).info(
        describeFiringWait(
          group.jobId,
          group.group,
          group.policy.schedule,
          fired.firing,
          outcome.cause,
          clock.now(),
        ),
      );
    }
    const actions = outcomes.filter((outcome) => outcome.kind !== "wait");
    const [firstAction] = actions;
    if (!firstAction || signal?.aborted) return;
    if (!(await this.claim(first, firstAction.kind, spansNodes(actions)))) {
      for (const entry of fired.groups) this.settleStopAt(entry.group);
      return;
    }
    const carried = await this.carryOut(
      key,
      first,
      job,
      actions,
      (outcome) => reasonOf(outcome.group),
      signal,
    );
    for (const { groups, result } of carried) {
      if (result.kind !== "done" && result.kind !== "dry-run") continue;
      for (const group of groups) this.settleStopAt((byGroup.get(group) as GroupCycle).group);
    }
  }

  /**
   * One info line (and a `warned` event) when a group is within its warn-before of being acted on: its
   * stop-at, or its idle timeout if it stays quiet — not when its schedule would hold the action back.
   */
  private warnAhead(groups: readonly GroupCycle[], now: number): void {
    const { config } = this.deps;
    for (const { group, verdict } of groups) {
      for (const warning of warningsDue(verdict, now, config.checkIntervalMs))
        this.warnOnce(
          group,
          warning.kind,
          warning.at,
          describeWarning(group.jobId, group.group, verdict.policy, warning, now),
        );
    }
  }

  private warnOnce(group: WatchedGroup, kind: string, at: number, line: string): void {
    const warned = this.warned.get(group.key) ?? new Map<string, number>();
    this.warned.set(group.key, warned);
    if (warned.get(kind) === at) return;
    warned.set(kind, at);
    this.groupLog(group).info(line);
    this.notify(group, "warned", line, group.group);
  }

  /** Before acting: what `wake` needs to bring the job back as it was, or the groups' counts. */
  private async recordWake(group: WatchedGroup, job: Job, actions: readonly GroupOutcome[]): Promise<void> {
    const { cluster, nodeId, clock } = this.deps;
    const stopping = actions.some((outcome) => outcome.kind === "stop");
    const scaled = Object.fromEntries(
      actions
        .filter((outcome) => outcome.kind === "scale")
        .map(({ group: name }) => [
          name,
          job.TaskGroups.find((candidate) => candidate.Name === name)?.Count ?? 1,
        ]),
    );
    await cluster.recordWake({
      v: 1,
      namespace: group.namespace,
      jobId: group.jobId,
      node: nodeId,
      at: clock.now(),
      ...(stopping ? { stopped: job } : { scaled }),
    });
  }

  /**
   * Only one node acts on a job: the action is claimed in the cluster first. When claims cannot be
   * written, a job that runs only here is acted on all the same; one that spans nodes is not.
   */
  private async claim(group: WatchedGroup, action: "stop" | "scale", spansNodes: boolean): Promise<boolean> {
    const { cluster, config } = this.deps;
    if (!mustClaim(cluster.sharing, spansNodes)) return true;
    const claim = await cluster.claim(group.namespace, group.jobId, action, config.actionCooldownMs);
    if (claimLetsAct(claim, spansNodes)) return true;
    this.groupLog(group).debug(
      `job ${group.jobId}: ${claim === "held" ? "another node claimed the action" : "cannot claim the action"}; not acting`,
    );
    return false;
  }

  /** The job and its allocations everywhere, read now; a rejected token is reloaded and the read tried once more. */
  private async freshLook(
    namespace: string,
    jobId: string,
    signal?: AbortSignal,
  ): Promise<{ job: Job | undefined; allocations: AllocationListStub[] }> {
    const { nomad, token } = this.deps;
    for (let attempt = 0; ; attempt++) {
      try {
        const job = await nomad.job(namespace, jobId, signal);
        const allocations = job ? await nomad.jobAllocations(namespace, jobId, signal) : [];
        return { job, allocations };
      } catch (error) {
        if (!(error instanceof NomadError) || error.kind !== "auth" || attempt > 0) throw error;
        await token.load();
      }
    }
  }

  private onWait(group: WatchedGroup, cause: WaitCause): void {
    const { clock } = this.deps;
    const log = this.groupLog(group);
    const line = describeWait(group.jobId, group.group, cause, clock.now());
    const scope = jobKey(group.namespace, group.jobId);
    switch (cause.kind) {
      case "job-changed":
        for (const alloc of group.allocations) this.tracker.restart(alloc.id, clock.now());
        log.info(line);
        return;
      case "scaling-min":
        this.said.say(scope, `scaling-min:${group.group}:${cause.min}`, () => log.warn(line));
        return;
      case "excluded":
      case "keep-alive":
        this.said.say(scope, `${cause.kind}:${group.group}:${cause.untilMs}`, () => log.info(line));
        return;
      case "awaiting-nodes":
      case "other-groups":
      case "unmeasured-allocations":
        this.said.say(scope, `${cause.kind}:${group.group}:${waitKey(cause)}`, () => log.info(line));
        return;
      default:
        log.debug(line);
    }
  }

  private afterAction(
    key: string,
    kind: ActionKind,
    outcome: ActionOutcome,
    what: string,
    about: { group: WatchedGroup; scaled?: string; reason: string },
    signal?: AbortSignal,
  ): void {
    const { clock, config, log, metrics } = this.deps;
    metrics.actions.inc({ kind, outcome: outcome.kind });
    const { group, scaled, reason } = about;
    const until = cooldownAfter(outcome, clock.now(), config.actionCooldownMs);
    if (until !== undefined) this.cooldownUntil.set(key, until);
    if (outcome.kind === "done") {
      this.notify(group, kind === "scale" ? "scaled" : "stopped", reason, scaled);
      return;
    }
    if (signal?.aborted || outcome.kind === "dry-run") return;
    if (this.notices.shouldSay(`action:${key}:${what}`)) {
      const retry = outcome.kind === "refused" ? "will try again next cycle" : "will try again";
      log.warn(`could not ${what}: ${outcome.message}; ${retry}`);
      if (outcome.kind === "failed")
        this.notify(group, "failed", `could not ${what}: ${outcome.message}`, scaled);
    }
  }

  /** Tells the job's owners through the webhooks, if any are set. */
  private notify(group: WatchedGroup, type: MonitorEvent["type"], reason: string, groupName?: string): void {
    const { notifier, clock, nodeId } = this.deps;
    notifier?.notify(
      {
        type,
        namespace: group.namespace,
        job: group.jobId,
        ...(groupName !== undefined ? { group: groupName } : {}),
        reason,
        node: nodeId,
        at: clock.now(),
      },
      group.policy.webhook,
    );
  }

  private sayNotes({ namespace, jobId, jobModifyIndex, notes }: JobNotes): void {
    const scope = jobKey(namespace, jobId);
    const log = this.deps.log.child({ job: jobId, namespace });
    for (const note of notes) {
      if (note.kind === "task-key-ignored") {
        this.said.say(scope, `task-key:${jobModifyIndex}:${note.group}/${note.task}/${note.key}`, () =>
          log.warn(
            `job ${jobId}: meta key ${note.key} on task ${note.task} (group ${note.group}) is ignored; set it on the job or the group`,
          ),
        );
        continue;
      }
      const { group, why } = note;
      if (why.kind === "namespace-not-allowed") {
        this.said.say(scope, `namespace:${jobModifyIndex}`, () =>
          log.info(
            `job ${jobId} opted in, but namespace ${namespace} is not in NAMESPACES; leaving it alone`,
          ),
        );
      } else if (why.kind === "invalid-meta") {
        for (const problem of why.problems) {
          this.said.say(scope, `invalid:${jobModifyIndex}:${group}:${problem.scope}:${problem.key}`, () =>
            log.warn(
              `job ${jobId} group ${group}: ${problem.scope} meta ${problem.key}="${problem.value}" is not valid (expected ${problem.expected}); leaving the group alone`,
            ),
          );
        }
      } else if (why.kind === "other-driver") {
        this.said.say(scope, `driver:${jobModifyIndex}:${group}`, () =>
          log.warn(
            `job ${jobId} group ${group} opted in but cannot be measured: task ${why.task} uses the ${why.driver} driver (only docker is supported); leaving it alone`,
          ),
        );
      }
    }
  }

  private forgetWhatIsGone(watched: readonly WatchedGroup[]): void {
    const jobsHere = new Set(this.view.live().map((alloc) => jobKey(alloc.namespace, alloc.jobId)));
    this.said.forgetScopesExcept((scope) => scope === NODE_SCOPE || jobsHere.has(scope));
    const groups = new Set(watched.map((group) => group.key));
    for (const map of [this.lastDecision, this.fingerprints, this.stopAt, this.warned]) {
      for (const key of map.keys()) if (!groups.has(key)) map.delete(key);
    }
    const now = this.deps.clock.now();
    for (const [key, until] of this.cooldownUntil) {
      if (until <= now) this.cooldownUntil.delete(key);
    }
    const allocations = new Set(watched.flatMap((group) => group.allocations.map((alloc) => alloc.id)));
    for (const allocId of this.unknownStreak.keys()) {
      if (allocations.has(allocId)) continue;
      this.meter.forget(allocId);
      this.tracker.forget(allocId);
      this.signalSchedule.forget(allocId);
      this.unknownStreak.delete(allocId);
    }
  }

  private groupLog(group: WatchedGroup): Logger {
    return this.deps.log.child({ job: group.jobId, namespace: group.namespace, group: group.group });
  }
}

import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { WatchedGroup } from "../decide/eligibility.js";
import { ActivityTracker, type AllocActivityState } from "../decide/idle-timer.js";
import { type ActivityThreshold, TrafficMeter } from "../decide/meter.js";
import { SignalSchedule } from "../decide/signal-schedule.js";
import type { MonitorMetrics } from "../metrics.js";
import { shortId } from "../model/allocation.js";
import type { AllocRecord } from "../model/cluster.js";
import type { Activity, NamespaceCounters, Reading } from "../model/readings.js";
import type { ActivitySignals, NetworkSampler } from "../ports.js";
import { groupChecks } from "../signals/check-budget.js";
import type { Say } from "./say.js";
import type { StateStore } from "./state.js";

export interface MeasureDeps {
  sampler: NetworkSampler;
  /** CPU time and inbound sessions (issue 12); without it, an allocation with either signal on is unknown. */
  signals?: ActivitySignals;
  checkIntervalMs: number;
  procRoot: string;
  clock: Clock;
  log: Logger;
  metrics: MonitorMetrics;
  say: Say;
  store: StateStore;
}

interface Measured {
  alloc: { id: string; startedAt: number; running: boolean };
  group: WatchedGroup;
  activity: Activity;
}

/**
 * Turns the sampler's readings into each allocation's activity and idle timer: the cycle's readings, the
 * baselines taken as soon as a container starts, the signals beyond bytes where they can change what is
 * done, and the timers and counters this node had before a restart.
 */
export class Measure {
  readonly #deps: MeasureDeps;
  readonly #meter = new TrafficMeter();
  readonly #tracker = new ActivityTracker();
  readonly #signalSchedule: SignalSchedule;
  /** Each allocation's latest activity, for this node's report. */
  readonly #latest: Map<string, Activity["state"]>;
  /** Readings in a row a running allocation could not be measured: a lasting unknown is worth a warning. */
  readonly #unknownStreak: Map<string, number>;
  /** What this node reported before a restart, for the allocations not measured since. */
  #restored: Record<string, AllocRecord> = {};
  /** Whether the Docker Engine answered in the last cycle (/readyz). */
  dockerAnswers = false;

  constructor(deps: MeasureDeps) {
    this.#deps = deps;
    this.#signalSchedule = new SignalSchedule(deps.checkIntervalMs);
    const { store } = deps;
    store.add("allocation", this.#meter);
    store.add("allocation", this.#tracker);
    store.add("allocation", this.#signalSchedule);
    this.#latest = store.map("allocation");
    this.#unknownStreak = store.map("allocation");
  }

  /** Continues each allocation's timer and counters from this node's last report, when it is measured again. */
  resumeFrom(allocs: Record<string, AllocRecord>): void {
    this.#restored = { ...allocs };
  }

  stateOf(allocId: string): AllocActivityState {
    return this.#tracker.stateOf(allocId);
  }

  latest(allocId: string): Activity["state"] | undefined {
    return this.#latest.get(allocId);
  }

  unknownStreak(allocId: string): number {
    return this.#unknownStreak.get(allocId) ?? 0;
  }

  lastGood(allocId: string): { at: number; counters: NamespaceCounters } | undefined {
    return this.#meter.lastGood(allocId);
  }

  /** The group's idle timers start over at `at` (its job changed under it). */
  restartTimers(group: WatchedGroup, at: number): void {
    for (const alloc of group.allocations) this.#tracker.restart(alloc.id, at);
  }

  /**
   * A reading the sampler took as soon as a new container started, outside the cycle: the allocation's
   * baseline, so that its first cycle already measures traffic instead of starting the count.
   */
  takeBaseline(reading: Reading, watched: () => readonly WatchedGroup[]): void {
    const { allocId } = reading;
    if (reading.state !== "measured" || this.#latest.has(allocId)) return;
    const group = watched().find((candidate) => candidate.allocations.some((alloc) => alloc.id === allocId));
    const alloc = group?.allocations.find((candidate) => candidate.id === allocId);
    if (!group || !alloc) return;
    this.#resume(allocId);
    if (this.#meter.lastGood(allocId)) return;
    const activity = this.#meter.measure(reading, this.#thresholdOf(group));
    this.#tracker.record(activity, alloc.startedAt);
    this.#latest.set(allocId, activity.state);
    this.#unknownStreak.set(allocId, 0);
    this.#deps.say
      .groupLog(group)
      .debug(
        `job ${group.jobId} group ${group.group} allocation ${shortId(allocId)}: ${activity.state}, ${activity.reason} (taken as soon as it was seen)`,
      );
  }

  /**
   * New allocations are measured as soon as the stream tells of them, outside the cycle; those whose
   * containers are not up yet get their baseline when the sampler sees them start (takeBaseline).
   */
  async baselineNew(watched: () => readonly WatchedGroup[]): Promise<void> {
    const { sampler, clock } = this.#deps;
    const fresh = watched()
      .flatMap((group) => group.allocations.map((alloc) => alloc.id))
      .filter((allocId) => !this.#latest.has(allocId));
    if (fresh.length === 0) return;
    const readings = await sampler.sample(fresh, clock.now()).catch(() => undefined);
    for (const reading of readings?.values() ?? []) this.takeBaseline(reading, watched);
  }

  /** The cycle's readings of every watched allocation; what cannot be sampled is unknown, never quiet. */
  async sample(watched: readonly WatchedGroup[], at: number): Promise<void> {
    const { metrics, say } = this.#deps;
    const allocations = watched.flatMap((group) => group.allocations.map((alloc) => ({ alloc, group })));
    const readings = await this.#read(
      allocations.map(({ alloc }) => alloc.id),
      at,
    );
    const measured = allocations.map(({ alloc, group }) => {
      this.#resume(alloc.id);
      const reading: Reading = readings.get(alloc.id) ?? {
        allocId: alloc.id,
        at,
        state: "unknown",
        reason: "not sampled",
      };
      return { alloc, group, activity: this.#meter.measure(reading, this.#thresholdOf(group)) };
    });
    await this.#readSignals(measured);
    for (const { alloc, group, activity } of measured) {
      this.#tracker.record(activity, alloc.startedAt);
      this.#latest.set(alloc.id, activity.state);
      metrics.readings.inc({ state: activity.state === "unknown" ? "unknown" : "measured" });
      const streak = activity.state === "unknown" && alloc.running ? this.unknownStreak(alloc.id) + 1 : 0;
      this.#unknownStreak.set(alloc.id, streak);
      const what = `job ${group.jobId} group ${group.group} allocation ${shortId(alloc.id)}`;
      say.groupLog(group).debug(`${what}: ${activity.state}, ${activity.reason}`);
      if (activity.signal !== undefined) {
        say.onceOfAllocation(alloc.id, `signal:${activity.signal}`, () =>
          say.groupLog(group).info(`${what} is active though quiet by bytes: ${activity.reason}`),
        );
      }
    }
  }

  /** The sampler's readings; all unknown when the Docker Engine cannot be reached (said once a minute). */
  async #read(allocIds: readonly string[], at: number): Promise<Map<string, Reading>> {
    const { log, sampler, procRoot, metrics, say } = this.#deps;
    try {
      const readings = await sampler.sample(allocIds, at);
      this.dockerAnswers = true;
      if (say.cleared("docker")) log.info("the Docker Engine answers again; sampling resumed");
      if (sampler.procRootVisible?.() === false) {
        say.onceOfNode("proc-root", () =>
          log.error(
            `cannot see any container's processes under PROC_ROOT=${procRoot}: mount the host's /proc read-only at /host/proc (the job spec in nomad/ does); until then nothing can be measured`,
          ),
        );
      }
      return readings;
    } catch (error) {
      this.dockerAnswers = false;
      metrics.dockerErrors.inc();
      if (say.mayNotice("docker")) {
        log.warn(
          `cannot reach the Docker Engine: ${(error as Error).message}; allocations count as unknown until it answers`,
        );
      }
      const reason = "Docker Engine unreachable";
      return new Map(allocIds.map((allocId) => [allocId, { allocId, at, state: "unknown", reason }]));
    }
  }

  #resume(allocId: string): void {
    const record = this.#restored[allocId];
    if (!record || this.#latest.has(allocId)) return;
    delete this.#restored[allocId];
    if (record.counters && record.countersAt !== undefined)
      this.#meter.resume(allocId, record.countersAt, new Map(Object.entries(record.counters)));
    if (record.quietSince !== undefined)
      this.#tracker.resume(allocId, record.quietSince, record.bytesSinceActive ?? 0);
  }

  /** Bytes per interval that count, less the job's own health checks when `idle-monitor.ignore-checks` is on. */
  #thresholdOf(group: WatchedGroup): ActivityThreshold {
    const { thresholdBytes, signals } = group.policy;
    const checks = signals.ignoreChecks ? groupChecks(group.job, group.group) : [];
    return { thresholdBytes, checkIntervalMs: this.#deps.checkIntervalMs, checks };
  }

  /**
   * The signals beyond bytes (CPU, open connections), read only for allocations quiet by bytes whose group
   * turns one on (a busy allocation costs nothing more), and then only when they can change what is done
   * (SignalSchedule).
   */
  async #readSignals(measured: Measured[]): Promise<void> {
    const { checkIntervalMs, signals } = this.#deps;
    const gated = measured.flatMap((entry) => {
      if (entry.activity.state !== "quiet") return [];
      const { allocId, at } = entry.activity;
      const { cpuPercent } = entry.group.policy.signals;
      const cpuDue =
        cpuPercent !== undefined && this.#meter.cpuReadDue(allocId, at, cpuPercent, checkIntervalMs);
      const { quietSince } = this.#tracker.stateOf(allocId);
      const settings = this.#signalSchedule.toRead(allocId, entry.group.policy, quietSince, at, cpuDue);
      if (settings.cpuPercent === undefined && settings.connections.kind === "off") return [];
      return [{ entry, settings }];
    });
    // Called with none too: the adapter lets go of what it keeps for allocations no longer read.
    const requests = gated.map(({ entry, settings }) => ({
      allocId: entry.alloc.id,
      cpu: settings.cpuPercent !== undefined,
      connections: settings.connections,
    }));
    const readings = (await signals?.read(requests)) ?? new Map();
    for (const { entry, settings } of gated) {
      const reading = readings.get(entry.alloc.id) ?? {};
      entry.activity = this.#meter.withSignals(entry.activity, reading, settings, checkIntervalMs);
    }
  }
}

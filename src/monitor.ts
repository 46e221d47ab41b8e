import type { Logger } from "pino";
import { NodeAllocations } from "./allocations.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import { Act } from "./cycle/act.js";
import { type GroupCycle, Judge } from "./cycle/judge.js";
import { runLoop } from "./cycle/loop.js";
import { Measure } from "./cycle/measure.js";
import { NodeReporter } from "./cycle/node-report.js";
import { Say } from "./cycle/say.js";
import { StartAt } from "./cycle/start-at.js";
import { type Present, StateStore } from "./cycle/state.js";
import { type EligibilityRules, type WatchedGroup, watchedGroups } from "./decide/eligibility.js";
import type { MonitorMetrics } from "./metrics.js";
import { jobKey } from "./model/allocation.js";
import { LEASE_INTERVALS } from "./model/timing.js";
import { AllocationWatch, type WatchTiming } from "./nomad/watch.js";
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
import type { GroupStatus } from "./status/types.js";

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
  /** Where the cycle keeps its per-allocation, per-group and per-job state; a new one when not given. */
  state?: StateStore;
}

/**
 * One monitor: the allocation watch keeps the node's view current, and every CHECK_INTERVAL one cycle runs
 * its stages in order (cycle/): measure the watched allocations, publish this node's report, judge each
 * group, act on each job, bring back what a `start-at` calls for, publish again. Cycles never overlap.
 */
export class Monitor {
  readonly view: NodeAllocations;
  readonly watch: AllocationWatch;
  /** When the last cycle ended (for /healthz). */
  lastCycleAt: number | undefined;
  readonly #deps: MonitorDeps;
  readonly #rules: EligibilityRules;
  readonly #store: StateStore;
  readonly #say: Say;
  readonly #measure: Measure;
  readonly #judge: Judge;
  readonly #act: Act;
  readonly #report: NodeReporter;
  readonly #startAt: StartAt;

  constructor(deps: MonitorDeps) {
    const { config, nomad, token, nodeId, clock, log, metrics, cluster } = deps;
    this.#deps = deps;
    this.view = new NodeAllocations(nodeId);
    this.watch = new AllocationWatch({
      metrics,
      onNewAllocations: () => void this.#measure.baselineNew(() => this.#watched()),
      nomad,
      token,
      view: this.view,
      nodeId,
      clock,
      log,
      timing: deps.watchTiming,
    });
    this.#rules = {
      defaults: {
        timeoutMs: config.idleTimeoutMs,
        thresholdBytes: config.activityThresholdBytes,
        checkIntervalMs: config.checkIntervalMs,
        timezone: config.timezone,
      },
      namespaces: config.namespaces,
      self: { namespace: config.namespace, jobId: config.self.jobId },
    };
    const graceMs = missedFiringGraceMs(config.checkIntervalMs);
    const { checkIntervalMs } = config;
    const store = deps.state ?? new StateStore();
    this.#store = store;
    this.#say = new Say({ log, clock, nodeId, notifier: deps.notifier, store });
    const say = this.#say;
    const { sampler, signals, actions } = deps;
    this.#measure = new Measure({
      sampler,
      signals,
      checkIntervalMs,
      procRoot: config.procRoot,
      clock,
      log,
      metrics,
      say,
      store,
    });
    const measure = this.#measure;
    this.#judge = new Judge({ checkIntervalMs, metrics, measure, say, store });
    this.#act = new Act({
      nodeId,
      checkIntervalMs,
      actionCooldownMs: config.actionCooldownMs,
      dryRun: config.dryRun,
      graceMs,
      rules: this.#rules,
      nomad,
      token,
      cluster,
      actions,
      view: this.view,
      clock,
      log,
      metrics,
      measure,
      say,
      store,
    });
    this.#report = new NodeReporter({
      nodeId,
      checkIntervalMs,
      cluster,
      clock,
      log,
      measure,
      act: this.#act,
    });
    this.#startAt = new StartAt({
      cluster,
      nomad,
      rules: this.#rules,
      nodeId,
      clock,
      log,
      dryRun: config.dryRun,
      graceMs,
      leaseMs: LEASE_INTERVALS * checkIntervalMs,
      retentionMs: config.wakeRecordRetentionMs,
      notifier: deps.notifier,
    });
  }

  /** Whether the Docker Engine answered in the last cycle (/readyz). */
  get dockerAnswers(): boolean {
    return this.#measure.dockerAnswers;
  }

  /** Watches and samples until the signal aborts; an action in flight is allowed to finish. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, config, log, metrics, sampler } = this.#deps;
    const watching = this.watch.run(signal);
    await this.#report.restore();
    sampler.onBaseline?.((reading) => this.#measure.takeBaseline(reading, () => this.#watched()));
    const ended = (at: number) => {
      this.lastCycleAt = at;
    };
    await runLoop(
      (cycleSignal) => this.cycle(cycleSignal),
      ended,
      { intervalMs: config.checkIntervalMs, clock, log, metrics },
      signal,
    );
    await watching;
  }

  /** One sampling cycle: measure → report → judge → act → start-at → report. */
  async cycle(signal?: AbortSignal): Promise<void> {
    const { clock, log } = this.#deps;
    // Before the first list of the node's allocations nothing is known, and nothing is published.
    if (!this.view.seeded) return;
    const { watched, notes } = watchedGroups(this.view.live(), this.#rules);
    for (const job of notes) this.#say.notes(job);

    // Sampled even with nothing to measure: the sampler's answer says whether the Docker Engine does.
    await this.#measure.sample(watched, clock.now());
    // Published whether or not anything is watched here: the heartbeat says this node's monitor runs.
    await this.#report.publish(watched);
    const now = clock.now();
    const byJob = this.#judge.judge(watched, now);
    // What left the node is let go of here, its metric series too, right before the metrics of what stays.
    this.#store.forget(this.#present(watched), now);
    this.#judge.updateMetrics([...byJob.values()].flat(), notes);
    for (const [key, groups] of byJob) {
      if (signal?.aborted) break;
      await this.#act.onJob(key, groups, now, signal).catch((error: unknown) => {
        if (signal?.aborted) return;
        // One bad job never stops the others.
        const [{ group }] = groups as [GroupCycle];
        if (this.#say.mayNoticeOfJob(key, "act"))
          log.error(`acting on job ${group.jobId} failed: ${(error as Error).message}`);
      });
    }
    this.#act.cycleDone();
    if (!signal?.aborted)
      await this.#startAt.run(signal).catch((error: unknown) => {
        if (this.#say.mayNotice("start-at")) log.error(`start-at failed: ${(error as Error).message}`);
      });
    // A cooldown begun this cycle is published at once, so that it survives a restart right after.
    await this.#report.publish(watched);
  }

  /** This node's view for /v1/status: its watched groups as its last report tells them. */
  status(): { node: string; groups: GroupStatus[] } {
    return this.#report.status();
  }

  #watched(): WatchedGroup[] {
    return watchedGroups(this.view.live(), this.#rules).watched;
  }

  /** What the cycle keeps state for: the watched allocations and groups, and every job with a live allocation here. */
  #present(watched: readonly WatchedGroup[]): Present {
    return {
      allocation: new Set(watched.flatMap((group) => group.allocations.map((alloc) => alloc.id))),
      group: new Set(watched.map((group) => group.key)),
      job: new Set(this.view.live().map((alloc) => jobKey(alloc.namespace, alloc.jobId))),
    };
  }
}

import type { GroupVerdict } from "../decide/causes.js";
import type { JobNotes, WatchedGroup } from "../decide/eligibility.js";
import { decideGroup, type GroupDecision } from "../decide/idle-timer.js";
import { groupFingerprint } from "../decide/job-change.js";
import { formatDuration } from "../duration.js";
import type { GroupState, MonitorMetrics } from "../metrics.js";
import { jobKey } from "../model/allocation.js";
import type { Measure } from "./measure.js";
import type { Say } from "./say.js";
import type { StateStore } from "./state.js";

export interface JudgeDeps {
  checkIntervalMs: number;
  metrics: MonitorMetrics;
  measure: Measure;
  say: Say;
  store: StateStore;
}

/** One watched group in one cycle, and what this node decided about it. */
export interface GroupCycle {
  group: WatchedGroup;
  verdict: GroupVerdict;
}

/** A running allocation unknown for this many readings in a row is worth a warning; before, it is starting. */
const UNKNOWN_READINGS_BEFORE_WARNING = 3;

type SeriesLabels = { namespace: string; job: string; group: string };

/**
 * Turns each watched group's idle timers into a decision (decide/idle-timer.ts), starts a group's timers
 * over when its job changed, says what changed (watched, active again, cannot be measured), and keeps
 * the group metrics.
 */
export class Judge {
  readonly #deps: JudgeDeps;
  readonly #lastDecision: Map<string, GroupDecision["kind"]>;
  /** What each group's policy and tasks were last cycle, and in which job version: when they change, its timers start over. */
  readonly #fingerprints: Map<string, { jobModifyIndex: number; fingerprint: string }>;
  /** The labels of each watched group's `seconds_until_action` series, so that it goes with the group. */
  readonly #series = new Map<string, SeriesLabels>();

  constructor(deps: JudgeDeps) {
    this.#deps = deps;
    this.#lastDecision = deps.store.map("group");
    this.#fingerprints = deps.store.map("group");
    deps.store.add("group", {
      keys: () => this.#series.keys(),
      forget: (key) => {
        const labels = this.#series.get(key);
        if (labels) deps.metrics.secondsUntilAction.remove(labels);
        this.#series.delete(key);
      },
    });
  }

  /** Every watched group's verdict at `now`, by job. */
  judge(watched: readonly WatchedGroup[], now: number): Map<string, GroupCycle[]> {
    const byJob = new Map<string, GroupCycle[]>();
    for (const group of watched) {
      this.#restartTimersIfChanged(group, now);
      const key = jobKey(group.namespace, group.jobId);
      byJob.set(key, [...(byJob.get(key) ?? []), { group, verdict: this.#decide(group, now) }]);
    }
    return byJob;
  }

  /** The groups per state, and each group's time until action. */
  updateMetrics(groups: readonly GroupCycle[], notes: readonly JobNotes[]): void {
    const { metrics, measure } = this.#deps;
    const counts: Record<GroupState, number> = { quiet: 0, active: 0, unknown: 0, invalid: 0 };
    for (const { group, verdict } of groups) {
      const { decision, policy } = verdict;
      const labels = { namespace: group.namespace, job: group.jobId, group: group.group };
      this.#series.set(group.key, labels);
      const active = group.allocations.some((alloc) => measure.latest(alloc.id) !== "quiet");
      counts[decision.kind === "unknown" ? "unknown" : active ? "active" : "quiet"] += 1;
      if (decision.kind === "unknown") metrics.secondsUntilAction.remove(labels);
      else metrics.secondsUntilAction.set(labels, Math.max(0, policy.timeoutMs - decision.idleForMs) / 1000);
    }
    counts.invalid = notes
      .flatMap((job) => job.notes)
      .filter((note) => note.kind === "not-watched" && note.why.kind === "invalid-meta").length;
    for (const [state, count] of Object.entries(counts)) metrics.groups.set({ state }, count);
  }

  /**
   * A group whose policy or tasks changed (someone re-ran the job) is measured again from now: a job
   * touched at its deadline is not stopped on the strength of the version before.
   */
  #restartTimersIfChanged(group: WatchedGroup, now: number): void {
    const { JobModifyIndex: jobModifyIndex } = group.job;
    const fingerprint = groupFingerprint(group.job, group.group, group.policy);
    const previous = this.#fingerprints.get(group.key);
    this.#fingerprints.set(group.key, { jobModifyIndex, fingerprint });
    // Only a new version of a job this monitor already watched is a change; another copy of the same
    // version (the stream's, the list's, the fresh look's) never is.
    if (previous === undefined || previous.jobModifyIndex === jobModifyIndex) return;
    if (previous.fingerprint === fingerprint) return;
    this.#deps.measure.restartTimers(group, now);
    this.#deps.say
      .groupLog(group)
      .info(
        `job ${group.jobId} group ${group.group} changed (job version ${group.job.Version}); its idle timer starts over`,
      );
  }

  #decide(group: WatchedGroup, now: number): GroupVerdict {
    const { checkIntervalMs, measure, say } = this.#deps;
    const states = group.allocations.map((alloc) => measure.stateOf(alloc.id));
    const decision = decideGroup(states, group.policy, now, checkIntervalMs);
    const log = say.groupLog(group);
    const previous = this.#lastDecision.get(group.key);
    this.#lastDecision.set(group.key, decision.kind);
    const what = `job ${group.jobId} group ${group.group}`;
    if (previous === undefined) {
      const { timeoutMs, thresholdBytes, action } = group.policy;
      log.info(
        `watching ${what}: ${action === "stop" ? "stop the job" : "scale the group to 0"} after ${formatDuration(timeoutMs)} without more than ${thresholdBytes} B per ${formatDuration(checkIntervalMs)}${group.policy.schedule.describe()}`,
      );
    }
    if (decision.kind === "unknown") this.#reportUnknown(group, decision);
    if (decision.kind === "active" && previous === "idle") log.info(`${what} is active again`);
    log.debug(`${what}: ${decision.kind}: ${decision.reason}`);
    const measured = states
      .filter((state) => state.unknownReason === undefined)
      .map((state) => state.allocId);
    return { group: group.group, policy: group.policy, decision, measured: new Set(measured) };
  }

  /** Containers of a new placement take a few readings to appear: only a lasting unknown is a warning. */
  #reportUnknown(group: WatchedGroup, decision: Extract<GroupDecision, { kind: "unknown" }>): void {
    const { measure, say } = this.#deps;
    const lasting = decision.unmeasured.some(
      (allocId) => measure.unknownStreak(allocId) >= UNKNOWN_READINGS_BEFORE_WARNING,
    );
    if (!lasting) return;
    const what = `job ${group.jobId} group ${group.group}`;
    // The reason may name a container or a process: said once per allocation, forgotten with it.
    const [first = group.key] = decision.unmeasured;
    say.onceOfAllocation(first, `unknown:${decision.why}`, () =>
      say.groupLog(group).warn(`cannot measure ${what}: ${decision.reason}; it is not treated as idle`),
    );
  }
}

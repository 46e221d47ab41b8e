import { formatDuration } from "../duration.js";
import type { Activity, NamespaceCounters, Reading, SignalReading } from "../model/readings.js";
import { CPU_STRIDE } from "../model/timing.js";
import {
  applyCheckBudget,
  DEFAULT_WINDOW,
  estimateCheckCost,
  type MeasuredInterval,
  type NetworkCheck,
} from "../signals/check-budget.js";
import type { SignalSettings } from "../signals/meta.js";
import { describeSessions } from "../signals/tcp.js";
import { cpuPercent } from "./cpu-rate.js";

/** An interval this many times CHECK_INTERVAL or longer is a gap (a skipped tick is not one). */
const GAP_FACTOR = 1.5;

/** Bytes per check interval that count as activity. */
export interface ActivityThreshold {
  thresholdBytes: number;
  checkIntervalMs: number;
  /** The job's network service checks, whose cost is subtracted before the threshold applies; none: nothing is. */
  checks?: readonly NetworkCheck[];
}

interface GoodReading {
  at: number;
  counters: NamespaceCounters;
}

interface CpuMark {
  at: number;
  usageNs: number;
  containers: string;
  /** Percent of one core over the span before this reading; undefined when it had no rate. */
  percent: number | undefined;
}

/** Intervals kept per allocation to learn its checks' cost: the estimate's window, with room for unusable ones. */
const HISTORY = 2 * DEFAULT_WINDOW;

/**
 * Turns this node's counter readings into Activity, remembering each allocation's last good reading, its
 * recent intervals (to learn what its health checks cost) and its last CPU reading.
 */
export class TrafficMeter {
  readonly #lastGood = new Map<string, GoodReading>();
  readonly #intervals = new Map<string, MeasuredInterval[]>();
  readonly #cpu = new Map<string, CpuMark>();

  /**
   * Active when the bytes since the last good reading *exceed* the allowance: the threshold scaled down
   * for an interval shorter than CHECK_INTERVAL, but never above one interval's threshold — after a gap
   * of unknown readings the bytes may all have come just before the gap ended, so they are not averaged
   * over it. Exactly the allowance is quiet. An unknown reading keeps the last good one. Bytes above the
   * allowance are first reduced by the cost of the job's health checks (`threshold.checks`, check-budget.ts),
   * learned from this allocation's earlier intervals.
   */
  measure(reading: Reading, threshold: ActivityThreshold): Activity {
    const { allocId, at } = reading;
    if (reading.state === "unknown")
      return { allocId, at, bytes: 0, state: "unknown", reason: reading.reason };
    if (reading.counters.size === 0) {
      return { allocId, at, bytes: 0, state: "unknown", reason: "no network namespace to read" };
    }
    const previous = this.#lastGood.get(allocId);
    this.#lastGood.set(allocId, { at, counters: new Map(reading.counters) });
    if (previous === undefined) return { allocId, at, bytes: 0, state: "baseline", reason: "first reading" };

    const { bytes, reset } = bytesSince(previous.counters, reading.counters);
    const elapsedMs = Math.max(0, at - previous.at);
    const history = this.#intervals.get(allocId) ?? [];
    this.#intervals.set(allocId, history);
    history.push({ bytes, elapsedMs, ...(reset !== undefined ? { reset: true } : {}) });
    if (history.length > HISTORY) history.shift();
    if (reset !== undefined) return { allocId, at, bytes, state: "active", reason: reset };
    const { checkIntervalMs, checks = [] } = threshold;
    const share = Math.min(1, elapsedMs / checkIntervalMs);
    const allowed = threshold.thresholdBytes * share;
    const capped = elapsedMs > checkIntervalMs * GAP_FACTOR ? " (one interval's worth after a gap)" : "";
    const limit = `threshold ${Math.round(allowed)} B${capped}`;
    if (bytes <= allowed || checks.length === 0) {
      const state = bytes > allowed ? "active" : "quiet";
      return { allocId, at, bytes, state, reason: `${bytes} B in ${formatDuration(elapsedMs)}, ${limit}` };
    }
    // Learned from the intervals before this one: the interval being judged does not vouch for itself.
    const cost = estimateCheckCost(history.slice(0, -1), checks, { checkIntervalMs });
    const budgeted = applyCheckBudget(bytes, elapsedMs, checks, cost, checkIntervalMs);
    const state = budgeted.bytes > allowed ? "active" : "quiet";
    const reason = `${bytes} B in ${formatDuration(elapsedMs)}, ${budgeted.reason}, ${limit}`;
    return { allocId, at, bytes, state, reason };
  }

  /**
   * A quiet interval seen through the signals beyond bytes that `settings` turns on (signals/meta.ts):
   * an inbound session or CPU use above the gate makes it active; a signal that is on but cannot be read
   * makes it unknown (never idle); the first CPU reading after the allocation was active or unread (no
   * rate over this interval yet) makes it a baseline, so that its quiet stretch starts only now. Active
   * wins over unknown, unknown over baseline.
   */
  withSignals(
    activity: Activity,
    reading: SignalReading,
    settings: SignalSettings,
    checkIntervalMs: number,
  ): Activity {
    const verdicts: Array<{ state: Activity["state"]; reason: string; signal?: Activity["signal"] }> = [];
    if (settings.connections.kind !== "off") {
      const sessions = reading.sessions ?? { state: "unknown", reason: "not read" };
      if (sessions.state === "unknown") {
        verdicts.push({ state: "unknown", reason: `open connections: ${sessions.reason}` });
      } else {
        const described = describeSessions(sessions.value);
        if (described !== undefined)
          verdicts.push({ state: "active", reason: described, signal: "connections" });
      }
    }
    if (settings.cpuPercent !== undefined)
      verdicts.push(this.#cpuVerdict(activity, reading, settings.cpuPercent, checkIntervalMs));
    for (const state of ["active", "unknown", "baseline"] as const) {
      const deciding = verdicts.filter((verdict) => verdict.state === state);
      const [first] = deciding;
      if (first === undefined) continue;
      const why = deciding.map((verdict) => verdict.reason).join("; ");
      // An unknown reason names only what could not be read: it is said once per reason, so no byte count.
      const reason = state === "unknown" ? why : `${activity.reason}; ${why}`;
      return { ...activity, state, reason, ...(first.signal ? { signal: first.signal } : {}) };
    }
    if (verdicts.length === 0) return activity;
    return {
      ...activity,
      reason: `${activity.reason}; ${verdicts.map((verdict) => verdict.reason).join("; ")}`,
    };
  }

  /**
   * Whether the CPU time of a quiet allocation needs reading this cycle: always while it has no rate or its
   * last one was above a third of the gate; otherwise every CPU_STRIDE-th cycle, since three intervals that
   * together used less than one interval at the gate were each below it (#cpuVerdict). SignalSchedule reads
   * it every cycle near the timeout and at the warning regardless.
   */
  cpuReadDue(allocId: string, at: number, gatePercent: number, checkIntervalMs: number): boolean {
    const mark = this.#cpu.get(allocId);
    if (mark?.percent === undefined || mark.percent * CPU_STRIDE > gatePercent) return true;
    return at - mark.at >= (CPU_STRIDE - 0.5) * checkIntervalMs;
  }

  #cpuVerdict(
    activity: Activity,
    reading: SignalReading,
    gatePercent: number,
    checkIntervalMs: number,
  ): { state: Activity["state"]; reason: string; signal?: "cpu" } {
    const { allocId, at } = activity;
    const cpu = reading.cpu ?? { state: "unknown", reason: "not read" };
    if (cpu.state === "unknown") {
      this.#cpu.delete(allocId);
      return { state: "unknown", reason: `CPU: ${cpu.reason}` };
    }
    const previous = this.#cpu.get(allocId);
    const now = { at, ...cpu.value };
    const percent =
      previous !== undefined && previous.containers === now.containers
        ? cpuPercent(previous, now)
        : undefined;
    if (previous === undefined || percent === undefined) {
      this.#cpu.set(allocId, { ...now, percent: undefined });
      return { state: "baseline", reason: "first CPU reading of its containers: no rate yet" };
    }
    const elapsedMs = at - previous.at;
    // Longer than a stride: the allocation was busy by bytes, or not watched, and its CPU then says nothing now.
    if (elapsedMs > (CPU_STRIDE + 0.5) * checkIntervalMs) {
      this.#cpu.set(allocId, { ...now, percent: undefined });
      return { state: "baseline", reason: `no CPU reading for ${formatDuration(elapsedMs)}: no rate yet` };
    }
    this.#cpu.set(allocId, { ...now, percent });
    const used = `CPU ${formatPercent(percent)} of one core over ${formatDuration(elapsedMs)}`;
    if (elapsedMs <= checkIntervalMs * GAP_FACTOR) {
      if (percent > gatePercent)
        return { state: "active", reason: `${used}, above the gate of ${gatePercent}%`, signal: "cpu" };
      return { state: "quiet", reason: `${used} (gate ${gatePercent}%)` };
    }
    // Several intervals since the reading before (read every third cycle, or busy by bytes in between): all of
    // their use may have fallen in one of them. Below one interval at the gate, none was above it.
    const worst = (percent * elapsedMs) / checkIntervalMs;
    const within = `at most ${formatPercent(worst)} in any ${formatDuration(checkIntervalMs)}`;
    if (worst > gatePercent)
      return {
        state: "active",
        reason: `${used}, up to ${formatPercent(worst)} in one ${formatDuration(checkIntervalMs)}: perhaps above the gate of ${gatePercent}%`,
        signal: "cpu",
      };
    return { state: "quiet", reason: `${used}, ${within} (gate ${gatePercent}%)` };
  }

  /** The last good reading of an allocation, for this node's report. */
  lastGood(allocId: string): { at: number; counters: NamespaceCounters } | undefined {
    return this.#lastGood.get(allocId);
  }

  /** Continues from counters read before a restart: the next reading is measured against them. */
  resume(allocId: string, at: number, counters: NamespaceCounters): void {
    this.#lastGood.set(allocId, { at, counters: new Map(counters) });
  }

  /** Every allocation something is kept for. */
  keys(): Set<string> {
    return new Set([...this.#lastGood.keys(), ...this.#intervals.keys(), ...this.#cpu.keys()]);
  }

  forget(allocId: string): void {
    this.#lastGood.delete(allocId);
    this.#intervals.delete(allocId);
    this.#cpu.delete(allocId);
  }
}

function formatPercent(percent: number): string {
  return `${percent < 10 ? percent.toFixed(1) : Math.round(percent)}%`;
}

/** Counters restart from zero when a namespace is recreated (nomad-api-notes.md "Docker Engine API"). */
function bytesSince(before: NamespaceCounters, now: NamespaceCounters): { bytes: number; reset?: string } {
  let bytes = 0;
  let reset: string | undefined;
  for (const [namespace, total] of now) {
    const previous = before.get(namespace);
    if (previous === undefined) {
      reset ??= `new network namespace ${namespace}`;
      bytes += total;
    } else if (total < previous) {
      reset ??= `counters of network namespace ${namespace} went down (reset)`;
      bytes += total;
    } else {
      bytes += total - previous;
    }
  }
  return { bytes, reset };
}

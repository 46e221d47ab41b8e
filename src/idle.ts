import { formatDuration } from "./duration.js";
import { shortId } from "./model/allocation.js";
import type { Activity, NamespaceCounters, Reading, SignalReading } from "./model/readings.js";
import { CPU_STRIDE } from "./model/timing.js";
import type { GroupPolicy } from "./policy.js";
import {
  applyCheckBudget,
  DEFAULT_WINDOW,
  estimateCheckCost,
  type MeasuredInterval,
  type NetworkCheck,
} from "./signals/check-budget.js";
import { cpuPercent } from "./signals/cpu.js";
import type { SignalSettings } from "./signals/meta.js";
import { describeSessions } from "./signals/tcp.js";

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

  forget(allocId: string): void {
    this.#lastGood.delete(allocId);
    this.#intervals.delete(allocId);
    this.#cpu.delete(allocId);
  }
}

function formatPercent(percent: number): string {
  return `${percent < 10 ? percent.toFixed(1) : Math.round(percent)}%`;
}

/**
 * Which signals to read each cycle for an allocation quiet by bytes, so that a cycle over many quiet
 * allocations reads little while every decision is taken on fresh readings:
 * - near the timeout (quiet for the timeout less two intervals, or more) every signal that is on, every
 *   cycle: what judges the group idle — here or, through this node's report, on another node — is read
 *   in the same cycle, or the one before;
 * - once as the group's warning comes due (from one interval before quiet for timeout − warn-before, and
 *   for at least one interval) every signal, so that no warning goes to a job kept by its CPU or a session;
 * - otherwise the CPU gate when TrafficMeter.cpuReadDue says so (every cycle near the gate, every third far
 *   below it), and open connections not at all: a session is a state, and opening or closing one moves
 *   bytes, which the byte count sees in between. Read every cycle, sessions would cost a `net/snmp` read per
 *   namespace of every quiet allocation (README, "Activity signals beyond bytes").
 */
export class SignalSchedule {
  /** Allocation → the start of the quiet stretch whose warning-time read was made. */
  readonly #warningRead = new Map<string, number>();

  constructor(private readonly checkIntervalMs: number) {}

  /**
   * `quietSince`: the allocation's quiet stretch before this cycle's reading (undefined: none yet);
   * `cpuDue`: TrafficMeter.cpuReadDue for it.
   */
  toRead(
    allocId: string,
    policy: Pick<GroupPolicy, "signals" | "timeoutMs"> & { schedule: { warnBeforeMs: number } },
    quietSince: number | undefined,
    at: number,
    cpuDue: boolean,
  ): SignalSettings {
    const { signals, timeoutMs, schedule } = policy;
    const quietForMs = quietSince === undefined ? 0 : at - quietSince;
    if (quietSince !== undefined && quietForMs >= timeoutMs - 2 * this.checkIntervalMs) return signals;
    // Monitor.warnAhead warns within warn-before of the timeout, after one interval of quiet, on a decision
    // taken a moment after this reading: read from one interval before, so the read comes first.
    const warningAtMs = Math.max(timeoutMs - schedule.warnBeforeMs, this.checkIntervalMs);
    const warning =
      quietSince !== undefined &&
      schedule.warnBeforeMs > 0 &&
      quietForMs >= warningAtMs - this.checkIntervalMs &&
      this.#warningRead.get(allocId) !== quietSince;
    if (warning) {
      this.#warningRead.set(allocId, quietSince);
      return signals;
    }
    return {
      ...signals,
      cpuPercent: cpuDue ? signals.cpuPercent : undefined,
      connections: { kind: "off" },
    };
  }

  forget(allocId: string): void {
    this.#warningRead.delete(allocId);
  }
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

/** Where one allocation stands, from the Activity recorded for it. */
export interface AllocActivityState {
  readonly allocId: string;
  /** Start of the current quiet stretch (the idle timer); undefined until the first good reading. */
  readonly quietSince: number | undefined;
  /** Rx+Tx bytes seen since the allocation was last active. */
  readonly bytesSinceActive: number;
  /** Why the latest reading could not be measured; undefined when it was measured. */
  readonly unknownReason: string | undefined;
}

/** Keeps each allocation's quiet stretch; time comes only from the Activity it is given. */
export class ActivityTracker {
  readonly #states = new Map<string, AllocActivityState>();

  /** `allocStartedAt`: the idle timer never starts before the allocation did. */
  record(activity: Activity, allocStartedAt: number): AllocActivityState {
    const next = advance(this.#states.get(activity.allocId), activity, allocStartedAt);
    this.#states.set(activity.allocId, next);
    return next;
  }

  /** An allocation with nothing recorded yet is unknown, so that it can never make its group look idle. */
  stateOf(allocId: string): AllocActivityState {
    return (
      this.#states.get(allocId) ?? {
        allocId,
        quietSince: undefined,
        bytesSinceActive: 0,
        unknownReason: "not measured yet",
      }
    );
  }

  /** Continues a quiet stretch saved before a restart. */
  resume(allocId: string, quietSince: number, bytesSinceActive: number): void {
    this.#states.set(allocId, { allocId, quietSince, bytesSinceActive, unknownReason: undefined });
  }

  /** The allocation's quiet stretch starts over at `at` (its job changed under it). */
  restart(allocId: string, at: number): void {
    const state = this.#states.get(allocId);
    if (state?.quietSince === undefined) return;
    this.#states.set(allocId, { ...state, quietSince: Math.max(at, state.quietSince), bytesSinceActive: 0 });
  }

  forget(allocId: string): void {
    this.#states.delete(allocId);
  }
}

function advance(
  previous: AllocActivityState | undefined,
  activity: Activity,
  allocStartedAt: number,
): AllocActivityState {
  const { allocId, at, bytes } = activity;
  const quietFrom = (time: number) => Math.max(time, allocStartedAt);
  switch (activity.state) {
    case "unknown":
      return {
        allocId,
        quietSince: previous?.quietSince,
        bytesSinceActive: previous?.bytesSinceActive ?? 0,
        unknownReason: activity.reason,
      };
    // A baseline starts the count afresh: nothing is known about the time before it.
    case "active":
    case "baseline":
      return { allocId, quietSince: quietFrom(at), bytesSinceActive: 0, unknownReason: undefined };
    case "quiet":
      // Quiet with nothing before it (another source's first word) covers an interval of unknown start.
      if (previous?.quietSince === undefined) {
        return { allocId, quietSince: quietFrom(at), bytesSinceActive: bytes, unknownReason: undefined };
      }
      return {
        allocId,
        quietSince: previous.quietSince,
        bytesSinceActive: previous.bytesSinceActive + bytes,
        unknownReason: undefined,
      };
  }
}

export type GroupDecision =
  | { kind: "idle"; idleForMs: number; bytesSeen: number; reason: string }
  | { kind: "active"; idleForMs: number; reason: string }
  /** `unmeasured`: the allocations that could not be measured; `why`: the first one's reason. */
  | { kind: "unknown"; reason: string; unmeasured: string[]; why: string };

/**
 * A group is idle when every live allocation (the caller passes them) has been quiet for at least the
 * timeout. One allocation that cannot be measured makes the group unknown; no allocations, not idle.
 */
export function decideGroup(
  allocations: readonly AllocActivityState[],
  policy: GroupPolicy,
  now: number,
  checkIntervalMs: number,
): GroupDecision {
  const unmeasured = allocations.filter((alloc) => !isMeasured(alloc));
  const [firstUnmeasured] = unmeasured;
  if (firstUnmeasured !== undefined) {
    const more = unmeasured.length > 1 ? ` (and ${unmeasured.length - 1} more)` : "";
    const why = firstUnmeasured.unknownReason ?? "not measured yet";
    return {
      kind: "unknown",
      reason: `allocation ${shortId(firstUnmeasured.allocId)} unknown: ${why}${more}`,
      unmeasured: unmeasured.map((alloc) => alloc.allocId),
      why,
    };
  }

  let leastIdle: { allocId: string; idleForMs: number } | undefined;
  let bytesSeen = 0;
  for (const alloc of allocations.filter(isMeasured)) {
    const idleForMs = Math.max(0, now - alloc.quietSince);
    if (leastIdle === undefined || idleForMs < leastIdle.idleForMs)
      leastIdle = { allocId: alloc.allocId, idleForMs };
    bytesSeen += alloc.bytesSinceActive;
  }
  if (leastIdle === undefined) return { kind: "active", idleForMs: 0, reason: "no live allocations" };

  const { idleForMs } = leastIdle;
  if (idleForMs >= policy.timeoutMs) {
    const threshold = `threshold ${policy.thresholdBytes} B per ${formatDuration(checkIntervalMs)}`;
    return {
      kind: "idle",
      idleForMs,
      bytesSeen,
      reason: `idle for ${formatDuration(idleForMs)}, ${bytesSeen} B seen, ${threshold}`,
    };
  }
  const who = allocations.length > 1 ? `allocation ${shortId(leastIdle.allocId)} ` : "";
  const reason = `${who}quiet for ${formatDuration(idleForMs)} of ${formatDuration(policy.timeoutMs)}`;
  return { kind: "active", idleForMs, reason };
}

function isMeasured(alloc: AllocActivityState): alloc is AllocActivityState & { quietSince: number } {
  return alloc.unknownReason === undefined && alloc.quietSince !== undefined;
}

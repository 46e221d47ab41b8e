import { formatDuration } from "../duration.js";

// The health-check noise budget (issue 12). Byte counters are per interface and net/tcp has no byte counts,
// so a check's traffic cannot be told from a user's by its source. It can be told by its shape: the job's own
// Nomad service checks run at intervals the job spec states, cost about the same bytes every time, and are
// there in every interval — a floor under the allocation's traffic that a user only ever adds to. So: learn
// what one check costs from the allocation's own intervals, and subtract from each interval the cost of the
// checks it can hold before the threshold applies.

/** A check as the job spec (Nomad's JSON) states it; `Interval` in nanoseconds. */
export interface ServiceCheckSpec {
  Name?: string;
  Type?: string;
  Interval?: number;
}

interface ServiceSpec {
  Name?: string;
  Checks?: ServiceCheckSpec[] | null;
}

/** The part of a Nomad job that carries service checks, group and task level. */
export interface JobServices {
  TaskGroups?: Array<{
    Name: string;
    Services?: ServiceSpec[] | null;
    Tasks?: Array<{ Name: string; Services?: ServiceSpec[] | null }> | null;
  }> | null;
}

/** A check that sends traffic into the allocation's network namespace. */
export interface NetworkCheck {
  service: string;
  name: string;
  type: string;
  intervalMs: number;
}

/** Script checks run inside the task (an exec): no bytes on its interfaces. */
const NETWORK_CHECK_TYPES = new Set(["http", "tcp", "grpc"]);

/**
 * The network checks of a task group's allocations: those of the group's services and of its tasks'
 * services, of type http, tcp or grpc, with a positive interval. Never throws on a partial spec.
 */
export function groupChecks(job: JobServices, group: string): NetworkCheck[] {
  const taskGroup = job.TaskGroups?.find((candidate) => candidate.Name === group);
  if (taskGroup === undefined) return [];
  const services = [
    ...(taskGroup.Services ?? []),
    ...(taskGroup.Tasks ?? []).flatMap((task) => task.Services ?? []),
  ];
  const checks: NetworkCheck[] = [];
  for (const service of services) {
    for (const check of service.Checks ?? []) {
      const type = (check.Type ?? "").toLowerCase();
      const intervalNs = check.Interval ?? 0;
      if (!NETWORK_CHECK_TYPES.has(type) || !(intervalNs > 0)) continue;
      checks.push({
        service: service.Name ?? "",
        name: check.Name ?? "",
        type,
        intervalMs: intervalNs / 1e6,
      });
    }
  }
  return checks;
}

/**
 * How many checks fall in `elapsedMs`: `expected` on average, `most` at worst — a window of length T holds up
 * to floor(T / interval) + 1 runs of a check, depending on its phase.
 */
export function checksIn(
  checks: readonly NetworkCheck[],
  elapsedMs: number,
): { expected: number; most: number } {
  let expected = 0;
  let most = 0;
  for (const check of checks) {
    expected += elapsedMs / check.intervalMs;
    most += Math.floor(elapsedMs / check.intervalMs) + 1;
  }
  return { expected, most };
}

/** One measured interval of an allocation: its raw Rx+Tx bytes (before any budget). */
export interface MeasuredInterval {
  bytes: number;
  elapsedMs: number;
  /** Inbound sessions seen at its end (tcp.ts); undefined when not read. */
  sessions?: number;
  /** The counters were reset in it (a namespace recreated): its bytes are not one interval's. */
  reset?: boolean;
}

export interface EstimatorOptions {
  checkIntervalMs: number;
  /** How many of the latest usable intervals to learn from. */
  window?: number;
  /** Fewer usable intervals than this: nothing learned yet. */
  minIntervals?: number;
  /** A ceiling on one check's cost: an interval costing more per check is not check traffic alone. */
  maxBytesPerCheck?: number;
}

export const DEFAULT_WINDOW = 30;
export const DEFAULT_MIN_INTERVALS = 5;
/** An HTTP check with its TCP handshake and close is ~1 KiB on the wire; 16 KiB leaves room for big bodies. */
export const DEFAULT_MAX_BYTES_PER_CHECK = 16 * 1024;

export type CheckCost =
  | { state: "learned"; bytesPerCheck: number; reason: string }
  | { state: "learning"; reason: string };

/**
 * What one check costs, from an allocation's measured intervals, oldest first (all of them, active or not:
 * the function picks). Usable are intervals of normal length (half to one and a half check intervals), with
 * no reset, no inbound session seen, and at most `maxBytesPerCheck` per expected check. Of the latest
 * `window` usable ones, the estimate is the LOWER QUARTILE of bytes per expected check: the checks are a
 * floor present in every interval and users only add to it, so the lower quartile holds as long as a quarter
 * of the intervals are checks alone, where a mean or a median would learn a frequent user as check cost.
 * Its limit, stated in the reason's terms: a user whose traffic is in nearly every interval from the start
 * is part of that floor and is learned as checks (up to `maxBytesPerCheck` per check).
 */
export function estimateCheckCost(
  history: readonly MeasuredInterval[],
  checks: readonly NetworkCheck[],
  options: EstimatorOptions,
): CheckCost {
  const window = options.window ?? DEFAULT_WINDOW;
  const minIntervals = options.minIntervals ?? DEFAULT_MIN_INTERVALS;
  const maxBytesPerCheck = options.maxBytesPerCheck ?? DEFAULT_MAX_BYTES_PER_CHECK;
  if (checks.length === 0) return { state: "learning", reason: "no network service checks in the job" };
  const perCheck: number[] = [];
  for (const interval of history) {
    const { bytes, elapsedMs } = interval;
    const normal = elapsedMs >= options.checkIntervalMs / 2 && elapsedMs <= options.checkIntervalMs * 1.5;
    if (!normal || interval.reset || (interval.sessions ?? 0) > 0 || !Number.isFinite(bytes) || bytes < 0)
      continue;
    const { expected } = checksIn(checks, elapsedMs);
    const cost = bytes / expected;
    if (expected > 0 && cost <= maxBytesPerCheck) perCheck.push(cost);
  }
  const recent = perCheck.slice(-window);
  if (recent.length < minIntervals) {
    return {
      state: "learning",
      reason: `${recent.length} of ${minIntervals} quiet intervals seen to learn a check's cost`,
    };
  }
  const sorted = [...recent].sort((a, b) => a - b);
  const bytesPerCheck = Math.round(sorted[Math.ceil(sorted.length / 4) - 1] ?? 0);
  return {
    state: "learned",
    bytesPerCheck,
    reason: `${bytesPerCheck} B per check, the lower quartile of ${recent.length} quiet intervals`,
  };
}

export interface Budgeted {
  /** Bytes left once the budget is subtracted: what the threshold applies to. */
  bytes: number;
  /** Bytes subtracted. */
  subtracted: number;
  reason: string;
}

/**
 * Subtracts the checks' cost from one interval's bytes: `bytesPerCheck × most checks the interval can hold`,
 * so that a check run more or less in an interval (phase, jitter) never reads as activity. The interval is
 * counted at most one and a half check intervals long: after a gap of failed readings less is subtracted than
 * the checks sent, so the interval errs towards active (never a false stop). With nothing learned, nothing is
 * subtracted. A user keeps the job when their traffic in an interval exceeds one check's cost per check plus
 * the threshold.
 */
export function applyCheckBudget(
  bytes: number,
  elapsedMs: number,
  checks: readonly NetworkCheck[],
  cost: CheckCost,
  checkIntervalMs: number,
): Budgeted {
  if (cost.state === "learning")
    return { bytes, subtracted: 0, reason: `no check budget yet: ${cost.reason}` };
  const counted = Math.max(0, Math.min(elapsedMs, checkIntervalMs * 1.5));
  const { most } = checksIn(checks, counted);
  const budget = cost.bytesPerCheck * most;
  const subtracted = Math.min(Math.max(0, bytes), budget);
  const kinds = describeChecks(checks);
  return {
    bytes: bytes - subtracted,
    subtracted,
    reason: `${subtracted} B of ${bytes} B taken as health checks (up to ${most} × ${cost.bytesPerCheck} B: ${kinds}; ${cost.reason})`,
  };
}

/** "1 http check every 10s", "2 checks (http every 10s, tcp every 30s)". */
export function describeChecks(checks: readonly NetworkCheck[]): string {
  const each = checks.map((check) => `${check.type} every ${formatDuration(check.intervalMs)}`);
  if (each.length === 1)
    return `1 ${checks[0]?.type} check every ${formatDuration(checks[0]?.intervalMs ?? 0)}`;
  return `${each.length} checks (${each.join(", ")})`;
}

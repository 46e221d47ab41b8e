import type { Schedule } from "../schedule.js";

/** What is remembered of one group's `stop-at` from one look to the next. */
export interface StopAtMemory {
  /** Up to when its firings were looked at. */
  evaluatedAt: number;
  /** A firing not carried out yet (Nomad refused, the action failed): tried again within the grace. */
  pending: number | undefined;
}

export interface StopAtInput {
  schedule: Schedule;
  /** What the last look left; undefined before the first. */
  memory: StopAtMemory | undefined;
  /** Before the first look after a restart: when this node last reported, so that missed firings show. */
  restoredFrom: number | undefined;
  /** When each of the group's allocations started. */
  startedAt: readonly number[];
  now: number;
  /** A firing missed by more than this is skipped, not carried out late. */
  graceMs: number;
}

export interface StopAtLook {
  /** What to remember until the next look (unchanged for a group without `stop-at`). */
  memory: StopAtMemory | undefined;
  /** The firing to carry out now, if one came due. */
  firing: number | undefined;
  /** A firing missed by more than the grace (no monitor ran here): said, not carried out. */
  skipped: { firing: number; lateByMs: number } | undefined;
}

/**
 * A `stop-at` firing since the group was last looked at — but not one from before its allocations
 * started (a job started after 20:00 is not stopped for the 20:00 firing). A pending firing comes back
 * until it is carried out or the grace is over.
 */
export function lookAtStopAt(input: StopAtInput): StopAtLook {
  const { schedule, memory, now, graceMs } = input;
  const nothing = { firing: undefined, skipped: undefined };
  if (!schedule.has("stop-at")) return { memory, ...nothing };
  const previous = memory?.evaluatedAt ?? input.restoredFrom;
  const pending = memory?.pending;
  if (pending !== undefined && now - pending <= graceMs)
    return { memory: { evaluatedAt: now, pending }, firing: pending, skipped: undefined };
  const looked = { evaluatedAt: now, pending: undefined };
  const started = Math.min(...input.startedAt);
  const after = Math.max(previous ?? now - graceMs, Number.isFinite(started) ? started : now);
  const due = schedule.dueFiring("stop-at", after, now, graceMs);
  if (!due) return { memory: looked, ...nothing };
  if (due.kind === "skipped")
    return { memory: looked, firing: undefined, skipped: { firing: due.firing, lateByMs: due.lateByMs } };
  return { memory: { evaluatedAt: now, pending: due.firing }, firing: due.firing, skipped: undefined };
}

/**
 * The groups of one job whose `stop-at` fired, acted on together: those of the first firing found. A
 * group that fired at another time is acted on at its own turn, when it is still pending.
 */
export function firedTogether<T>(
  looks: ReadonlyArray<{ group: T; firing: number | undefined }>,
): { firing: number; groups: T[] } | undefined {
  let fired: { firing: number; groups: T[] } | undefined;
  for (const { group, firing } of looks) {
    if (firing === undefined || (fired && fired.firing !== firing)) continue;
    fired = { firing, groups: [...(fired?.groups ?? []), group] };
  }
  return fired;
}

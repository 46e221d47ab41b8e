import { formatDuration } from "../duration.js";
import { shortId } from "../model/allocation.js";
import type { Activity } from "../model/readings.js";
import type { GroupPolicy } from "../policy.js";

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

  keys(): Iterable<string> {
    return this.#states.keys();
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

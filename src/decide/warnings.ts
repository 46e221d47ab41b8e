import type { GroupVerdict } from "./causes.js";

/** An action a group is to be warned of: when it comes, and why. */
export type Warning =
  | { kind: "stop-at"; at: number }
  /** `idleForMs`: how long the group has been quiet now. */
  | { kind: "idle"; at: number; idleForMs: number };

/**
 * What a group is within its warn-before of (`idle-monitor.warn-before`): its `stop-at`, or its idle
 * timeout if it stays quiet — not an action its schedule would hold back then, and nothing before one
 * interval of quiet. The caller says each one once (per kind and time).
 */
export function warningsDue(verdict: GroupVerdict, now: number, checkIntervalMs: number): Warning[] {
  const { schedule, timeoutMs } = verdict.policy;
  if (schedule.warnBeforeMs <= 0) return [];
  const warnings: Warning[] = [];
  const firing = schedule.warning("stop-at", now);
  if (firing !== undefined) warnings.push({ kind: "stop-at", at: firing });
  const { decision } = verdict;
  if (decision.kind !== "active" || decision.idleForMs < checkIntervalMs) return warnings;
  const at = now - decision.idleForMs + timeoutMs;
  if (at <= now || at - now > schedule.warnBeforeMs || schedule.excluded(at) || schedule.keepAlive(at))
    return warnings;
  return [...warnings, { kind: "idle", at, idleForMs: decision.idleForMs }];
}

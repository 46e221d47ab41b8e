import type { ActionOutcome } from "../model/events.js";
import type { Intent, Schedule } from "../schedule.js";
import type { GroupVerdict, WaitCause } from "./causes.js";

/**
 * What holds a job back before anything is read again, decided here once for the whole act: the
 * schedules of its idle groups (exclude-until, keep-alive) and the job's cooldown after an action. The
 * plan takes it as given (planJob's `triage`), so these rules are not checked a second time.
 */
export interface Triage {
  /** The idle groups whose schedule holds them back now, with the cause. */
  held: ReadonlyMap<string, WaitCause>;
  /** Set while the job is in its cooldown. */
  cooldown: Extract<WaitCause, { kind: "cooldown" }> | undefined;
  /** Whether the job is worth a fresh look at Nomad and a plan: an idle group that nothing holds back. */
  look: boolean;
}

export function triage(
  verdicts: readonly GroupVerdict[],
  cooldownUntil: number | undefined,
  now: number,
): Triage {
  const held = new Map<string, WaitCause>();
  let free = 0;
  for (const { group, policy, decision } of verdicts) {
    if (decision.kind !== "idle") continue;
    const cause = scheduleHold(policy.schedule, "idle-stop", now);
    if (cause) held.set(group, cause);
    else free += 1;
  }
  const cooldown =
    cooldownUntil !== undefined && now < cooldownUntil
      ? { kind: "cooldown" as const, untilMs: cooldownUntil }
      : undefined;
  return { held, cooldown, look: free > 0 && cooldown === undefined };
}

/** What the group's schedule says against an action now (exclude-until, keep-alive), or undefined. */
export function scheduleHold(schedule: Schedule, intent: Intent, now: number): WaitCause | undefined {
  const verdict = schedule.allows(intent, now, true);
  if (verdict.act) return undefined;
  const { timezone } = schedule;
  if (verdict.because === "excluded")
    return { kind: "excluded", untilMs: schedule.excludeUntil ?? now, timezone };
  const windows = schedule.expressions("keep-alive");
  return { kind: "keep-alive", windows, untilMs: schedule.keepAliveUntil(now), timezone };
}

/**
 * After an action: done or dry-run start the cooldown (a dry run is not repeated every cycle); a refusal
 * or failure is tried again next cycle.
 */
export function cooldownAfter(outcome: ActionOutcome, now: number, cooldownMs: number): number | undefined {
  return outcome.kind === "done" || outcome.kind === "dry-run" ? now + cooldownMs : undefined;
}

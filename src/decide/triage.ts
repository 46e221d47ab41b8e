import type { ActionOutcome } from "../model/events.js";
import type { Intent, Schedule } from "../schedule.js";
import type { GroupVerdict, WaitCause } from "./causes.js";

/**
 * What holds a job back before anything is read again, decided here once for the whole act: the
 * schedules of its idle groups (exclude-until, keep-alive), the job's cooldown after an action, and in a
 * dry run what it already said it would do. The plan takes it as given (planJob's `triage`), so these
 * rules are not checked a second time.
 */
export interface Triage {
  /** The idle groups held back now, with the cause: their schedule, else the job's cooldown, else a dry run's word. */
  held: ReadonlyMap<string, WaitCause>;
  /** Set while the job is in its cooldown. */
  cooldown: Extract<WaitCause, { kind: "cooldown" }> | undefined;
  /** Whether the job is worth a fresh look at Nomad and a plan: an idle group that nothing holds back. */
  look: boolean;
}

/** `dryRunSaidUntil`: in a dry run, until when what it would do to the job is not said again. */
export function triage(
  verdicts: readonly GroupVerdict[],
  cooldownUntil: number | undefined,
  now: number,
  dryRunSaidUntil?: number,
): Triage {
  const cooldown =
    cooldownUntil !== undefined && now < cooldownUntil
      ? { kind: "cooldown" as const, untilMs: cooldownUntil }
      : undefined;
  const said =
    dryRunSaidUntil !== undefined && now < dryRunSaidUntil
      ? { kind: "dry-run-said" as const, untilMs: dryRunSaidUntil }
      : undefined;
  const held = new Map<string, WaitCause>();
  for (const { group, policy, decision } of verdicts) {
    if (decision.kind !== "idle") continue;
    const cause = scheduleHold(policy.schedule, "idle-stop", now) ?? cooldown ?? said;
    if (cause) held.set(group, cause);
  }
  const idle = verdicts.filter(({ decision }) => decision.kind === "idle").length;
  return { held, cooldown, look: idle > held.size };
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
 * After an action: done starts the cooldown; a refusal or failure is tried again next cycle. A dry run's
 * decision is no action: it starts none (it is only not said again for a while: `dryRunSaidUntil`).
 */
export function cooldownAfter(outcome: ActionOutcome, now: number, cooldownMs: number): number | undefined {
  return outcome.kind === "done" ? now + cooldownMs : undefined;
}

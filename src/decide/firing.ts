import { isLive } from "../model/allocation.js";
import type { AllocationListStub, Job } from "../model/nomad.js";
import type { GroupPolicy } from "../policy.js";
import type { GroupOutcome, WaitCause } from "./causes.js";
import { type EligibilityRules, groupEligibility } from "./eligibility.js";
import { otherNodes } from "./plan.js";
import { scheduleHold } from "./triage.js";

/** A group whose `stop-at` fired, with the policy it had when it fired. */
export interface FiredGroup {
  group: string;
  policy: GroupPolicy;
}

export interface FiringInput {
  nodeId: string;
  fired: readonly FiredGroup[];
  /** When the stop-at fired. */
  firing: number;
  fresh: Job | undefined;
  allocations: readonly AllocationListStub[];
  now: number;
  rules: EligibilityRules;
}

/**
 * What to do when groups' `stop-at` fired: the owner's explicit wish, so activity does not matter and
 * neither do other nodes' reports — the job is stopped as a whole (or each group scaled to zero, per its
 * action). Only what the job says now counts: gone, stopped, no longer opted in, no longer firing then,
 * or excluded means wait.
 */
export function planFiring(input: FiringInput): GroupOutcome[] {
  const { fresh, fired, now, firing } = input;
  const waitAll = (cause: WaitCause) => fired.map(({ group }) => ({ group, kind: "wait" as const, cause }));
  if (!fresh) return waitAll({ kind: "job-gone" });
  if (fresh.Stop) return waitAll({ kind: "job-stopped" });
  const live = input.allocations.filter(isLive);
  return fired.map(({ group }): GroupOutcome => {
    const eligibility = groupEligibility(fresh, group, input.rules);
    if (eligibility.kind !== "watched")
      return { group, kind: "wait", cause: { kind: "not-eligible", eligibility } };
    const { policy } = eligibility;
    if (policy.schedule.lastFiring("stop-at", firing - 1, firing) !== firing)
      return { group, kind: "wait", cause: { kind: "job-changed", changes: ["policy"] } };
    const held = scheduleHold(policy.schedule, "stop-at", now);
    if (held) return { group, kind: "wait", cause: held };
    if (policy.action === "stop") return { group, kind: "stop", otherNodes: otherNodes(input, live) };
    const min = fresh.TaskGroups.find((candidate) => candidate.Name === group)?.Scaling?.Min ?? 0;
    if (min > 0) return { group, kind: "wait", cause: { kind: "scaling-min", min } };
    return { group, kind: "scale", otherNodes: otherNodes(input, live, group) };
  });
}

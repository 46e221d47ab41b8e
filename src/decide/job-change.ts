import type { Job } from "../model/nomad.js";
import type { GroupPolicy } from "../policy.js";
import type { JobChange } from "./causes.js";
import { type EligibilityRules, groupEligibility } from "./eligibility.js";

/** The group's tasks as comparable text; a fingerprint of what runs, so a changed image or command shows. */
export function groupTasks(job: Job, group: string): string {
  return JSON.stringify(job.TaskGroups.find((candidate) => candidate.Name === group)?.Tasks ?? null);
}

/**
 * What a group's idle timer depends on: its policy, its tasks and the job's type. When it differs from
 * the last cycle's, someone re-ran the job and the group is measured again from now; a change of count
 * alone (a scale) leaves it as it was.
 */
export function groupFingerprint(job: Job, group: string, policy: GroupPolicy): string {
  return JSON.stringify([policy, job.Type, groupTasks(job, group)]);
}

/** What changed for the group between the job the decision saw and the fresh one; counts do not count. */
export function jobChanges(decidedOn: Job, fresh: Job, group: string, rules: EligibilityRules): JobChange[] {
  if (decidedOn.JobModifyIndex === fresh.JobModifyIndex) return [];
  const changes: JobChange[] = [];
  if (decidedOn.Type !== fresh.Type) changes.push("type");
  const policyOf = (job: Job) => JSON.stringify(groupEligibility(job, group, rules));
  if (policyOf(decidedOn) !== policyOf(fresh)) changes.push("policy");
  if (groupTasks(decidedOn, group) !== groupTasks(fresh, group)) changes.push("tasks");
  return changes;
}

import { jobKey, type LiveAllocation } from "../model/allocation.js";
import type { MetaProblem } from "../model/meta.js";
import type { Job, JobOutline } from "../model/nomad.js";
import { type GroupPolicy, groupPolicy, ignoredTaskKeys, type PolicyDefaults } from "../policy.js";

/** What decides whether a group may be watched, besides its job's meta. */
export interface EligibilityRules {
  defaults: PolicyDefaults;
  /** Namespaces the monitor may act in; `"*"` means all. */
  namespaces: readonly string[] | "*";
  /** The monitor's own job, never acted on. */
  self: { namespace: string; jobId: string | undefined };
}

/** Whether one group of a job may be watched, and if not, why — as data, for the planner and the log. */
export type GroupEligibility =
  | { kind: "watched"; policy: GroupPolicy }
  | { kind: "not-opted-in" }
  | { kind: "system-job"; type: string }
  | { kind: "own-job" }
  | { kind: "namespace-not-allowed" }
  | { kind: "invalid-meta"; problems: MetaProblem[] }
  | { kind: "other-driver"; task: string; driver: string };

const SYSTEM_TYPES = new Set(["system", "sysbatch"]);

export function groupEligibility(job: JobOutline, group: string, rules: EligibilityRules): GroupEligibility {
  if (SYSTEM_TYPES.has(job.Type)) return { kind: "system-job", type: job.Type };
  if (job.ID === rules.self.jobId && job.Namespace === rules.self.namespace) return { kind: "own-job" };
  const result = groupPolicy(job, group, rules.defaults);
  if (result.kind === "not-opted-in") return result;
  if (rules.namespaces !== "*" && !rules.namespaces.includes(job.Namespace)) {
    return { kind: "namespace-not-allowed" };
  }
  if (result.kind === "invalid") return { kind: "invalid-meta", problems: result.problems };
  const tasks = job.TaskGroups.find((candidate) => candidate.Name === group)?.Tasks ?? [];
  const other = tasks.find((task) => task.Driver !== "docker");
  if (other) return { kind: "other-driver", task: other.Name, driver: other.Driver };
  return { kind: "watched", policy: result.policy };
}

/** An opted-in task group as seen on this node in one cycle. */
export interface WatchedGroup {
  key: string;
  namespace: string;
  jobId: string;
  group: string;
  /** The job version the view holds, which the group's policy was read from. */
  job: Job;
  policy: GroupPolicy;
  allocations: LiveAllocation[];
}

/** Something about a job's meta or layout that the operator should hear once. */
export type EligibilityNote =
  | { kind: "task-key-ignored"; group: string; task: string; key: string }
  | {
      kind: "not-watched";
      group: string;
      why: Exclude<GroupEligibility, { kind: "watched" | "not-opted-in" }>;
    };

export interface JobNotes {
  namespace: string;
  jobId: string;
  /** Notes are said once per job version. */
  jobModifyIndex: number;
  notes: EligibilityNote[];
}

/** Which groups of this node's live allocations are watched, and what to tell about the others. */
export function watchedGroups(
  live: readonly LiveAllocation[],
  rules: EligibilityRules,
): { watched: WatchedGroup[]; notes: JobNotes[] } {
  const byGroup = new Map<string, { job: Job; group: string; allocations: LiveAllocation[] }>();
  for (const alloc of live) {
    if (!alloc.job) continue;
    const key = `${jobKey(alloc.namespace, alloc.jobId)}/${alloc.group}`;
    const entry = byGroup.get(key) ?? { job: alloc.job, group: alloc.group, allocations: [] };
    entry.allocations.push(alloc);
    byGroup.set(key, entry);
  }
  const watched: WatchedGroup[] = [];
  const notesByJob = new Map<string, JobNotes>();
  const notesOf = (job: Job) => {
    const key = jobKey(job.Namespace, job.ID);
    const known = notesByJob.get(key);
    if (known) return known;
    const taskKeys = ignoredTaskKeys(job).map((ignored) => ({
      kind: "task-key-ignored" as const,
      ...ignored,
    }));
    const fresh = {
      namespace: job.Namespace,
      jobId: job.ID,
      jobModifyIndex: job.JobModifyIndex,
      notes: taskKeys,
    };
    notesByJob.set(key, fresh);
    return fresh;
  };
  for (const [key, { job, group, allocations }] of byGroup) {
    const eligibility = groupEligibility(job, group, rules);
    if (eligibility.kind === "system-job" || eligibility.kind === "own-job") continue;
    const notes = notesOf(job);
    if (eligibility.kind === "watched") {
      watched.push({
        key,
        namespace: job.Namespace,
        jobId: job.ID,
        group,
        job,
        policy: eligibility.policy,
        allocations,
      });
    } else if (eligibility.kind !== "not-opted-in") {
      notes.notes.push({ kind: "not-watched", group, why: eligibility });
    }
  }
  return { watched, notes: [...notesByJob.values()].filter((job) => job.notes.length > 0) };
}

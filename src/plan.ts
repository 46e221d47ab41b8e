import { isLive } from "./allocations.js";
import { formatDuration } from "./duration.js";
import { type EligibilityRules, type GroupEligibility, groupEligibility } from "./eligibility.js";
import type { GroupDecision } from "./idle.js";
import type { GroupPolicy } from "./policy.js";
import type { ActionOutcome, AllocationListStub, Job } from "./ports.js";

/** What this node decided about one watched group of the job. */
export interface GroupVerdict {
  group: string;
  policy: GroupPolicy;
  decision: GroupDecision;
  /** The group's allocations on this node that the decision covers (measured this cycle). */
  measured: ReadonlySet<string>;
}

/** What another node's monitor reports about one allocation there (none yet: activity is not shared). */
export interface PeerEvidence {
  nodeId: string;
  allocId: string;
  /** How long the allocation has been quiet; undefined when that node cannot tell (unknown). */
  idleForMs: number | undefined;
}

export interface PlanInput {
  nodeId: string;
  /** The job as the decisions saw it (the view's copy). */
  decidedOn: Job;
  verdicts: readonly GroupVerdict[];
  /** The job re-read right before acting; undefined when it no longer exists. */
  fresh: Job | undefined;
  /** The job's allocations on every node, re-read with it. */
  allocations: readonly AllocationListStub[];
  peers: readonly PeerEvidence[];
  now: number;
  cooldownUntil: number | undefined;
  rules: EligibilityRules;
}

export type JobChange = "policy" | "tasks" | "type";

/** Why a group is not acted on now. Data, not text: the log line is rendered from it. */
export type WaitCause =
  | { kind: "job-gone" }
  | { kind: "job-stopped" }
  | { kind: "cooldown"; untilMs: number }
  | { kind: "not-idle"; decision: Exclude<GroupDecision, { kind: "idle" }> }
  | { kind: "not-eligible"; eligibility: Exclude<GroupEligibility, { kind: "watched" }> }
  | { kind: "job-changed"; changes: JobChange[] }
  | { kind: "unmeasured-allocations"; allocIds: string[] }
  | { kind: "elsewhere"; nodes: string[] }
  | { kind: "scaling-min"; min: number }
  | { kind: "other-groups"; groups: Array<{ group: string; why: OtherGroupState }> };

/** Why another group of the job keeps a `stop` from happening. */
export type OtherGroupState =
  | { kind: "waiting"; cause: WaitCause }
  | { kind: "scale-to-zero" }
  | { kind: "not-eligible"; eligibility: Exclude<GroupEligibility, { kind: "watched" }> }
  | { kind: "not-seen-here"; nodes: string[] };

export type GroupOutcome =
  | { group: string; kind: "stop" }
  | { group: string; kind: "scale" }
  | { group: string; kind: "wait"; cause: WaitCause };

/**
 * Decides, for each watched group of one job, what to do now: stop the job (every group with live
 * allocations anywhere must be idle and set to `stop`), scale the group to zero, or wait — never on a
 * guess. A decision made on another version of the job than the fresh one stands only when the change
 * leaves the group's policy, tasks and type as they were (a scale changes only counts).
 */
export function planJob(input: PlanInput): GroupOutcome[] {
  const { fresh, verdicts, now, cooldownUntil } = input;
  const waitAll = (cause: WaitCause) =>
    verdicts.map(({ group }) => ({ group, kind: "wait" as const, cause }));
  if (!fresh) return waitAll({ kind: "job-gone" });
  if (fresh.Stop) return waitAll({ kind: "job-stopped" });
  if (cooldownUntil !== undefined && now < cooldownUntil)
    return waitAll({ kind: "cooldown", untilMs: cooldownUntil });

  const live = input.allocations.filter(isLive);
  const blocked = new Map(verdicts.map((verdict) => [verdict.group, readiness(input, fresh, live, verdict)]));
  return verdicts.map((verdict): GroupOutcome => {
    const { group } = verdict;
    const cause = blocked.get(group);
    if (cause) return { group, kind: "wait", cause };
    if (verdict.policy.action === "scale-to-zero") {
      const min = fresh.TaskGroups.find((candidate) => candidate.Name === group)?.Scaling?.Min ?? 0;
      return min > 0
        ? { group, kind: "wait", cause: { kind: "scaling-min", min } }
        : { group, kind: "scale" };
    }
    const others = [...new Set(live.map((alloc) => alloc.TaskGroup))]
      .filter((other) => other !== group)
      .flatMap((other) => {
        const why = otherGroupState(input, fresh, live, blocked, other);
        return why ? [{ group: other, why }] : [];
      });
    return others.length > 0
      ? { group, kind: "wait", cause: { kind: "other-groups", groups: others } }
      : { group, kind: "stop" };
  });
}

/** Why this group cannot be acted on by its own measure, or undefined when it can. */
function readiness(
  input: PlanInput,
  fresh: Job,
  live: readonly AllocationListStub[],
  verdict: GroupVerdict,
): WaitCause | undefined {
  const { decision, group } = verdict;
  if (decision.kind !== "idle") return { kind: "not-idle", decision };
  const eligibility = groupEligibility(fresh, group, input.rules);
  if (eligibility.kind !== "watched") return { kind: "not-eligible", eligibility };
  const changes = jobChanges(input.decidedOn, fresh, group, input.rules);
  if (changes.length > 0) return { kind: "job-changed", changes };

  const ofGroup = live.filter((alloc) => alloc.TaskGroup === group);
  const unmeasured = ofGroup.filter(
    (alloc) => alloc.NodeID === input.nodeId && !verdict.measured.has(alloc.ID),
  );
  if (unmeasured.length > 0)
    return { kind: "unmeasured-allocations", allocIds: unmeasured.map((alloc) => alloc.ID) };
  const awaited = awaitedNodes(input, ofGroup, verdict.policy.timeoutMs);
  return awaited.length > 0 ? { kind: "elsewhere", nodes: awaited } : undefined;
}

/** Nodes running live allocations of the group whose evidence does not show them idle for the timeout. */
function awaitedNodes(input: PlanInput, ofGroup: readonly AllocationListStub[], timeoutMs: number): string[] {
  const idleThere = (alloc: AllocationListStub) => {
    const evidence = input.peers.find((peer) => peer.allocId === alloc.ID && peer.nodeId === alloc.NodeID);
    return evidence?.idleForMs !== undefined && evidence.idleForMs >= timeoutMs;
  };
  const awaited = ofGroup.filter((alloc) => alloc.NodeID !== input.nodeId && !idleThere(alloc));
  return [...new Set(awaited.map((alloc) => alloc.NodeName || alloc.NodeID.slice(0, 8)))];
}

function otherGroupState(
  input: PlanInput,
  fresh: Job,
  live: readonly AllocationListStub[],
  blocked: ReadonlyMap<string, WaitCause | undefined>,
  group: string,
): OtherGroupState | undefined {
  const verdict = input.verdicts.find((candidate) => candidate.group === group);
  if (verdict) {
    const cause = blocked.get(group);
    if (cause) return { kind: "waiting", cause };
    return verdict.policy.action === "stop" ? undefined : { kind: "scale-to-zero" };
  }
  const eligibility = groupEligibility(fresh, group, input.rules);
  if (eligibility.kind !== "watched") return { kind: "not-eligible", eligibility };
  const nodes = live
    .filter((alloc) => alloc.TaskGroup === group)
    .map((alloc) => alloc.NodeName || alloc.NodeID.slice(0, 8));
  return { kind: "not-seen-here", nodes: [...new Set(nodes)] };
}

/** What changed for the group between the job the decision saw and the fresh one; counts do not count. */
function jobChanges(decidedOn: Job, fresh: Job, group: string, rules: EligibilityRules): JobChange[] {
  if (decidedOn.JobModifyIndex === fresh.JobModifyIndex) return [];
  const changes: JobChange[] = [];
  if (decidedOn.Type !== fresh.Type) changes.push("type");
  const policyOf = (job: Job) => JSON.stringify(groupEligibility(job, group, rules));
  if (policyOf(decidedOn) !== policyOf(fresh)) changes.push("policy");
  if (groupTasks(decidedOn, group) !== groupTasks(fresh, group)) changes.push("tasks");
  return changes;
}

/** The group's tasks as comparable text; a fingerprint of what runs, so a changed image or command shows. */
export function groupTasks(job: Job, group: string): string {
  return JSON.stringify(job.TaskGroups.find((candidate) => candidate.Name === group)?.Tasks ?? null);
}

/** After an action: done or dry-run start the cooldown (a dry run is not repeated every cycle); a refusal or failure is tried again next cycle. */
export function cooldownAfter(outcome: ActionOutcome, now: number, cooldownMs: number): number | undefined {
  return outcome.kind === "done" || outcome.kind === "dry-run" ? now + cooldownMs : undefined;
}

/** The log line for a wait, or undefined when waiting is the ordinary course (said at debug). */
export function describeWait(jobId: string, group: string, cause: WaitCause, now: number): string {
  const what = `job ${jobId} group ${group}`;
  switch (cause.kind) {
    case "job-gone":
      return `${what}: the job no longer exists; nothing to do`;
    case "job-stopped":
      return `${what}: the job is already stopped; nothing to do`;
    case "cooldown":
      return `${what}: acted on recently; leaving it alone for ${formatDuration(cause.untilMs - now)} more`;
    case "not-idle":
      return `${what}: ${cause.decision.kind}: ${cause.decision.reason}`;
    case "not-eligible":
      return `${what}: ${describeEligibility(cause.eligibility)} in the job as it is now; not acting`;
    case "job-changed":
      return `${what} changed (${cause.changes.join(", ")}) since it was measured; measuring it again from now before acting`;
    case "unmeasured-allocations":
      return `${what} has ${plural(cause.allocIds.length, "allocation")} on this node that ${cause.allocIds.length === 1 ? "was" : "were"} not measured yet (${cause.allocIds.map(shortId).join(", ")}); waiting for a reading`;
    case "elsewhere":
      return `${what} is idle here but also runs on ${describeNodes(cause.nodes)}, whose activity this node cannot see; not acting`;
    case "scaling-min":
      return `${what} is idle, but its scaling block has min = ${cause.min}, so it cannot be scaled to 0; leaving it`;
    case "other-groups":
      return `${what} is idle, but not stopping the job while ${cause.groups.map(describeOther).join(", ")}`;
  }
}

function describeOther({ group, why }: { group: string; why: OtherGroupState }): string {
  switch (why.kind) {
    case "waiting":
      return `group ${group} is ${why.cause.kind === "not-idle" ? `${why.cause.decision.kind} (${why.cause.decision.reason})` : `waiting (${why.cause.kind})`}`;
    case "scale-to-zero":
      return `group ${group} is set to scale-to-zero`;
    case "not-eligible":
      return `group ${group} is ${describeEligibility(why.eligibility)}`;
    case "not-seen-here":
      return `group ${group} runs only on ${describeNodes(why.nodes)}`;
  }
}

export function describeEligibility(eligibility: Exclude<GroupEligibility, { kind: "watched" }>): string {
  switch (eligibility.kind) {
    case "not-opted-in":
      return "not opted in";
    case "system-job":
      return `part of a ${eligibility.type} job`;
    case "own-job":
      return "the monitor's own job";
    case "namespace-not-allowed":
      return "in a namespace outside NAMESPACES";
    case "invalid-meta":
      return "set with invalid meta";
    case "other-driver":
      return `not measurable (task ${eligibility.task} uses the ${eligibility.driver} driver)`;
  }
}

function describeNodes(nodes: readonly string[]): string {
  return nodes.length === 1 ? `node ${nodes[0]}` : `nodes ${nodes.join(", ")}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** Nomad's UI and CLI show the first 8 characters of an ID. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

import { formatDuration } from "./duration.js";
import { type EligibilityRules, type GroupEligibility, groupEligibility } from "./eligibility.js";
import type { GroupDecision } from "./idle.js";
import { isLive, shortId } from "./model/allocation.js";
import type { PeerEvidence } from "./model/cluster.js";
import type { ActionOutcome } from "./model/events.js";
import type { AllocationListStub, Job } from "./model/nomad.js";
import type { GroupPolicy } from "./policy.js";
import { describeInstant, type Intent, type Schedule } from "./schedule.js";

/** What this node decided about one watched group of the job. */
export interface GroupVerdict {
  group: string;
  policy: GroupPolicy;
  decision: GroupDecision;
  /** The group's allocations on this node that the decision covers (measured this cycle). */
  measured: ReadonlySet<string>;
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
  /**
   * One node acts per job: the node of the job's lowest live allocation ID. The node ranked k after it
   * acts only once the job has been idle k × takeoverMs longer (the ones before it did not act).
   */
  takeoverMs: number;
  now: number;
  cooldownUntil: number | undefined;
  rules: EligibilityRules;
}

export type JobChange = "policy" | "tasks" | "type";

/** A node whose word is needed before acting, and what it says (or that it says nothing). */
export interface AwaitedNode {
  node: string;
  why: "no report" | "stale report" | "active" | "unknown" | "not quiet long enough";
}

/** Why a group is not acted on now. Data, not text: the log line is rendered from it. */
export type WaitCause =
  | { kind: "job-gone" }
  | { kind: "job-stopped" }
  | { kind: "cooldown"; untilMs: number }
  /** `idle-monitor.exclude-until`: nothing is done before it. */
  | { kind: "excluded"; untilMs: number; timezone: string }
  /** In an `idle-monitor.keep-alive` window: not stopped for idleness; `untilMs` when the window ends. */
  | { kind: "keep-alive"; windows: readonly string[]; untilMs: number | undefined; timezone: string }
  | { kind: "not-idle"; decision: Exclude<GroupDecision, { kind: "idle" }> }
  | { kind: "not-eligible"; eligibility: Exclude<GroupEligibility, { kind: "watched" }> }
  | { kind: "job-changed"; changes: JobChange[] }
  | { kind: "unmeasured-allocations"; allocIds: string[] }
  | { kind: "awaiting-nodes"; nodes: AwaitedNode[] }
  | { kind: "other-node-acts"; node: string }
  | { kind: "scaling-min"; min: number }
  | { kind: "other-groups"; groups: Array<{ group: string; why: OtherGroupState }> };

/** Why another group of the job keeps a `stop` from happening. */
export type OtherGroupState =
  | { kind: "waiting"; cause: WaitCause }
  | { kind: "scale-to-zero" }
  | { kind: "not-eligible"; eligibility: Exclude<GroupEligibility, { kind: "watched" }> }
  | { kind: "not-seen-here"; nodes: AwaitedNode[] };

export type GroupOutcome =
  /** `otherNodes`: the other nodes whose reports showed the allocations there idle too. */
  | { group: string; kind: "stop"; otherNodes: string[] }
  | { group: string; kind: "scale"; otherNodes: string[] }
  | { group: string; kind: "wait"; cause: WaitCause };

/**
 * Decides, for each watched group of one job, what to do now: stop the job (every group with live
 * allocations anywhere must be idle and set to `stop`), scale the group to zero, or wait — never on a
 * guess. A decision made on another version of the job than the fresh one stands only when the change
 * leaves the group's policy, tasks and type as they were (a scale changes only counts). Allocations on
 * other nodes count only with their node's fresh report of idleness.
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
      if (min > 0) return { group, kind: "wait", cause: { kind: "scaling-min", min } };
      return { group, kind: "scale", otherNodes: otherNodes(input, live, group) };
    }
    const others = [...new Set(live.map((alloc) => alloc.TaskGroup))]
      .filter((other) => other !== group)
      .flatMap((other) => {
        const why = otherGroupState(input, fresh, live, blocked, other);
        return why ? [{ group: other, why }] : [];
      });
    if (others.length > 0) return { group, kind: "wait", cause: { kind: "other-groups", groups: others } };
    return { group, kind: "stop", otherNodes: otherNodes(input, live) };
  });
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

/** Why this group cannot be acted on by its own measure, or undefined when it can. */
function readiness(
  input: PlanInput,
  fresh: Job,
  live: readonly AllocationListStub[],
  verdict: GroupVerdict,
): WaitCause | undefined {
  const { decision, group } = verdict;
  if (decision.kind !== "idle") return { kind: "not-idle", decision };
  const held = scheduleHold(verdict.policy.schedule, "idle-stop", input.now);
  if (held) return held;
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
  if (awaited.length > 0) return { kind: "awaiting-nodes", nodes: awaited };
  return actingNodeCause(input, live, decision.idleForMs, verdict.policy.timeoutMs);
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
  if (eligibility.policy.action !== "stop") return { kind: "scale-to-zero" };
  const ofGroup = live.filter((alloc) => alloc.TaskGroup === group);
  const nodes = awaitedNodes(input, ofGroup, eligibility.policy.timeoutMs);
  return nodes.length > 0 ? { kind: "not-seen-here", nodes } : undefined;
}

/** Other nodes running live allocations of the group whose reports do not show them idle for the timeout. */
function awaitedNodes(
  input: PlanInput,
  ofGroup: readonly AllocationListStub[],
  timeoutMs: number,
): AwaitedNode[] {
  const awaited = new Map<string, AwaitedNode>();
  for (const alloc of ofGroup) {
    if (alloc.NodeID === input.nodeId) continue;
    const why = remoteWhy(input, alloc, timeoutMs);
    if (why) awaited.set(alloc.NodeID, { node: nodeName(alloc), why });
  }
  return [...awaited.values()];
}

function remoteWhy(
  input: PlanInput,
  alloc: AllocationListStub,
  timeoutMs: number,
): AwaitedNode["why"] | undefined {
  const evidence = input.peers.find((peer) => peer.allocId === alloc.ID && peer.nodeId === alloc.NodeID);
  if (!evidence) return "no report";
  if (evidence.state === "stale") return "stale report";
  if (evidence.state !== "quiet") return evidence.state;
  return (evidence.idleForMs ?? 0) >= timeoutMs ? undefined : "not quiet long enough";
}

/** Waits unless this node is the one to act now (see `PlanInput.takeoverMs`). */
function actingNodeCause(
  input: PlanInput,
  live: readonly AllocationListStub[],
  idleForMs: number,
  timeoutMs: number,
): WaitCause | undefined {
  const firstAllocOfNode = new Map<string, AllocationListStub>();
  for (const alloc of [...live].sort((a, b) => a.ID.localeCompare(b.ID))) {
    if (!firstAllocOfNode.has(alloc.NodeID)) firstAllocOfNode.set(alloc.NodeID, alloc);
  }
  const order = [...firstAllocOfNode.values()];
  const rank = order.findIndex((alloc) => alloc.NodeID === input.nodeId);
  const [leader] = order;
  if (rank <= 0 || !leader) return undefined;
  const remoteIdle = input.peers
    .filter((peer) => live.some((alloc) => alloc.ID === peer.allocId))
    .map((peer) => peer.idleForMs ?? 0);
  if (Math.min(idleForMs, ...remoteIdle) >= timeoutMs + rank * input.takeoverMs) return undefined;
  return { kind: "other-node-acts", node: nodeName(leader) };
}

/** The other nodes that run live allocations of the job (or of one group), by name. */
function otherNodes(
  input: { nodeId: string },
  live: readonly AllocationListStub[],
  group?: string,
): string[] {
  const remote = live.filter(
    (alloc) => alloc.NodeID !== input.nodeId && (group === undefined || alloc.TaskGroup === group),
  );
  return [...new Set(remote.map(nodeName))];
}

function nodeName(alloc: AllocationListStub): string {
  return alloc.NodeName || shortId(alloc.NodeID);
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

/**
 * After an action: done or dry-run start the cooldown (a dry run is not repeated every cycle); a refusal
 * or failure is tried again next cycle.
 */
export function cooldownAfter(outcome: ActionOutcome, now: number, cooldownMs: number): number | undefined {
  return outcome.kind === "done" || outcome.kind === "dry-run" ? now + cooldownMs : undefined;
}

/** The log line for a wait. */
export function describeWait(jobId: string, group: string, cause: WaitCause, now: number): string {
  const what = `job ${jobId} group ${group}`;
  switch (cause.kind) {
    case "job-gone":
      return `${what}: the job no longer exists; nothing to do`;
    case "job-stopped":
      return `${what}: the job is already stopped; nothing to do`;
    case "cooldown":
      return `${what}: acted on recently; leaving it alone for ${formatDuration(cause.untilMs - now)} more`;
    case "excluded":
      return `${what}: excluded until ${describeInstant(cause.untilMs, cause.timezone)} (idle-monitor.exclude-until); not acting on it before then`;
    case "keep-alive": {
      const until =
        cause.untilMs === undefined ? "" : ` until ${describeInstant(cause.untilMs, cause.timezone)}`;
      return `${what} is idle, but in its keep-alive window (${cause.windows.map((window) => `"${window}"`).join("; ")})${until}; not stopping it for idleness before then`;
    }
    case "not-idle":
      return `${what}: ${cause.decision.kind}: ${cause.decision.reason}`;
    case "not-eligible":
      return `${what}: ${describeEligibility(cause.eligibility)} in the job as it is now; not acting`;
    case "job-changed":
      return `${what} changed (${cause.changes.join(", ")}) since it was measured; measuring it again from now before acting`;
    case "unmeasured-allocations": {
      const count = cause.allocIds.length;
      return `${what} has ${count} allocation${count === 1 ? "" : "s"} on this node that ${count === 1 ? "was" : "were"} not measured yet (${cause.allocIds.map(shortId).join(", ")}); waiting for a reading`;
    }
    case "awaiting-nodes":
      return `${what} is idle here, but not acting while ${describeAwaited(cause.nodes)}`;
    case "other-node-acts":
      return `${what} is idle everywhere; node ${cause.node} acts on it (this node takes over if it does not)`;
    case "scaling-min":
      return `${what} is idle, but its scaling block has min = ${cause.min}, so it cannot be scaled to 0; leaving it`;
    case "other-groups":
      return `${what} is idle, but not stopping the job while ${cause.groups.map(describeOther).join(", ")}`;
  }
}

function describeOther({ group, why }: { group: string; why: OtherGroupState }): string {
  switch (why.kind) {
    case "waiting": {
      const { cause } = why;
      if (cause.kind === "not-idle")
        return `group ${group} is ${cause.decision.kind} (${cause.decision.reason})`;
      return `group ${group} is waiting (${cause.kind})`;
    }
    case "scale-to-zero":
      return `group ${group} is set to scale-to-zero`;
    case "not-eligible":
      return `group ${group} is ${describeEligibility(why.eligibility)}`;
    case "not-seen-here":
      return `group ${group} runs on other nodes (${describeAwaited(why.nodes)})`;
  }
}

function describeEligibility(eligibility: Exclude<GroupEligibility, { kind: "watched" }>): string {
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

const AWAITED_WORDS: Record<AwaitedNode["why"], string> = {
  "no report": "has not reported",
  "stale report": "has not reported recently",
  active: "reports activity",
  unknown: "cannot measure its allocation",
  "not quiet long enough": "reports it quiet, but not for the timeout yet",
};

function describeAwaited(nodes: readonly AwaitedNode[]): string {
  return nodes.map(({ node, why }) => `node ${node} ${AWAITED_WORDS[why]}`).join(", ");
}

/** " here and on 2 other nodes (b, c)", for the line that says why a job was acted on. */
export function describeWhere(otherNodes: readonly string[]): string {
  if (otherNodes.length === 0) return "";
  if (otherNodes.length === 1) return ` here and on node ${otherNodes[0]}`;
  return ` here and on ${otherNodes.length} other nodes (${otherNodes.join(", ")})`;
}

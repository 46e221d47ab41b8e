import { isLive, shortId } from "../model/allocation.js";
import type { PeerEvidence } from "../model/cluster.js";
import type { AllocationListStub, Job } from "../model/nomad.js";
import type { AwaitedNode, GroupOutcome, GroupVerdict, OtherGroupState, WaitCause } from "./causes.js";
import { type EligibilityRules, groupEligibility } from "./eligibility.js";
import { jobChanges } from "./job-change.js";
import type { Triage } from "./triage.js";

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
  /** What held the job back before the fresh look (triage.ts): the plan takes it as given. */
  triage: Triage;
  rules: EligibilityRules;
}

/**
 * Decides, for each watched group of one job, what to do now: stop the job (every group with live
 * allocations anywhere must be idle and set to `stop`), scale the group to zero, or wait — never on a
 * guess. A decision made on another version of the job than the fresh one stands only when the change
 * leaves the group's policy, tasks and type as they were (a scale changes only counts). Allocations on
 * other nodes count only with their node's fresh report of idleness.
 */
export function planJob(input: PlanInput): GroupOutcome[] {
  const { fresh, verdicts, triage } = input;
  const waitAll = (cause: WaitCause) =>
    verdicts.map(({ group }) => ({ group, kind: "wait" as const, cause }));
  if (!fresh) return waitAll({ kind: "job-gone" });
  if (fresh.Stop) return waitAll({ kind: "job-stopped" });
  if (triage.cooldown) return waitAll(triage.cooldown);

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

/** Why this group cannot be acted on by its own measure, or undefined when it can. */
function readiness(
  input: PlanInput,
  fresh: Job,
  live: readonly AllocationListStub[],
  verdict: GroupVerdict,
): WaitCause | undefined {
  const { decision, group } = verdict;
  if (decision.kind !== "idle") return { kind: "not-idle", decision };
  const held = input.triage.held.get(group);
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
export function otherNodes(
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

import type { NomadAllocation, NomadJob } from "./model.js";

export interface Placement {
  group: string;
  /** The `[n]` of the allocation name `<job>.<group>[n]`. */
  nameIndex: number;
  nodeId: string;
}

/** What the scheduler decided for one evaluation of a job. */
export interface Plan {
  place: Placement[];
  stop: string[];
  /** Live allocations that move to the job's new version in place. */
  update: string[];
}

export function isLive(alloc: NomadAllocation): boolean {
  return alloc.DesiredStatus === "run" && !isTerminalClientStatus(alloc.ClientStatus);
}

export function isTerminalClientStatus(status: NomadAllocation["ClientStatus"]): boolean {
  return status === "complete" || status === "failed" || status === "lost";
}

export function nameIndexOf(alloc: NomadAllocation): number {
  return Number(/\[(\d+)\]$/.exec(alloc.Name)?.[1] ?? 0);
}

/**
 * Compares a job with its allocations: stops what is no longer wanted (highest names first, as
 * Nomad does), places what is missing (lowest free names, spread over the allowed nodes) and
 * updates the rest in place.
 */
export function reconcile(
  job: NomadJob,
  allocations: readonly NomadAllocation[],
  nodeIds: readonly string[],
  nodesPerGroup: Readonly<Record<string, readonly string[]>>,
): Plan {
  const live = allocations.filter(isLive);
  if (job.Stop) return { place: [], stop: live.map((alloc) => alloc.ID), update: [] };

  const plan: Plan = { place: [], stop: [], update: [] };
  const groups = new Set(job.TaskGroups.map((group) => group.Name));
  for (const alloc of live) if (!groups.has(alloc.TaskGroup)) plan.stop.push(alloc.ID);

  for (const group of job.TaskGroups) {
    const candidates = nodesPerGroup[group.Name] ?? nodeIds;
    const groupLive = live.filter((alloc) => alloc.TaskGroup === group.Name);
    const isSystem = job.Type === "system" || job.Type === "sysbatch";
    const kept = isSystem
      ? reconcileSystemGroup(group.Name, group.Count, groupLive, candidates, plan)
      : reconcileCountedGroup(group.Name, group.Count, groupLive, candidates, plan);
    for (const alloc of kept) if (alloc.Job?.Version !== job.Version) plan.update.push(alloc.ID);
  }
  return plan;
}

function reconcileCountedGroup(
  group: string,
  count: number,
  live: NomadAllocation[],
  candidates: readonly string[],
  plan: Plan,
): NomadAllocation[] {
  const byName = [...live].sort((a, b) => nameIndexOf(a) - nameIndexOf(b));
  const kept = byName.slice(0, count);
  for (const alloc of byName.slice(count)) plan.stop.push(alloc.ID);
  if (candidates.length === 0) return kept;

  const perNode = new Map(candidates.map((nodeId) => [nodeId, 0]));
  for (const alloc of kept)
    if (perNode.has(alloc.NodeID)) perNode.set(alloc.NodeID, (perNode.get(alloc.NodeID) ?? 0) + 1);
  const usedNames = new Set(kept.map(nameIndexOf));
  let nameIndex = 0;
  for (let missing = count - kept.length; missing > 0; missing--) {
    while (usedNames.has(nameIndex)) nameIndex++;
    usedNames.add(nameIndex);
    const nodeId = leastLoaded(perNode);
    perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
    plan.place.push({ group, nameIndex, nodeId });
  }
  return kept;
}

// System jobs run one allocation per node; a count of 0 stops them everywhere.
function reconcileSystemGroup(
  group: string,
  count: number,
  live: NomadAllocation[],
  candidates: readonly string[],
  plan: Plan,
): NomadAllocation[] {
  if (count === 0) {
    for (const alloc of live) plan.stop.push(alloc.ID);
    return [];
  }
  const covered = new Set(live.map((alloc) => alloc.NodeID));
  for (const nodeId of candidates) if (!covered.has(nodeId)) plan.place.push({ group, nameIndex: 0, nodeId });
  return live;
}

function leastLoaded(perNode: Map<string, number>): string {
  let best: [string, number] | undefined;
  for (const entry of perNode) if (!best || entry[1] < best[1]) best = entry;
  if (!best) throw new Error("no node to place on");
  return best[0];
}

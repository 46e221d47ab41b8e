import { jobKey } from "../model/allocation.js";
import type { AllocationListStub } from "../model/nomad.js";
import { intervalOfHeartbeat } from "../model/timing.js";
import { groupPolicy } from "../policy.js";
import type { AllocationStatus, JobSeen, ReadingState, ReportedAllocation, StatusWait } from "./types.js";

// Why a group is not counting down, as the reports and the job as it is now say.

/** What the readings of the group's allocations hold it back with. */
export function readingWaits(allocations: readonly AllocationStatus[]): StatusWait[] {
  const nodesIn = (state: ReadingState) => [
    ...new Set(allocations.filter((alloc) => alloc.state === state).map((alloc) => alloc.node)),
  ];
  const waits: StatusWait[] = [];
  const active = nodesIn("active");
  const unknown = nodesIn("unknown");
  if (active.length > 0) waits.push({ kind: "active", nodes: active });
  if (unknown.length > 0) waits.push({ kind: "unknown", nodes: unknown });
  for (const node of nodesIn("stale")) waits.push({ kind: "node-awaited", node, why: "stale report" });
  for (const node of nodesIn("unreported")) waits.push({ kind: "node-awaited", node, why: "no report" });
  return waits;
}

/** What the job as it is now says: stopped, the group no longer opted in, or (for `stop`) its other groups. */
export function jobWaits(
  seen: Extract<JobSeen, { kind: "found" }>,
  group: string,
  live: readonly AllocationListStub[],
  all: ReadonlyMap<string, { reports: ReportedAllocation[] }>,
  readings: readonly ReportedAllocation[],
): { waits: StatusWait[]; remainingMs: number } {
  const { job } = seen;
  const only = (wait: StatusWait) => ({ waits: [wait], remainingMs: 0 });
  if (job.Stop) return only({ kind: "job-stopped" });
  const defaults = policyDefaults(readings);
  const own = groupPolicy(job, group, defaults);
  if (own.kind === "not-opted-in") return only({ kind: "not-opted-in" });
  if (own.kind === "invalid") return only({ kind: "invalid-meta", groups: [group] });
  if (own.policy.action !== "stop") return { waits: [], remainingMs: 0 };
  // planner: a stop needs every group with live allocations anywhere opted in with `stop`, and idle.
  const others = [...new Set(live.map((alloc) => alloc.TaskGroup))].filter((other) => other !== group).sort();
  const notOptedIn: string[] = [];
  const invalid: string[] = [];
  const waits: StatusWait[] = [];
  let remainingMs = 0;
  for (const other of others) {
    const policy = groupPolicy(job, other, defaults);
    if (policy.kind === "not-opted-in") notOptedIn.push(other);
    else if (policy.kind === "invalid") invalid.push(other);
    else if (policy.policy.action !== "stop")
      waits.push({ kind: "other-group", group: other, why: "scale-to-zero" });
    else {
      const remaining = remainingOf(all.get(`${jobKey(job.Namespace, job.ID)}/${other}`)?.reports);
      if (remaining === undefined) waits.push({ kind: "other-group", group: other, why: "not idle" });
      else remainingMs = Math.max(remainingMs, remaining);
    }
  }
  if (notOptedIn.length > 0) waits.unshift({ kind: "partly-opted-in", groups: notOptedIn });
  if (invalid.length > 0) waits.unshift({ kind: "invalid-meta", groups: invalid });
  return { waits, remainingMs };
}

/** How long until another group's reported allocations are all idle for its timeout; undefined unless all quiet. */
function remainingOf(readings: readonly ReportedAllocation[] | undefined): number | undefined {
  if (!readings || readings.length === 0) return undefined;
  let remaining = 0;
  for (const { stale, record, age } of readings) {
    if (stale || record.state !== "quiet" || age === undefined) return undefined;
    remaining = Math.max(remaining, (record.timeoutMs ?? 0) - (record.quietForMs ?? 0) - age);
  }
  return remaining;
}

/** Meta is read as the monitors read it; only validity matters here, and the reports carry the interval. */
function policyDefaults(readings: readonly ReportedAllocation[]) {
  const heartbeatMs = readings[0]?.heartbeatMs ?? 0;
  return {
    timeoutMs: 0,
    thresholdBytes: 0,
    checkIntervalMs: intervalOfHeartbeat(heartbeatMs),
    timezone: "UTC",
  };
}

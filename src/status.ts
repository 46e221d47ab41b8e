import { isLive, jobKey, shortId } from "./model/allocation.js";
import type { NodeReport } from "./model/cluster.js";
import type { AllocationListStub, Job } from "./model/nomad.js";
import { intervalOfHeartbeat, staleAfterMs } from "./model/timing.js";
import { groupPolicy } from "./policy.js";

/**
 * What `nomad-idle-monitor status` and the monitor's `/v1/status` show: for every watched group, its
 * state across nodes and how long until it is acted on, or why it waits. Pure: reports, jobs,
 * allocations, claims and a `now` in, rows out. Rendering lives in src/cli/.
 */

/** One node's report as published, with when it was written (its Variable's ModifyTime, ms). */
export interface PublishedReport {
  report: NodeReport;
  /** Undefined when not known: its allocations then count as unknown. */
  writtenAt: number | undefined;
}

/** A claim Variable: which node took (or is taking) which action on the job, and when it wrote the claim. */
export interface ClaimSeen {
  namespace: string;
  jobId: string;
  node: string;
  action: string;
  /** The claim's ModifyTime (ms). */
  at: number;
}

/** What Nomad said about one job named in the reports. */
export type JobSeen =
  | { kind: "found"; job: Job; allocations: readonly AllocationListStub[] }
  | { kind: "not-found" }
  /** The token cannot read it: shown from the reports alone. */
  | { kind: "unreadable"; reason: string };

export interface StatusInput {
  reports: readonly PublishedReport[];
  /** By `jobKey(namespace, job)`; a job absent here is shown from the reports alone. */
  jobs?: ReadonlyMap<string, JobSeen>;
  claims?: readonly ClaimSeen[];
  /** The clock `writtenAt` and claim times are read against (the Nomad agent's, for the CLI). */
  now: number;
}

export type ReadingState = "quiet" | "active" | "unknown" | "stale" | "unreported";

/** One allocation of a watched group, as its node last reported it. */
export interface AllocationStatus {
  allocId: string;
  nodeId: string;
  /** The node's name where the job's allocations say it, else the node ID's first 8 characters. */
  node: string;
  /** Nomad's ClientStatus, when the job's allocations were read. */
  clientStatus: string | undefined;
  state: ReadingState;
  /** Quiet: for how long now (the reported quiet time plus the report's age). */
  idleForMs: number | undefined;
  /** Bytes seen since it was last active, as last reported. */
  bytesSinceActive: number | undefined;
  /** How long ago its node's report was written, or undefined when not known. */
  reportAgeMs: number | undefined;
}

/** Why a group is not counting down. Data; src/cli/render.ts says it in words. */
export type StatusWait =
  | { kind: "active"; nodes: string[] }
  | { kind: "unknown"; nodes: string[] }
  | { kind: "node-awaited"; node: string; why: "no report" | "stale report" }
  | { kind: "partly-opted-in"; groups: string[] }
  | { kind: "invalid-meta"; groups: string[] }
  | { kind: "other-group"; group: string; why: "not idle" | "scale-to-zero" }
  | { kind: "not-opted-in" }
  | { kind: "job-stopped" }
  | { kind: "job-not-found" }
  | { kind: "job-unreadable"; reason: string };

export type GroupState = "quiet" | "active" | "unknown" | "waiting";

export interface GroupStatus {
  namespace: string;
  job: string;
  group: string;
  action: string | undefined;
  timeoutMs: number | undefined;
  /** Names of the nodes running live allocations of the group (or reporting them). */
  nodes: string[];
  state: GroupState;
  /** The least idle allocation's idle time, when every allocation is quiet. */
  idleForMs: number | undefined;
  /** When nothing holds it back: how long until it is acted on (0: due now). */
  timeToActionMs: number | undefined;
  waits: StatusWait[];
  lastAction: { node: string; action: string; agoMs: number } | undefined;
  allocations: AllocationStatus[];
}

/** The status of every watched group named in the reports, sorted by namespace, job and group. */
export function computeStatus(input: StatusInput): GroupStatus[] {
  const groups = new Map<string, { namespace: string; job: string; group: string; reports: Reading[] }>();
  for (const published of input.reports) {
    const age = published.writtenAt === undefined ? undefined : Math.max(0, input.now - published.writtenAt);
    const { report } = published;
    const stale = age === undefined || age > staleAfterMs(report.heartbeatMs);
    for (const [allocId, record] of Object.entries(report.allocs)) {
      if (record.namespace === undefined || record.job === undefined || record.group === undefined) continue;
      const key = `${jobKey(record.namespace, record.job)}/${record.group}`;
      const entry = groups.get(key) ?? {
        namespace: record.namespace,
        job: record.job,
        group: record.group,
        reports: [],
      };
      entry.reports.push({
        allocId,
        nodeId: report.nodeId,
        record,
        age,
        stale,
        heartbeatMs: report.heartbeatMs,
      });
      groups.set(key, entry);
    }
  }
  const rows = [...groups.values()].map((entry) => groupStatus(input, entry, groups));
  return rows.sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) || a.job.localeCompare(b.job) || a.group.localeCompare(b.group),
  );
}

/**
 * This node's own view, for the monitor's `/v1/status`: its report alone, just written, without the
 * jobs (what other nodes say and the jobs' current meta are not consulted).
 */
export function nodeStatus(report: NodeReport, now: number): GroupStatus[] {
  return computeStatus({ reports: [{ report, writtenAt: now }], now });
}

interface Reading {
  allocId: string;
  nodeId: string;
  record: NodeReport["allocs"][string];
  age: number | undefined;
  stale: boolean;
  heartbeatMs: number;
}

function groupStatus(
  input: StatusInput,
  entry: { namespace: string; job: string; group: string; reports: Reading[] },
  all: ReadonlyMap<string, { reports: Reading[] }>,
): GroupStatus {
  const { namespace, job: jobId, group } = entry;
  const seen = input.jobs?.get(jobKey(namespace, jobId));
  const first = entry.reports[0]?.record;
  const timeoutMs = first?.timeoutMs;
  const action = first?.action;
  const live = seen?.kind === "found" ? seen.allocations.filter(isLive) : undefined;
  const allocations = allocationsOf(
    entry.reports,
    live?.filter((alloc) => alloc.TaskGroup === group),
  );
  const claim = input.claims?.find(
    (candidate) => candidate.namespace === namespace && candidate.jobId === jobId,
  );
  const lastAction = claim && {
    node: claim.node,
    action: claim.action,
    agoMs: Math.max(0, input.now - claim.at),
  };

  const waits: StatusWait[] = [];
  // A stop waits for the job's other groups too: it comes when the last of them is idle for its timeout.
  let siblingsRemainingMs = 0;
  if (seen?.kind === "not-found") waits.push({ kind: "job-not-found" });
  else if (seen?.kind === "unreadable") waits.push({ kind: "job-unreadable", reason: seen.reason });
  else if (seen?.kind === "found") {
    const job = jobWaits(seen, group, live ?? [], all, entry.reports);
    waits.push(...job.waits);
    siblingsRemainingMs = job.remainingMs;
  }
  waits.push(...readingWaits(allocations));

  const quiet = allocations.length > 0 && allocations.every((alloc) => alloc.state === "quiet");
  const idleForMs = quiet ? Math.min(...allocations.map((alloc) => alloc.idleForMs ?? 0)) : undefined;
  const counting = waits.length === 0 && idleForMs !== undefined && timeoutMs !== undefined;
  return {
    namespace,
    job: jobId,
    group,
    action,
    timeoutMs,
    nodes: [...new Set(allocations.map((alloc) => alloc.node))].sort(),
    state: groupState(allocations, waits),
    idleForMs,
    timeToActionMs: counting ? Math.max(0, timeoutMs - idleForMs, siblingsRemainingMs) : undefined,
    waits,
    lastAction,
    allocations,
  };
}

/** The group's allocations: the live ones Nomad lists (each with its node's reading, if any), else the reported ones. */
function allocationsOf(
  readings: readonly Reading[],
  live: readonly AllocationListStub[] | undefined,
): AllocationStatus[] {
  const fromReading = (
    reading: Reading,
    name: string,
    clientStatus: string | undefined,
  ): AllocationStatus => {
    const { record, age, stale } = reading;
    const state: ReadingState = stale ? "stale" : record.state;
    return {
      allocId: reading.allocId,
      nodeId: reading.nodeId,
      node: name,
      clientStatus,
      state,
      idleForMs: state === "quiet" && age !== undefined ? (record.quietForMs ?? 0) + age : undefined,
      bytesSinceActive: record.bytesSinceActive,
      reportAgeMs: age,
    };
  };
  if (!live) return readings.map((reading) => fromReading(reading, shortId(reading.nodeId), undefined));
  return live.map((alloc) => {
    const name = alloc.NodeName || shortId(alloc.NodeID);
    const reading = readings.find(
      (candidate) => candidate.allocId === alloc.ID && candidate.nodeId === alloc.NodeID,
    );
    if (reading) return fromReading(reading, name, alloc.ClientStatus);
    return {
      allocId: alloc.ID,
      nodeId: alloc.NodeID,
      node: name,
      clientStatus: alloc.ClientStatus,
      state: "unreported",
      idleForMs: undefined,
      bytesSinceActive: undefined,
      reportAgeMs: undefined,
    };
  });
}

function readingWaits(allocations: readonly AllocationStatus[]): StatusWait[] {
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
function jobWaits(
  seen: Extract<JobSeen, { kind: "found" }>,
  group: string,
  live: readonly AllocationListStub[],
  all: ReadonlyMap<string, { reports: Reading[] }>,
  readings: readonly Reading[],
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
function remainingOf(readings: readonly Reading[] | undefined): number | undefined {
  if (!readings || readings.length === 0) return undefined;
  let remaining = 0;
  for (const { stale, record, age } of readings) {
    if (stale || record.state !== "quiet" || age === undefined) return undefined;
    remaining = Math.max(remaining, (record.timeoutMs ?? 0) - (record.quietForMs ?? 0) - age);
  }
  return remaining;
}

/** Meta is read as the monitors read it; only validity matters here, and the reports carry the interval. */
function policyDefaults(readings: readonly Reading[]) {
  const heartbeatMs = readings[0]?.heartbeatMs ?? 0;
  return {
    timeoutMs: 0,
    thresholdBytes: 0,
    checkIntervalMs: intervalOfHeartbeat(heartbeatMs),
    timezone: "UTC",
  };
}

function groupState(allocations: readonly AllocationStatus[], waits: readonly StatusWait[]): GroupState {
  if (allocations.some((alloc) => alloc.state === "active")) return "active";
  if (allocations.some((alloc) => alloc.state !== "quiet")) return "unknown";
  return waits.length > 0 ? "waiting" : "quiet";
}

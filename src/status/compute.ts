import { isLive, jobKey, shortId } from "../model/allocation.js";
import type { NodeReport } from "../model/cluster.js";
import type { AllocationListStub } from "../model/nomad.js";
import { staleAfterMs } from "../model/timing.js";
import type {
  AllocationStatus,
  GroupState,
  GroupStatus,
  ReadingState,
  ReportedAllocation,
  StatusInput,
  StatusWait,
} from "./types.js";
import { jobWaits, readingWaits } from "./waits.js";

/** The status of every watched group named in the reports, sorted by namespace, job and group. */
export function computeStatus(input: StatusInput): GroupStatus[] {
  const groups = new Map<
    string,
    { namespace: string; job: string; group: string; reports: ReportedAllocation[] }
  >();
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

function groupStatus(
  input: StatusInput,
  entry: { namespace: string; job: string; group: string; reports: ReportedAllocation[] },
  all: ReadonlyMap<string, { reports: ReportedAllocation[] }>,
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
  readings: readonly ReportedAllocation[],
  live: readonly AllocationListStub[] | undefined,
): AllocationStatus[] {
  const fromReading = (
    reading: ReportedAllocation,
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

function groupState(allocations: readonly AllocationStatus[], waits: readonly StatusWait[]): GroupState {
  if (allocations.some((alloc) => alloc.state === "active")) return "active";
  if (allocations.some((alloc) => alloc.state !== "quiet")) return "unknown";
  return waits.length > 0 ? "waiting" : "quiet";
}

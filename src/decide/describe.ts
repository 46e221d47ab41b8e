import { formatDuration } from "../duration.js";
import { shortId } from "../model/allocation.js";
import type { GroupPolicy } from "../policy.js";
import { describeInstant, type Schedule } from "../schedule.js";
import type { AwaitedNode, GroupVerdict, OtherGroupState, WaitCause } from "./causes.js";
import type { GroupEligibility } from "./eligibility.js";
import type { Warning } from "./warnings.js";

// The log lines of decisions, rendered from their causes (data): one wording per cause, whoever says it.

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

const SILENT = new Set<AwaitedNode["why"]>(["no report", "stale report"]);

function describeAwaited(nodes: readonly AwaitedNode[]): string {
  return nodes.map(({ node, why }) => `node ${node} ${AWAITED_WORDS[why]}`).join(", ");
}

/** " here and on 2 other nodes (b, c)", for the line that says why a job was acted on. */
export function describeWhere(otherNodes: readonly string[]): string {
  if (otherNodes.length === 0) return "";
  if (otherNodes.length === 1) return ` here and on node ${otherNodes[0]}`;
  return ` here and on ${otherNodes.length} other nodes (${otherNodes.join(", ")})`;
}

/** "idle for 30m here and on node b, 140 B seen here, threshold 500 B per 1m": why a group is acted on. */
export function describeIdleness(
  verdict: GroupVerdict,
  otherNodes: readonly string[],
  checkIntervalMs: number,
): string {
  const { decision, policy } = verdict;
  if (decision.kind !== "idle") return decision.reason;
  const here = otherNodes.length > 0 ? " here" : "";
  return `idle for ${formatDuration(decision.idleForMs)}${describeWhere(otherNodes)}, ${decision.bytesSeen} B seen${here}, threshold ${policy.thresholdBytes} B per ${formatDuration(checkIntervalMs)}`;
}

/** What makes two waits of the same kind the same, for saying them once. */
export function waitKey(cause: WaitCause): string {
  switch (cause.kind) {
    // Said again when an awaited node starts or stops reporting, not at each turn of its activity.
    case "awaiting-nodes":
      return cause.nodes
        .map(({ node, why }) => `${node}=${SILENT.has(why) ? "silent" : "reporting"}`)
        .join(",");
    case "other-groups":
      return cause.groups.map(({ group, why }) => `${group}=${why.kind}`).join(",");
    case "unmeasured-allocations":
      return cause.allocIds.join(",");
    default:
      return "";
  }
}

/** The warning line of a coming action (warnings.ts). */
export function describeWarning(
  jobId: string,
  group: string,
  policy: Pick<GroupPolicy, "action" | "schedule">,
  warning: Warning,
  now: number,
): string {
  const { schedule } = policy;
  const what = `job ${jobId} group ${group}`;
  const done = policy.action === "stop" ? "the job will be stopped" : "the group will be scaled to 0";
  const when = `${describeInstant(warning.at, schedule.timezone)} (in ${formatDuration(warning.at - now)})`;
  if (warning.kind === "stop-at")
    return `${what}: ${done} at ${when} by its stop-at ${quoted(schedule)}, whatever its activity`;
  return `${what} has been quiet for ${formatDuration(warning.idleForMs)}: ${done} at ${when} if it stays quiet`;
}

/** Why a group is acted on at its `stop-at`. */
export function describeFiring(group: string, schedule: Schedule, firing: number): string {
  return `group ${group}: its stop-at ${quoted(schedule)} fired at ${describeInstant(firing, schedule.timezone)} (acting whatever its activity)`;
}

/** Why a group whose `stop-at` fired is not acted on. */
export function describeFiringWait(
  jobId: string,
  group: string,
  schedule: Schedule,
  firing: number,
  cause: WaitCause,
  now: number,
): string {
  const because =
    cause.kind === "job-changed"
      ? `job ${jobId} group ${group}: it no longer has that stop-at`
      : describeWait(jobId, group, cause, now);
  return `${describeFiring(group, schedule, firing)}, but not acting: ${because}`;
}

/** A `stop-at` firing missed by more than the grace while no monitor ran here. */
export function describeSkippedFiring(
  jobId: string,
  group: string,
  timezone: string,
  skipped: { firing: number; lateByMs: number },
  graceMs: number,
): string {
  return `job ${jobId} group ${group}: its stop-at fired at ${describeInstant(skipped.firing, timezone)} while this monitor was not running (${formatDuration(skipped.lateByMs)} ago, more than the grace of ${formatDuration(graceMs)}); not carrying it out late`;
}

function quoted(schedule: Schedule): string {
  return schedule
    .expressions("stop-at")
    .map((expression) => `"${expression}"`)
    .join("; ");
}

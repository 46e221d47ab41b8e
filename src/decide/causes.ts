import type { GroupPolicy } from "../policy.js";
import type { GroupEligibility } from "./eligibility.js";
import type { GroupDecision } from "./idle-timer.js";

// What the rules of decide/ say about a group, as data: the planner and the triage produce it, the cycle
// acts on it, and describe.ts renders the log line from it.

/** What this node decided about one watched group of the job. */
export interface GroupVerdict {
  group: string;
  policy: GroupPolicy;
  decision: GroupDecision;
  /** The group's allocations on this node that the decision covers (measured this cycle). */
  measured: ReadonlySet<string>;
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

/** An outcome that acts: stop the job or scale the group. */
export type PlannedAction = Exclude<GroupOutcome, { kind: "wait" }>;

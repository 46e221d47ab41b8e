import type { ClaimResult } from "../model/cluster.js";
import type { PlannedAction } from "./causes.js";

// One node acts on a job: the action is claimed in the cluster (a check-and-set Variable) before it is
// taken. When claims cannot be written, a job that runs only here is acted on all the same; one that
// spans nodes is not.

/** Whether one of the planned actions concerns allocations on other nodes too. */
export function spansNodes(actions: readonly PlannedAction[]): boolean {
  return actions.some((outcome) => outcome.otherNodes.length > 0);
}

/** Whether the action is claimed before it is taken: whenever reports are shared, and for a job spanning nodes. */
export function mustClaim(sharing: boolean, spans: boolean): boolean {
  return sharing || spans;
}

/** Whether this node may act after its claim. */
export function claimLetsAct(result: ClaimResult, spans: boolean): boolean {
  return result === "claimed" || (result === "unavailable" && !spans);
}

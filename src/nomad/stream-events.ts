import type { NodeAllocations } from "../allocations.js";
import type { Allocation, Job } from "../model/nomad.js";

interface StreamEvent {
  Topic?: string;
  Payload?: { Allocation?: Allocation; Job?: Job };
}

/**
 * Applies a batch of the event stream to the node's view: allocations as upserts, jobs as updates.
 * Returns whether an allocation new to the view came, whose job is then to be read.
 */
export function applyEvents(view: NodeAllocations, events: readonly unknown[]): boolean {
  let missingJobs = false;
  for (const event of events as ReadonlyArray<StreamEvent | null>) {
    // The framing lets any JSON through as an event; only objects can be events.
    if (typeof event !== "object" || event === null) continue;
    const allocation = event.Payload?.Allocation;
    const job = event.Payload?.Job;
    if (event.Topic === "Allocation" && allocation) {
      if (view.upsert(allocation)) missingJobs = true;
    } else if (event.Topic === "Job" && job) {
      view.updateJob(job);
    }
  }
  return missingJobs;
}

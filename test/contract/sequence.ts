// The events of the stream about one job, in order, as steps a person can compare: one step per batch
// (one raft index), each event as `Topic Type state`, so that the same operation on a real Nomad and on
// the simulator can be told to produce the same sequence.

/** The events of one batch about the job, ` + `-joined, e.g. `Allocation PlanResult run/pending (no tasks) + Job PlanResult running`. */
export type EventStep = string;

interface StreamEvent {
  Topic: string;
  Type: string;
  Key: string;
  Payload: {
    Allocation?: {
      JobID: string;
      DesiredStatus: string;
      ClientStatus: string;
      DeploymentStatus?: { Healthy?: boolean } | null;
      TaskStates?: Record<string, { Events?: Array<{ Type: string }> | null }> | null;
    };
    Job?: { Status: string; Stop: boolean; Stable: boolean };
  };
}

/**
 * The job's events of a stream body (NDJSON lines), cut into one sequence per write of the job
 * (`JobRegistered`, `JobDeregistered`): what a placement, a scale or a stop produced, up to the next.
 * A write that changes the job's status is two batches of the same index (the job as written, then
 * with its new status: event-stream.ndjson), both of that write's sequence.
 */
export function eventSequences(lines: readonly string[], jobId: string): EventStep[][] {
  const sequences: EventStep[][] = [];
  let lastIndex: number | undefined;
  for (const line of lines) {
    if (!line.startsWith("{") || line === "{}") continue;
    const batch = JSON.parse(line) as { Index: number; Events: StreamEvent[] };
    const events = batch.Events.filter(
      (event) => (event.Payload.Allocation?.JobID ?? (event.Topic === "Job" ? event.Key : "")) === jobId,
    );
    if (events.length === 0) continue;
    const writesJob = events.some(
      (event) => event.Type === "JobRegistered" || event.Type === "JobDeregistered",
    );
    if ((writesJob && batch.Index !== lastIndex) || sequences.length === 0) sequences.push([]);
    sequences.at(-1)?.push(events.map(describe).join(" + "));
    lastIndex = batch.Index;
  }
  return sequences;
}

function describe(event: StreamEvent): string {
  const { Allocation: alloc, Job: job } = event.Payload;
  if (alloc) {
    const health = alloc.DeploymentStatus?.Healthy ? " healthy" : "";
    const lastTaskEvent = Object.values(alloc.TaskStates ?? {})[0]?.Events?.at(-1)?.Type ?? "no tasks";
    return `Allocation ${event.Type} ${alloc.DesiredStatus}/${alloc.ClientStatus}${health} (${lastTaskEvent})`;
  }
  const flags = `${job?.Stop ? " stopped" : ""}${job?.Stable ? " stable" : ""}`;
  return `${event.Topic} ${event.Type} ${job?.Status}${flags}`;
}

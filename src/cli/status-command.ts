import { computeStatus } from "../status/compute.js";
import { EXIT, type StatusOptions } from "./args.js";
import { StatusReader } from "./nomad.js";
import { renderJobStatus, renderStatusJson, renderStatusTable } from "./render.js";

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** `nomad-idle-monitor status [<job>]`: reads, computes, prints; answers the exit code. */
export async function runStatus(options: StatusOptions, io: Output): Promise<number> {
  let snapshot: Awaited<ReturnType<StatusReader["snapshot"]>>;
  try {
    const reader = new StatusReader(options.connection);
    snapshot = await reader.snapshot(
      { namespace: options.monitorNamespace, job: options.monitorJob },
      { namespace: options.namespace, job: options.job },
    );
  } catch (error) {
    io.err(`Error querying Nomad: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.nomadError;
  }
  const rows = computeStatus(snapshot).filter(
    (row) =>
      (options.namespace === undefined || row.namespace === options.namespace) &&
      (options.job === undefined || row.job === options.job),
  );
  if (options.job !== undefined && rows.length === 0) {
    const where = options.namespace === undefined ? "any namespace" : `namespace "${options.namespace}"`;
    io.err(
      `No watched job "${options.job}" in ${where}: no monitor reports an allocation of it (not found, not opted in, or not placed yet)`,
    );
    if (options.json) io.out(renderStatusJson([], snapshot));
    return EXIT.notWatched;
  }
  if (options.json) io.out(renderStatusJson(rows, snapshot));
  else io.out(options.job === undefined ? renderStatusTable(rows) : renderJobStatus(rows));
  if (snapshot.reports.length === 0)
    io.err(
      `No monitor report found under nomad/jobs/${options.monitorJob}/activity/ in namespace "${options.monitorNamespace}": none published yet (or this token may read them but not list them: see nomad/idle-monitor-status-policy.hcl)`,
    );
  const unreadable = rows.filter((row) => row.waits.some((wait) => wait.kind === "job-unreadable"));
  if (unreadable.length === 0) return EXIT.ok;
  const jobs = [...new Set(unreadable.map((row) => `${row.namespace}/${row.job}`))];
  io.err(
    `Warning: this token cannot read ${jobs.length === 1 ? "job" : "jobs"} ${jobs.join(", ")} (it needs read-job in their namespace): shown from the monitors' reports alone`,
  );
  return EXIT.partial;
}

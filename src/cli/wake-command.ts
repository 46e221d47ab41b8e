import { StatePaths } from "../cluster/paths.js";
import { type WakeRecord, WakeRecords } from "../cluster/records.js";
import { formatDuration } from "../duration.js";
import { NomadHttpApi } from "../nomad/api.js";
import { EXIT, type WakeOptions } from "./args.js";
import type { Output } from "./status-command.js";

/** `nomad-idle-monitor wake <job>`: brings back what the monitor stopped or scaled, from its record. */
export async function runWake(options: WakeOptions, io: Output, now = Date.now()): Promise<number> {
  const { connection, namespace, job: jobId, group } = options;
  const api = new NomadHttpApi({
    config: {
      nomadAddr: connection.address,
      nomadRegion: connection.region,
      tls: connection.tls,
    },
    token: () => connection.token,
  });
  const records = new WakeRecords(
    api.variables(options.monitorNamespace, connection.token),
    new StatePaths(`nomad/jobs/${options.monitorJob}`),
  );
  try {
    const record = await records.load(namespace, jobId);
    const where = `nomad/jobs/${options.monitorJob}/wake/ in namespace ${options.monitorNamespace}`;
    if (!record) {
      io.err(
        `No record of job "${jobId}" in namespace "${namespace}" under ${where}: the monitor did not stop or scale it (or it was woken already). wake brings back only what the monitor did; run the job again with \`nomad job run\`.`,
      );
      return EXIT.notWatched;
    }
    const done = record.stopped
      ? await restart(api, record, record.stopped, io, now)
      : await rescale(api, record, group, io, now);
    if (done === undefined) return EXIT.notWatched;
    const left = Object.entries(record.scaled ?? {}).filter(
      ([name]) => group !== undefined && name !== group,
    );
    if (left.length > 0) await records.save({ ...record, scaled: Object.fromEntries(left) });
    else await records.remove(namespace, jobId);
    return EXIT.ok;
  } catch (error) {
    io.err(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.nomadError;
  }
}

async function restart(
  api: NomadHttpApi,
  record: WakeRecord,
  stopped: NonNullable<WakeRecord["stopped"]>,
  io: Output,
  now: number,
): Promise<true> {
  const current = await api.job(record.namespace, record.jobId);
  if (current && !current.Stop) {
    io.out(`Job "${record.jobId}" is running (version ${current.Version}); nothing to wake.`);
    return true;
  }
  // Registered as it was; Nomad gives it a new version (and takes it back from a garbage collection).
  const evalId = await api.registerJob({ ...stopped, Stop: false });
  io.out(
    `Registered job "${record.jobId}" in namespace "${record.namespace}" again as it was before node ${record.node} stopped it ${ago(record.at, now)} (version ${stopped.Version}); evaluation ${evalId}.`,
  );
  return true;
}

async function rescale(
  api: NomadHttpApi,
  record: WakeRecord,
  only: string | undefined,
  io: Output,
  now: number,
): Promise<true | undefined> {
  const scaled = Object.entries(record.scaled ?? {}).filter(([name]) => only === undefined || name === only);
  if (scaled.length === 0) {
    io.err(
      `The monitor did not scale group "${only}" of job "${record.jobId}"; it scaled: ${Object.keys(record.scaled ?? {}).join(", ")}.`,
    );
    return undefined;
  }
  for (const [group, count] of scaled) {
    const evalId = await api.scaleGroup({
      namespace: record.namespace,
      jobId: record.jobId,
      group,
      count,
      message: `nomad-idle-monitor wake: back to ${count}, as before node ${record.node} scaled it to 0`,
      meta: { "idle-monitor.reason": "wake" },
    });
    io.out(
      `Scaled group "${group}" of job "${record.jobId}" back to ${count} (scaled to 0 by node ${record.node} ${ago(record.at, now)}); evaluation ${evalId}.`,
    );
  }
  return true;
}

function ago(at: number, now: number): string {
  return at > 0 && at <= now ? `${formatDuration(now - at)} ago` : "earlier";
}

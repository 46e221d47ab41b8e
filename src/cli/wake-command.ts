import { StatePaths } from "../cluster/paths.js";
import { WakeRecords } from "../cluster/records.js";
import { formatDuration } from "../duration.js";
import type { WakeRecord } from "../model/cluster.js";
import { NomadHttpApi } from "../nomad/api.js";
import { isRefusal } from "../token-reload.js";
import { bringBack, type WakeStep } from "../wake.js";
import { EXIT, type WakeOptions } from "./args.js";
import { refusedRead } from "./refused.js";
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
  const store = api.variables(options.monitorNamespace, connection.token);
  const paths = new StatePaths(`nomad/jobs/${options.monitorJob}`);
  const records = new WakeRecords(store, paths);
  try {
    const loaded = await records.load(namespace, jobId);
    const where = `nomad/jobs/${options.monitorJob}/wake/ in namespace ${options.monitorNamespace}`;
    if (!loaded) {
      // An empty list may only mean that this token may not list: a read tells (cli/refused.ts).
      await store.read(`${paths.wakeRecordOf(namespace, jobId)}0`).catch((error: unknown) => {
        if (!isRefusal(error)) throw error;
        throw refusedRead(error, connection.token, where, "nomad/idle-monitor-wake-policy.hcl");
      });
      io.err(
        `No record of job "${jobId}" in namespace "${namespace}" under ${where}: the monitor did not stop or scale it (or it was woken already). wake brings back only what the monitor did; run the job again with \`nomad job run\`.`,
      );
      return EXIT.notWatched;
    }
    // Whoever may write under wake/ could otherwise have any job registered with this token.
    if ("refused" in loaded) {
      io.err(
        `Not using the record ${loaded.path} in namespace ${options.monitorNamespace}: ${loaded.refused}. Find out who wrote it; \`nomad var purge\` removes it.`,
      );
      return EXIT.notWatched;
    }
    const { record } = loaded;
    const scaled = Object.keys(record.scaled ?? {});
    if (!record.stopped && group !== undefined && !scaled.includes(group)) {
      io.err(
        `The monitor did not scale group "${group}" of job "${jobId}"; it scaled: ${scaled.join(", ")}.`,
      );
      return EXIT.notWatched;
    }
    const { steps, remaining } = await bringBack(
      api,
      record,
      group === undefined ? undefined : [group],
      "wake",
    );
    for (const step of steps) {
      if (step.kind === "dropped") io.err(describeStep(record, step, now));
      else io.out(describeStep(record, step, now));
    }
    if (remaining) await records.save(remaining);
    else await records.remove(namespace, jobId);
    return steps.some((step) => step.kind === "dropped") ? EXIT.notWatched : EXIT.ok;
  } catch (error) {
    io.err(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.nomadError;
  }
}

function describeStep(record: WakeRecord, step: WakeStep, now: number): string {
  switch (step.kind) {
    case "running":
      return `Job "${record.jobId}" is running (version ${step.version}); nothing to wake.`;
    // Registered as it was; Nomad gives it a new version (and takes it back from a garbage collection).
    case "registered":
      return `Registered job "${record.jobId}" in namespace "${record.namespace}" again as it was before node ${record.node} stopped it ${ago(record.at, now)} (version ${step.version}); evaluation ${step.evalId}.`;
    case "scaled":
      return `Scaled group "${step.group}" of job "${record.jobId}" back to ${step.count} (scaled to 0 by node ${record.node} ${ago(record.at, now)}); evaluation ${step.evalId}.`;
    case "dropped":
      return `Not waking ${step.group === undefined ? "" : `group "${step.group}" of `}job "${record.jobId}": ${step.why}. wake brings back only what the monitor left, never an older specification over a newer one; its record is removed. Run the job again with \`nomad job run\` if you want it.`;
  }
}

function ago(at: number, now: number): string {
  return at > 0 && at <= now ? `${formatDuration(now - at)} ago` : "earlier";
}

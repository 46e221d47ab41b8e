import type { ListedWake, PendingWake, WakeRecord, WakeRecordOutline } from "../model/cluster.js";
import type { Job, JobOutline } from "../model/nomad.js";
import type { VariableStore } from "../ports.js";
import type { StatePaths } from "./paths.js";
import { assembleParts, encodeParts } from "./report.js";

const KEY = "record";

/** One job's record as read: usable, or refused with the reason; undefined when there is none. */
export type LoadedWake = { path: string; record: WakeRecord } | { path: string; refused: string };

/**
 * Wake records in Nomad Variables, one set of parts per job (a job's specification can exceed one
 * Variable's 64 KiB). A stop replaces the record; a scale adds its group to what was scaled before.
 * Whoever may write under `wake/` could have any job registered with the action token: a record is used
 * only when it is about the job its path names, and holds that job's specification if any.
 */
export class WakeRecords {
  /** Per job's path: the parts' versions it was read at, and what start-at keeps of it — never a specification. */
  readonly #listed = new Map<string, { version: string; listed: ListedWake | undefined }>();

  constructor(
    private readonly store: VariableStore,
    private readonly paths: StatePaths,
  ) {}

  /** Every job's record; a record is read again only when one of its parts changed since the last call. */
  async list(): Promise<ListedWake[]> {
    const { entries } = await this.store.list(this.paths.wake);
    const byJob = new Map<string, Array<{ path: string; modifyIndex: number; part: number }>>();
    for (const entry of entries) {
      const cut = entry.path.lastIndexOf("/");
      const part = Number(entry.path.slice(cut + 1));
      if (!Number.isInteger(part)) continue;
      const prefix = entry.path.slice(0, cut + 1);
      byJob.set(prefix, [...(byJob.get(prefix) ?? []), { ...entry, part }]);
    }
    const listed: ListedWake[] = [];
    for (const [prefix, parts] of byJob) {
      parts.sort((a, b) => a.part - b.part);
      const version = parts.map((part) => `${part.part}@${part.modifyIndex}`).join(",");
      let cached = this.#listed.get(prefix);
      if (cached?.version !== version) {
        const read = await Promise.all(parts.map((part) => this.store.read(part.path)));
        const loaded = this.#checked(
          prefix,
          read.map((part) => part?.items),
        );
        cached = { version, listed: loaded && ("record" in loaded ? outlineOf(loaded) : loaded) };
        this.#listed.set(prefix, cached);
      }
      if (cached.listed) listed.push(cached.listed);
    }
    for (const prefix of this.#listed.keys()) if (!byJob.has(prefix)) this.#listed.delete(prefix);
    return listed;
  }

  /** The record of one job, read now. */
  async load(namespace: string, jobId: string): Promise<LoadedWake | undefined> {
    const prefix = this.paths.wakeRecordOf(namespace, jobId);
    const parts = await this.#parts(prefix);
    return this.#checked(
      prefix,
      parts.map((part) => part.items),
    );
  }

  /**
   * Right before acting: the record, pending. A scale keeps the groups scaled before while the job is
   * still as the record before left it (its JobModifyIndex then is `decidedOn`); otherwise that record is
   * about a job that is no more, and is replaced.
   */
  async add(record: WakeRecord, decidedOn: number): Promise<PendingWake> {
    const loaded = await this.load(record.namespace, record.jobId);
    const previous = loaded && "record" in loaded ? loaded.record : undefined;
    const keeps = record.scaled && previous?.scaled && previous.jobModifyIndex === decidedOn;
    const pending = keeps ? { ...record, scaled: { ...previous.scaled, ...record.scaled } } : record;
    await this.save(pending);
    return { record: pending, previous };
  }

  async save(record: WakeRecord): Promise<void> {
    const prefix = this.paths.wakeRecordOf(record.namespace, record.jobId);
    const existing = await this.#parts(prefix);
    // A pending record and its confirmation differ in generation: parts of the two never form one.
    const parts = encodeParts(KEY, record, `${record.at}.${record.jobModifyIndex ?? "pending"}`);
    for (const [index, items] of parts.entries()) {
      const path = `${prefix}${index}`;
      const result = await this.store.write(path, items, existing[index]?.modifyIndex ?? 0);
      if (result.kind === "conflict") throw new Error(`${path} changed while it was being written`);
    }
    for (const stale of existing.slice(parts.length)) await this.store.delete(stale.path, stale.modifyIndex);
  }

  async remove(namespace: string, jobId: string): Promise<void> {
    for (const part of await this.#parts(this.paths.wakeRecordOf(namespace, jobId)))
      await this.store.delete(part.path, part.modifyIndex);
  }

  /** The record from its parts, refused unless it is about the job its path names; undefined when there is none. */
  #checked(prefix: string, parts: ReadonlyArray<Record<string, string> | undefined>): LoadedWake | undefined {
    const record = assembleParts(KEY, parts) as Partial<WakeRecord> | undefined;
    if (record?.v !== 1) return undefined;
    const refused = refusal(record, prefix, this.paths);
    return refused ? { path: prefix, refused } : { path: prefix, record: record as WakeRecord };
  }

  async #parts(prefix: string) {
    const { entries } = await this.store.list(prefix);
    const numbered = entries
      .map((entry) => ({ ...entry, part: Number(entry.path.slice(prefix.length)) }))
      .filter((entry) => Number.isInteger(entry.part))
      .sort((a, b) => a.part - b.part);
    const read = await Promise.all(numbered.map((entry) => this.store.read(entry.path)));
    return numbered.map((entry, index) => ({
      path: entry.path,
      modifyIndex: read[index]?.modifyIndex ?? entry.modifyIndex,
      items: read[index]?.items,
    }));
  }
}

/** Why a record may not be used: it is not about the job its path names, or is not a record as the monitor writes them. */
function refusal(record: Partial<WakeRecord>, prefix: string, paths: StatePaths): string | undefined {
  const { namespace, jobId, stopped, scaled, jobModifyIndex } = record;
  if (typeof namespace !== "string" || typeof jobId !== "string") return "it names no job";
  if (paths.wakeRecordOf(namespace, jobId) !== prefix)
    return `it is about job ${jobId} in namespace ${namespace}, not the job its path names`;
  if (stopped && (stopped.ID !== jobId || stopped.Namespace !== namespace))
    return `it holds the specification of job ${stopped.ID} in namespace ${stopped.Namespace}, not of job ${jobId}`;
  const counts = Object.values(scaled ?? {});
  const wellFormed =
    typeof record.at === "number" &&
    typeof record.node === "string" &&
    (stopped === undefined || Array.isArray(stopped.TaskGroups)) &&
    counts.every((count) => Number.isSafeInteger(count) && count >= 0) &&
    (jobModifyIndex === undefined || Number.isSafeInteger(jobModifyIndex));
  return wellFormed ? undefined : "it is not a record as the monitor writes them";
}

/** What start-at keeps of a record between cycles: a stopped job's outline, not its specification. */
function outlineOf({ path, record }: { path: string; record: WakeRecord }): ListedWake {
  const { stopped, ...rest } = record;
  const outline: WakeRecordOutline = stopped ? { ...rest, stopped: jobOutline(stopped) } : rest;
  return { path, record: outline };
}

function jobOutline(job: Job): JobOutline {
  return {
    ID: job.ID,
    Namespace: job.Namespace,
    Type: job.Type,
    Meta: job.Meta,
    TaskGroups: job.TaskGroups.map((group) => ({
      Name: group.Name,
      Meta: group.Meta,
      Tasks: (group.Tasks ?? []).map((task) => ({ Name: task.Name, Driver: task.Driver, Meta: task.Meta })),
    })),
  };
}

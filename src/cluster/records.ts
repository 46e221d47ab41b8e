import type { WakeRecord } from "../model/cluster.js";
import type { VariableStore } from "../ports.js";
import type { StatePaths } from "./paths.js";
import { assembleParts, encodeParts } from "./report.js";

const KEY = "record";

/**
 * Wake records in Nomad Variables, one set of parts per job (a job's specification can exceed one
 * Variable's 64 KiB). A stop replaces the record; a scale adds its group to what was scaled before.
 */
export class WakeRecords {
  readonly #listed = new Map<string, { version: string; record: WakeRecord | undefined }>();

  constructor(
    private readonly store: VariableStore,
    private readonly paths: StatePaths,
  ) {}

  /** Every job's record; a record is read again only when one of its parts changed since the last call. */
  async list(): Promise<WakeRecord[]> {
    const { entries } = await this.store.list(this.paths.wake);
    const byJob = new Map<string, Array<{ path: string; modifyIndex: number; part: number }>>();
    for (const entry of entries) {
      const cut = entry.path.lastIndexOf("/");
      const part = Number(entry.path.slice(cut + 1));
      if (!Number.isInteger(part)) continue;
      const prefix = entry.path.slice(0, cut + 1);
      byJob.set(prefix, [...(byJob.get(prefix) ?? []), { ...entry, part }]);
    }
    const records: WakeRecord[] = [];
    for (const [prefix, parts] of byJob) {
      parts.sort((a, b) => a.part - b.part);
      const version = parts.map((part) => `${part.part}@${part.modifyIndex}`).join(",");
      let cached = this.#listed.get(prefix);
      if (cached?.version !== version) {
        const read = await Promise.all(parts.map((part) => this.store.read(part.path)));
        const record = assembleParts(
          KEY,
          read.map((part) => part?.items),
        ) as Partial<WakeRecord> | undefined;
        cached = { version, record: record?.v === 1 ? (record as WakeRecord) : undefined };
        this.#listed.set(prefix, cached);
      }
      if (cached.record) records.push(cached.record);
    }
    for (const prefix of this.#listed.keys()) if (!byJob.has(prefix)) this.#listed.delete(prefix);
    return records;
  }

  async load(namespace: string, jobId: string): Promise<WakeRecord | undefined> {
    const parts = await this.#parts(namespace, jobId);
    const record = assembleParts(
      KEY,
      parts.map((part) => part.items),
    ) as Partial<WakeRecord> | undefined;
    return record?.v === 1 && record.jobId === jobId ? (record as WakeRecord) : undefined;
  }

  /** Keeps what the monitor just did: a stop replaces the record, a scale joins the groups scaled before. */
  async add(record: WakeRecord): Promise<void> {
    const previous = record.scaled ? await this.load(record.namespace, record.jobId) : undefined;
    await this.save(
      previous?.scaled ? { ...record, scaled: { ...previous.scaled, ...record.scaled } } : record,
    );
  }

  async save(record: WakeRecord): Promise<void> {
    const { namespace, jobId } = record;
    const existing = await this.#parts(namespace, jobId);
    const parts = encodeParts(KEY, record, record.at);
    for (const [index, items] of parts.entries()) {
      const path = `${this.paths.wakeRecordOf(namespace, jobId)}${index}`;
      const result = await this.store.write(path, items, existing[index]?.modifyIndex ?? 0);
      if (result.kind === "conflict") throw new Error(`${path} changed while it was being written`);
    }
    for (const stale of existing.slice(parts.length)) await this.store.delete(stale.path, stale.modifyIndex);
  }

  async remove(namespace: string, jobId: string): Promise<void> {
    for (const part of await this.#parts(namespace, jobId))
      await this.store.delete(part.path, part.modifyIndex);
  }

  async #parts(namespace: string, jobId: string) {
    const prefix = this.paths.wakeRecordOf(namespace, jobId);
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

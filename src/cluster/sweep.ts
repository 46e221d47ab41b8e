import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { ExchangeTiming } from "../model/timing.js";
import type { VariableStore } from "../ports.js";
import type { Claims } from "./claims.js";
import type { StatePaths } from "./paths.js";

/** What every part of the cluster exchange is built from. */
export interface ExchangeOptions {
  store: VariableStore;
  paths: StatePaths;
  nodeId: string;
  clock: Clock;
  log: Logger;
  timing: ExchangeTiming;
}

export interface SweeperOptions extends ExchangeOptions {
  claims: Claims;
}

interface SeenReport {
  /** The highest ModifyIndex of its parts, and this node's clock when it was first seen. */
  modifyIndex: number;
  firstSeenAt: number;
}

/**
 * What gone nodes leave behind — their reports, and claims past their time — removed by one monitor of the
 * cluster (the holder of the housekeeping lease), with one list of the monitors' Variables every
 * `sweepMs`: a report that has not moved for `retentionMs` belongs to a node whose monitor is gone.
 */
export class Sweeper {
  readonly #options: SweeperOptions;
  readonly #reports = new Map<string, SeenReport>();
  #lastAt: number | undefined;

  constructor(options: SweeperOptions) {
    this.#options = options;
  }

  async sweep(): Promise<void> {
    const { store, paths, clock, timing, nodeId, claims, log } = this.#options;
    const now = clock.now();
    if (this.#lastAt !== undefined && now - this.#lastAt < timing.sweepMs) return;
    this.#lastAt = now;
    const { entries } = await store.list(paths.all);
    const reportParts = new Map<string, Map<number, number>>();
    const claimed = new Map<string, number>();
    for (const entry of entries) {
      const part = paths.parseReportPart(entry.path);
      if (part && part.nodeId !== nodeId) {
        const parts = reportParts.get(part.nodeId) ?? new Map<number, number>();
        parts.set(part.part, entry.modifyIndex);
        reportParts.set(part.nodeId, parts);
      } else if (paths.isClaim(entry.path)) claimed.set(entry.path, entry.modifyIndex);
    }
    const gone: Array<{ path: string; modifyIndex: number; what: string }> = [];
    for (const [peer, parts] of reportParts) {
      const modifyIndex = Math.max(...parts.values());
      const seen = this.#reports.get(peer);
      if (seen?.modifyIndex !== modifyIndex) {
        this.#reports.set(peer, { modifyIndex, firstSeenAt: now });
        continue;
      }
      if (now - seen.firstSeenAt < timing.retentionMs) continue;
      for (const [part, index] of parts)
        gone.push({
          path: paths.reportPart(peer, part),
          modifyIndex: index,
          what: `the report of node ${peer}`,
        });
    }
    for (const peer of this.#reports.keys()) if (!reportParts.has(peer)) this.#reports.delete(peer);
    for (const expired of await claims.expired(claimed, now))
      gone.push({ ...expired, what: "an expired claim" });
    for (const { path, modifyIndex, what } of gone) {
      const result = await store.delete(path, modifyIndex).catch(() => "conflict" as const);
      if (result === "deleted") log.info(`removed ${what} (${path}): untouched for too long`);
    }
  }
}

import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { ListedWake, NodeReport, PeerEvidence, PendingWake, WakeRecord } from "../model/cluster.js";
import type { ExchangeTiming } from "../model/timing.js";
import { RateLimitedNotice } from "../notices.js";
import type { ClusterPort, Lease, VariableStore } from "../ports.js";
import { Claims } from "./claims.js";
import { IndexClock } from "./freshness.js";
import { Leases } from "./lease.js";
import type { StatePaths } from "./paths.js";
import { WakeRecords } from "./records.js";
import { assembleReport, digestOf, encodeReport, evidenceOf, type ReportItems } from "./report.js";

export interface ExchangeOptions {
  store: VariableStore;
  paths: StatePaths;
  nodeId: string;
  clock: Clock;
  log: Logger;
  timing: ExchangeTiming;
}

interface SeenVariable {
  modifyIndex: number;
  /** This node's clock when it first saw this ModifyIndex: the write happened before. */
  firstSeenAt: number;
}

interface PeerReport {
  parts: Map<number, SeenVariable & { items: ReportItems | undefined }>;
  report: NodeReport | undefined;
  /** When the assembled report was first seen whole (this node's clock). */
  firstSeenAt: number;
  /** The highest ModifyIndex of its parts. */
  modifyIndex: number;
}

/**
 * What the monitors of a cluster tell each other, through Nomad Variables under their own job's path:
 * each node publishes its report (one writer per Variable, check-and-set), reads the others' with one
 * prefix list per cycle and a read only of what moved, and claims an action before taking it.
 */
export class ClusterExchange implements ClusterPort {
  readonly #options: ExchangeOptions;
  readonly #indexes: IndexClock;
  readonly #notices: RateLimitedNotice;
  readonly #peers = new Map<string, PeerReport>();
  readonly #claims: Claims;
  readonly #wakeRecords: WakeRecords;
  readonly #leases: Leases;
  /** ModifyIndex of each part of this node's own report, for check-and-set. */
  #ownParts: number[] = [];
  #written: { digest: string; at: number } | undefined;
  #publishing = true;
  #reading = true;

  constructor(options: ExchangeOptions) {
    this.#options = options;
    this.#indexes = new IndexClock(options.timing.retentionMs);
    this.#notices = new RateLimitedNotice(60_000, () => options.clock.now());
    this.#wakeRecords = new WakeRecords(options.store, options.paths);
    this.#claims = new Claims({ ...options, retentionMs: options.timing.retentionMs });
    this.#leases = new Leases(options);
  }

  /** Whether reports go out and come in: without both, jobs spanning nodes are left alone. */
  get sharing(): boolean {
    return this.#publishing && this.#reading;
  }

  /** This node's own last report, read back after a restart; also learns its parts' indexes. */
  async restore(): Promise<NodeReport | undefined> {
    const { store, paths, nodeId } = this.#options;
    try {
      const { entries } = await store.list(paths.reportsOf(nodeId));
      const own = entries
        .map((entry) => ({ entry, part: paths.parseReportPart(entry.path) }))
        .filter(({ part }) => part?.nodeId === nodeId)
        .sort((a, b) => (a.part?.part ?? 0) - (b.part?.part ?? 0));
      const parts = await Promise.all(own.map(({ entry }) => store.read(entry.path)));
      this.#ownParts = parts.map((part) => part?.modifyIndex ?? 0);
      return assembleReport(parts.map((part) => part?.items));
    } catch (error) {
      this.#failed("read this node's last report", error);
      return undefined;
    }
  }

  /**
   * Writes this node's report when something other nodes rely on changed (an allocation's state, its
   * quiet-since, the set of allocations, a cooldown), and otherwise once per heartbeat.
   */
  async publish(own: Omit<NodeReport, "heartbeatMs">): Promise<void> {
    const { clock, timing } = this.#options;
    const report = { ...own, heartbeatMs: timing.heartbeatMs };
    const digest = digestOf(report);
    const now = clock.now();
    if (this.#written?.digest === digest && now - this.#written.at < timing.heartbeatMs) return;
    try {
      await this.#write(report, now);
      this.#written = { digest, at: now };
      if (!this.#publishing) this.#options.log.info("publishing this node's activity report again");
      this.#publishing = true;
    } catch (error) {
      this.#publishing = false;
      this.#failed("publish this node's activity report", error);
    }
  }

  async #write(report: NodeReport, now: number): Promise<void> {
    const { store, paths, nodeId } = this.#options;
    const parts = encodeReport(report, now);
    for (const [index, items] of parts.entries()) {
      const path = paths.reportPart(nodeId, index);
      let result = await store.write(path, items, this.#ownParts[index] ?? 0);
      // Only this node writes here; a conflict means the index it knew is old (a restart): write over it.
      if (result.kind === "conflict") result = await store.write(path, items, result.current.modifyIndex);
      if (result.kind === "conflict") throw new Error(`${path} keeps changing under this node`);
      this.#ownParts[index] = result.modifyIndex;
    }
    for (let index = parts.length; index < this.#ownParts.length; index++) {
      await store.delete(paths.reportPart(nodeId, index), this.#ownParts[index] ?? 0);
    }
    this.#ownParts.length = parts.length;
  }

  /** Lists what every node published (one request), reads what moved, and removes what is long gone. */
  async refresh(): Promise<void> {
    const { store, paths, clock, nodeId } = this.#options;
    const sentAt = clock.now();
    let listed: Awaited<ReturnType<VariableStore["list"]>>;
    try {
      listed = await store.list(paths.all);
    } catch (error) {
      this.#reading = false;
      this.#failed("read the other nodes' activity reports", error);
      return;
    }
    const now = clock.now();
    this.#indexes.observe(listed.index, sentAt);
    const reportParts = new Map<string, Map<number, number>>();
    const claims = new Map<string, number>();
    for (const entry of listed.entries) {
      const part = paths.parseReportPart(entry.path);
      if (part && part.nodeId !== nodeId) {
        const parts = reportParts.get(part.nodeId) ?? new Map<number, number>();
        parts.set(part.part, entry.modifyIndex);
        reportParts.set(part.nodeId, parts);
      } else if (paths.isClaim(entry.path)) claims.set(entry.path, entry.modifyIndex);
    }
    try {
      for (const [peer, parts] of reportParts) await this.#refreshPeer(peer, parts, now);
      this.#reading = true;
    } catch (error) {
      this.#reading = false;
      this.#failed("read the other nodes' activity reports", error);
    }
    for (const peer of this.#peers.keys()) if (!reportParts.has(peer)) this.#peers.delete(peer);
    await this.#sweep(reportParts, claims, now);
  }

  async #refreshPeer(nodeId: string, listed: ReadonlyMap<number, number>, now: number): Promise<void> {
    const { store, paths } = this.#options;
    const peer = this.#peers.get(nodeId) ?? {
      parts: new Map(),
      report: undefined,
      firstSeenAt: now,
      modifyIndex: 0,
    };
    this.#peers.set(nodeId, peer);
    let moved = false;
    for (const [part, modifyIndex] of listed) {
      if (peer.parts.get(part)?.modifyIndex === modifyIndex) continue;
      const variable = await store.read(paths.reportPart(nodeId, part));
      peer.parts.set(part, { modifyIndex, firstSeenAt: now, items: variable?.items });
      moved = true;
    }
    for (const part of peer.parts.keys()) if (!listed.has(part)) peer.parts.delete(part);
    if (!moved && peer.report) return;
    const ordered = [...peer.parts.entries()].sort(([a], [b]) => a - b).map(([, seen]) => seen.items);
    const report = assembleReport(ordered);
    if (!report) return;
    peer.report = report;
    peer.firstSeenAt = now;
    peer.modifyIndex = Math.max(...[...peer.parts.values()].map((seen) => seen.modifyIndex));
  }

  /** Reports whose writer is gone, and claims past their time, are removed by whichever monitor sees them. */
  async #sweep(
    reportParts: ReadonlyMap<string, ReadonlyMap<number, number>>,
    claims: ReadonlyMap<string, number>,
    now: number,
  ): Promise<void> {
    const { store, paths, timing, log } = this.#options;
    const gone: Array<{ path: string; modifyIndex: number; what: string }> = [];
    for (const [peer, parts] of reportParts) {
      const known = this.#peers.get(peer);
      const untouched = [...(known?.parts.values() ?? [])].every(
        (seen) => now - seen.firstSeenAt >= timing.retentionMs,
      );
      if (!known || !untouched) continue;
      for (const [part, modifyIndex] of parts)
        gone.push({ path: paths.reportPart(peer, part), modifyIndex, what: `the report of node ${peer}` });
    }
    for (const expired of await this.#claims.expired(claims, now))
      gone.push({ ...expired, what: "an expired claim" });
    for (const { path, modifyIndex, what } of gone) {
      const result = await store.delete(path, modifyIndex).catch(() => "conflict" as const);
      if (result === "deleted") log.info(`removed ${what} (${path}): untouched for too long`);
    }
  }

  /** What the other nodes' reports say about their allocations now; stale reports say "stale". */
  evidence(): PeerEvidence[] {
    const { clock, timing } = this.#options;
    const now = clock.now();
    const evidence: PeerEvidence[] = [];
    for (const [nodeId, peer] of this.#peers) {
      if (!peer.report) continue;
      const age = this.#indexes.maxAge(peer.modifyIndex, now);
      const stale = age === undefined || age > peer.report.heartbeatMs + timing.staleMarginMs;
      evidence.push(...evidenceOf(nodeId, peer.report, stale ? undefined : now - peer.firstSeenAt));
    }
    return evidence;
  }

  async recordWake(record: WakeRecord, decidedOn: number): Promise<PendingWake | undefined> {
    try {
      return await this.#wakeRecords.add(record, decidedOn);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (this.#notices.shouldSay("wake-record"))
        this.#options.log.warn(
          `cannot keep what job ${record.jobId} needs to be woken (${reason}); acting all the same, but \`nomad-idle-monitor wake\` will not be able to bring it back`,
        );
      return undefined;
    }
  }

  wakeRecords(): Promise<ListedWake[]> {
    return this.#wakeRecords.list();
  }

  async wakeRecord(namespace: string, jobId: string): Promise<WakeRecord | undefined> {
    const loaded = await this.#wakeRecords.load(namespace, jobId);
    return loaded && "record" in loaded ? loaded.record : undefined;
  }

  async settleWake(namespace: string, jobId: string, remaining: WakeRecord | undefined): Promise<void> {
    if (remaining) await this.#wakeRecords.save(remaining);
    else await this.#wakeRecords.remove(namespace, jobId);
  }

  /** A lease one monitor of the cluster holds at a time (lease.ts); undefined when another holds it or it cannot be had. */
  async lease(name: string, durationMs: number): Promise<Lease | undefined> {
    try {
      return await this.#leases.lease(name, durationMs);
    } catch (error) {
      this.#failed(`hold the ${name} lease`, error);
      return undefined;
    }
  }

  /** Claims the action on a job (claims.ts), so that one node only acts; "unavailable" when the Variables cannot be reached. */
  async claim(
    namespace: string,
    jobId: string,
    action: string,
    durationMs: number,
  ): ReturnType<ClusterPort["claim"]> {
    try {
      return await this.#claims.claim(namespace, jobId, action, durationMs);
    } catch (error) {
      this.#failed(`claim the action on job ${jobId}`, error);
      return "unavailable";
    }
  }

  #failed(what: string, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    if (this.#notices.shouldSay(what))
      this.#options.log.warn(
        `cannot ${what} in Nomad Variables: ${reason}; jobs whose allocations span nodes are left alone until it can`,
      );
  }
}

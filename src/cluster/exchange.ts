import type { ListedWake, NodeReport, PeerEvidence, PendingWake, WakeRecord } from "../model/cluster.js";
import { RateLimitedNotice } from "../notices.js";
import type { ClusterPort, Lease } from "../ports.js";
import { Claims } from "./claims.js";
import { IndexClock } from "./freshness.js";
import { Leases } from "./lease.js";
import { WakeRecords } from "./records.js";
import { assembleReport, digestOf, encodeReport, evidenceOf } from "./report.js";
import { type ExchangeOptions, Sweeper } from "./sweep.js";

export class ClusterExchange implements ClusterPort {
  readonly #options: ExchangeOptions;
  readonly #indexes: IndexClock;
  readonly #notices: RateLimitedNotice;
  readonly #claims: Claims;
  readonly #sweeper: Sweeper;
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
    this.#sweeper = new Sweeper({ ...options, claims: this.#claims });
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
   * Writes this node's report when a cooldown changed, when its heartbeat is due, and — `deciding` a job
   * that spans nodes — once per interval, so that the other nodes deciding it see this one alive.
   */
  async publish(own: Omit<NodeReport, "heartbeatMs">, deciding: boolean): Promise<void> {
    const { clock, timing } = this.#options;
    const report = { ...own, heartbeatMs: timing.heartbeatMs };
    const digest = digestOf(report);
    const now = clock.now();
    const sinceWritten = this.#written === undefined ? Number.POSITIVE_INFINITY : now - this.#written.at;
    const due =
      this.#written?.digest !== digest ||
      sinceWritten >= timing.heartbeatMs ||
      (deciding && sinceWritten >= timing.intervalMs / 2);
    if (!due) return;
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
      const sentAt = this.#options.clock.now();
      let result = await store.write(path, items, this.#ownParts[index] ?? 0);
      // Only this node writes here; a conflict means the index it knew is old (a restart): write over it.
      if (result.kind === "conflict") result = await store.write(path, items, result.current.modifyIndex);
      if (result.kind === "conflict") throw new Error(`${path} keeps changing under this node`);
      this.#ownParts[index] = result.modifyIndex;
      // What another node writes at a higher raft index, it wrote after this write was sent.
      this.#indexes.observe(result.modifyIndex, sentAt);
    }
    for (let index = parts.length; index < this.#ownParts.length; index++) {
      await store.delete(paths.reportPart(nodeId, index), this.#ownParts[index] ?? 0);
    }
    this.#ownParts.length = parts.length;
  }

  /**
   * What the given nodes' reports say about their allocations, read now (a read per report part): quiet
   * only if written within `freshMs`, anything else while its writer keeps its heartbeat, else "stale"
   * (report.ts evidenceOf). Undefined when the reports cannot be read.
   */
  async peerEvidence(nodeIds: readonly string[]): Promise<PeerEvidence[] | undefined> {
    const { clock, timing } = this.#options;
    const evidence: PeerEvidence[] = [];
    try {
      for (const nodeId of nodeIds) {
        const read = await this.#readReport(nodeId);
        if (!read) continue;
        const age = this.#indexes.maxAge(read.modifyIndex, clock.now());
        const aliveMs = read.report.heartbeatMs + timing.staleMarginMs;
        evidence.push(...evidenceOf(nodeId, read.report, age, { freshMs: timing.freshMs, aliveMs }));
      }
    } catch (error) {
      this.#reading = false;
      this.#failed("read the other nodes' activity reports", error);
      return undefined;
    }
    this.#reading = true;
    return evidence;
  }

  /** A node's report, from its first part (which says how many there are) and any others; its oldest write. */
  async #readReport(nodeId: string): Promise<{ report: NodeReport; modifyIndex: number } | undefined> {
    const { store, paths } = this.#options;
    const first = await store.read(paths.reportPart(nodeId, 0));
    if (!first) return undefined;
    const count = Number(first.items.parts);
    const rest = await Promise.all(
      Array.from({ length: Number.isInteger(count) && count > 1 ? count - 1 : 0 }, (_, index) =>
        store.read(paths.reportPart(nodeId, index + 1)),
      ),
    );
    const report = assembleReport([first.items, ...rest.map((part) => part?.items)]);
    if (!report) return undefined;
    const modifyIndex = Math.min(first.modifyIndex, ...rest.map((part) => part?.modifyIndex ?? 0));
    return { report, modifyIndex };
  }

  /** Removes the reports of nodes gone for good and claims past their time; called by one node (sweep.ts). */
  sweep(): Promise<void> {
    return this.#sweeper.sweep().catch((error: unknown) => this.#failed("sweep what gone nodes left", error));
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
      // One key for every job: what fails is the Variables, and a key per job would be kept for ever.
      this.#failed(`claim the action on job ${jobId}`, error, "claim");
      return "unavailable";
    }
  }

  #failed(what: string, error: unknown, key = what): void {
    const reason = error instanceof Error ? error.message : String(error);
    if (this.#notices.shouldSay(key))
      this.#options.log.warn(
        `cannot ${what} in Nomad Variables: ${reason}; jobs whose allocations span nodes are left alone until it can`,
      );
  }
}

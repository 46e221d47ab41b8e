import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { WatchedGroup } from "../decide/eligibility.js";
import type { AllocRecord, NodeReport } from "../model/cluster.js";
import { exchangeTiming } from "../model/timing.js";
import type { ClusterPort } from "../ports.js";
import { nodeStatus } from "../status/compute.js";
import type { GroupStatus } from "../status/types.js";
import type { Act } from "./act.js";
import type { Measure } from "./measure.js";

export interface NodeReportDeps {
  nodeId: string;
  checkIntervalMs: number;
  cluster: ClusterPort;
  clock: Clock;
  log: Logger;
  measure: Measure;
  act: Act;
}

/**
 * This node's report: what other nodes need to decide (each opted-in allocation quiet, active or unknown)
 * and what this node needs after a restart (timers, counters, cooldowns), published through the cluster
 * exchange; read back at start, and shown at `/v1/status`.
 */
export class NodeReporter {
  readonly #deps: NodeReportDeps;
  #last: Omit<NodeReport, "heartbeatMs"> | undefined;

  constructor(deps: NodeReportDeps) {
    this.#deps = deps;
  }

  /**
   * Picks up where this node left off before a restart: cooldowns at once, and each allocation's timer
   * and counters when it is first measured again (if it is still live).
   */
  async restore(): Promise<void> {
    const { cluster, clock, log, measure, act } = this.#deps;
    const report = await cluster.restore();
    if (!report) return;
    measure.resumeFrom(report.allocs);
    const cooling = act.resumeFrom(report, clock.now());
    const allocs = Object.keys(report.allocs).length;
    log.info(
      `resuming from this node's last report: ${allocs} allocation${allocs === 1 ? "" : "s"}, ${cooling} job${cooling === 1 ? "" : "s"} in cooldown`,
    );
  }

  /**
   * Publishes the report of the watched groups (the exchange writes it when the cooldowns changed, its
   * heartbeat is due, or every cycle while this node decides a job with other nodes).
   */
  async publish(watched: readonly WatchedGroup[]): Promise<void> {
    const { cluster, act, clock } = this.#deps;
    this.#last = this.#report(watched);
    await cluster.publish(this.#last, act.deciding(clock.now()));
  }

  /** This node's view for /v1/status: its watched groups as its last report tells them. */
  status(): { node: string; groups: GroupStatus[] } {
    const { nodeId, clock, checkIntervalMs } = this.#deps;
    if (!this.#last) return { node: nodeId, groups: [] };
    const { heartbeatMs } = exchangeTiming(checkIntervalMs);
    return { node: nodeId, groups: nodeStatus({ ...this.#last, heartbeatMs }, clock.now()) };
  }

  #report(watched: readonly WatchedGroup[]): Omit<NodeReport, "heartbeatMs"> {
    const { clock, nodeId, act } = this.#deps;
    const now = clock.now();
    const allocs: Record<string, AllocRecord> = {};
    for (const group of watched) {
      for (const alloc of group.allocations) allocs[alloc.id] = this.#record(group, alloc.id, now);
    }
    return { v: 1, nodeId, writtenAt: now, allocs, cooldowns: act.cooldowns(now) };
  }

  #record(group: WatchedGroup, allocId: string, now: number): AllocRecord {
    const { measure } = this.#deps;
    const state = measure.stateOf(allocId);
    const lastGood = measure.lastGood(allocId);
    const measured = state.unknownReason === undefined;
    const quiet = measured && measure.latest(allocId) === "quiet";
    return {
      namespace: group.namespace,
      job: group.jobId,
      group: group.group,
      timeoutMs: group.policy.timeoutMs,
      action: group.policy.action,
      state: !measured ? "unknown" : quiet ? "quiet" : "active",
      ...(quiet && state.quietSince !== undefined ? { quietForMs: now - state.quietSince } : {}),
      quietSince: state.quietSince,
      bytesSinceActive: state.bytesSinceActive,
      counters: lastGood && Object.fromEntries(lastGood.counters),
      countersAt: lastGood?.at,
    };
  }
}

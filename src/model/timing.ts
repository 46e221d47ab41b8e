// How the monitors' rhythms relate to CHECK_INTERVAL: shared by the cycle, the cluster exchange and `status`.

/** A node's report is written at least every this many check intervals: its silence means its monitor is gone. */
export const HEARTBEAT_INTERVALS = 3;
/** Another node's report older than its heartbeat plus this many intervals is stale: unknown. */
export const STALE_MARGIN_INTERVALS = 2;
/** A Variable of another node untouched for this many heartbeats is removed. */
export const RETENTION_HEARTBEATS = 20;
/**
 * Another node's word counts at decision time only if written within this many intervals: its monitor is
 * alive now, not merely within its heartbeat.
 */
export const FRESH_INTERVALS = 2;
/** How many intervals in a row a node writes every cycle for a decision its peers do not join, before it backs off. */
export const DECIDING_INTERVALS = 5;
/** The holder of the housekeeping lease removes gone nodes' reports and expired claims this often, in heartbeats. */
export const SWEEP_HEARTBEATS = 10;
/** How many intervals the next node in line waits for the acting node before it acts itself. */
export const TAKEOVER_INTERVALS = 2;
/** How many intervals the start-at lease outlives its holder's last cycle. */
export const LEASE_INTERVALS = 3;
/** A quiet allocation far below its CPU gate has its CPU time read every CPU_STRIDE-th cycle. */
export const CPU_STRIDE = 3;

export interface ExchangeTiming {
  /** CHECK_INTERVAL: how often a deciding node writes its report. */
  intervalMs: number;
  /** A node writes its report at least this often, so that its silence means its monitor is gone. */
  heartbeatMs: number;
  /** Another node's report older than its heartbeat plus this margin is stale: unknown. */
  staleMarginMs: number;
  /** A Variable of another node that has not moved for this long is removed. */
  retentionMs: number;
  /** Another node's word counts at decision time only if written within this long. */
  freshMs: number;
  /** How often gone nodes' reports and expired claims are looked for (by one node of the cluster). */
  sweepMs: number;
}

/**
 * With the default 60 s interval: a heartbeat write every 3 min (20 writes per node per hour when nothing
 * changes), another node's report is stale 2 min after its heartbeat was due (for `status`) and counts at
 * decision time only if written in the last 2 min, and Variables untouched for an hour are removed by a
 * sweep every 30 min.
 */
export function exchangeTiming(checkIntervalMs: number): ExchangeTiming {
  const heartbeatMs = HEARTBEAT_INTERVALS * checkIntervalMs;
  return {
    intervalMs: checkIntervalMs,
    heartbeatMs,
    staleMarginMs: STALE_MARGIN_INTERVALS * checkIntervalMs,
    retentionMs: RETENTION_HEARTBEATS * heartbeatMs,
    freshMs: FRESH_INTERVALS * checkIntervalMs,
    sweepMs: SWEEP_HEARTBEATS * heartbeatMs,
  };
}

/** When a report written with `heartbeatMs` is stale, whatever the interval of the node that wrote it. */
export function staleAfterMs(heartbeatMs: number): number {
  return heartbeatMs + (STALE_MARGIN_INTERVALS * heartbeatMs) / HEARTBEAT_INTERVALS;
}

/** The check interval of the node that wrote a report with this heartbeat. */
export function intervalOfHeartbeat(heartbeatMs: number): number {
  return heartbeatMs / HEARTBEAT_INTERVALS;
}

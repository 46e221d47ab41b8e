// How the monitors' rhythms relate to CHECK_INTERVAL: shared by the cycle, the cluster exchange and `status`.

/** A node's report is written at least every this many check intervals: its silence means its monitor is gone. */
export const HEARTBEAT_INTERVALS = 3;
/** Another node's report older than its heartbeat plus this many intervals is stale: unknown. */
export const STALE_MARGIN_INTERVALS = 2;
/** A Variable of another node untouched for this many heartbeats is removed. */
export const RETENTION_HEARTBEATS = 20;
/** How many intervals the next node in line waits for the acting node before it acts itself. */
export const TAKEOVER_INTERVALS = 2;
/** How many intervals the start-at lease outlives its holder's last cycle. */
export const LEASE_INTERVALS = 3;
/** A quiet allocation far below its CPU gate has its CPU time read every CPU_STRIDE-th cycle. */
export const CPU_STRIDE = 3;

export interface ExchangeTiming {
  /** A node writes its report at least this often, so that its silence means its monitor is gone. */
  heartbeatMs: number;
  /** Another node's report older than its heartbeat plus this margin is stale: unknown. */
  staleMarginMs: number;
  /** A Variable of another node that has not moved for this long is removed. */
  retentionMs: number;
}

/**
 * With the default 60 s interval: a heartbeat write every 3 min (20 writes per node per hour when nothing
 * changes), another node's report is stale 2 min after its heartbeat was due, and Variables untouched
 * for an hour are removed.
 */
export function exchangeTiming(checkIntervalMs: number): ExchangeTiming {
  const heartbeatMs = HEARTBEAT_INTERVALS * checkIntervalMs;
  return {
    heartbeatMs,
    staleMarginMs: STALE_MARGIN_INTERVALS * checkIntervalMs,
    retentionMs: RETENTION_HEARTBEATS * heartbeatMs,
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

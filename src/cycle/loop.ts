import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import { formatDuration } from "../duration.js";
import type { MonitorMetrics } from "../metrics.js";

export interface LoopDeps {
  intervalMs: number;
  clock: Clock;
  log: Logger;
  metrics: MonitorMetrics;
}

/**
 * Runs `cycle` on every tick until the signal aborts. Cycles never overlap: one that takes longer than the
 * interval skips the ticks it ran over, and says so. A cycle that fails is logged; the next one runs.
 * `ended` hears when each cycle ended (for /healthz).
 */
export async function runLoop(
  cycle: (signal: AbortSignal) => Promise<void>,
  ended: (at: number) => void,
  { intervalMs, clock, log, metrics }: LoopDeps,
  signal: AbortSignal,
): Promise<void> {
  let nextTick = clock.now();
  while (!signal.aborted) {
    const started = clock.now();
    await cycle(signal).catch((error: unknown) => {
      log.error(`sampling cycle failed: ${(error as Error).message}`);
    });
    nextTick += intervalMs;
    const now = clock.now();
    ended(now);
    metrics.cycleDuration.observe((now - started) / 1000);
    if (now > nextTick) {
      const skipped = Math.ceil((now - nextTick) / intervalMs);
      metrics.cyclesSkipped.inc(skipped);
      log.warn(
        `a sampling cycle took ${formatDuration(now - started)}, longer than CHECK_INTERVAL (${formatDuration(intervalMs)}); skipping ${skipped} tick(s)`,
      );
      nextTick += skipped * intervalMs;
    }
    await clock.sleep(nextTick - clock.now(), signal);
  }
}

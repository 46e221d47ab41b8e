/** One reading of a container's cumulative CPU time; `at` in milliseconds (the monitor's clock). */
export interface CpuReading {
  usageNs: number;
  at: number;
}

/**
 * Percent of one core the container used between two readings: 100 is one core busy throughout, 250 two
 * and a half. Undefined when no time passed or the counter went down (the container, hence its cgroup,
 * was recreated): there is no rate to tell.
 */
export function cpuPercent(before: CpuReading, after: CpuReading): number | undefined {
  const elapsedMs = after.at - before.at;
  const usedNs = after.usageNs - before.usageNs;
  if (!(elapsedMs > 0) || !(usedNs >= 0)) return undefined;
  return (usedNs / (elapsedMs * 1e6)) * 100;
}

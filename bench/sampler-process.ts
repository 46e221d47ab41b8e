// The sampler alone in its own process, so its CPU time and peak RSS are not mixed with the world's
// (the parent holds dockerode handles and the state of every container it created).
import { DockerEngineClient, dockerEndpoint } from "../src/docker/engine-client.js";
import { DockerNetworkSampler } from "../src/docker/network-sampler.js";

export interface SamplingRequest {
  allocIds: string[];
  /** Measured cycles, after one warm-up cycle. */
  cycles: number;
  procRoot: string;
}

export interface CycleFigures {
  wallMs: number;
  /** User + system CPU time of this process during the cycle. */
  cpuMs: number;
  measured: number;
  /** Network namespaces read: the counters of every measured allocation. */
  namespaces: number;
  /** Unknown allocations by reason. */
  unknown: Record<string, number>;
}

export interface SamplingReport {
  warmUp: CycleFigures;
  cycles: CycleFigures[];
  /** RSS once Node, dockerode and the sampler are loaded, before the first cycle. */
  rssBeforeSamplingBytes: number;
  /** `process.resourceUsage().maxRSS` after the last cycle. */
  peakRssBytes: number;
}

async function run(request: SamplingRequest): Promise<SamplingReport> {
  const sampler = new DockerNetworkSampler({
    engine: new DockerEngineClient(dockerEndpoint(process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock")),
    procRoot: request.procRoot,
  });
  const rssBeforeSamplingBytes = process.memoryUsage().rss;
  const warmUp = await cycle(sampler, request.allocIds);
  const cycles: CycleFigures[] = [];
  for (let i = 0; i < request.cycles; i++) cycles.push(await cycle(sampler, request.allocIds));
  return {
    warmUp,
    cycles,
    rssBeforeSamplingBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

async function cycle(sampler: DockerNetworkSampler, allocIds: readonly string[]): Promise<CycleFigures> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const readings = await sampler.sample(allocIds, Date.now());
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);

  const figures: CycleFigures = {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    measured: 0,
    namespaces: 0,
    unknown: {},
  };
  for (const allocId of allocIds) {
    const reading = readings.get(allocId);
    if (reading?.state === "measured") {
      figures.measured++;
      figures.namespaces += reading.counters.size;
      continue;
    }
    const reason = reading ? reading.reason : "no reading returned";
    figures.unknown[reason] = (figures.unknown[reason] ?? 0) + 1;
  }
  return figures;
}

process.once("message", (request: SamplingRequest) => {
  run(request).then(
    (report) => process.send?.(report, () => process.exit(0)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});

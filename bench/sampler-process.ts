// The sampler alone in its own process, so its CPU time and peak RSS are not mixed with the world's or the
// bench's (the parent holds the counting proxy and the world). The parent drives it one cycle at a time,
// so that it can count the Docker requests of each cycle at the proxy, from outside the sampler.
import { readFileSync } from "node:fs";
import { DockerEngineClient, dockerEndpoint } from "../src/docker/engine-client.js";
import { DockerNetworkSampler } from "../src/docker/network-sampler.js";

export type ToSampler =
  | { kind: "start"; allocIds: string[]; procRoot: string }
  | { kind: "cycle" }
  /** Allocations added to what each cycle samples (the bench's start-to-baseline probes). */
  | { kind: "add"; allocIds: string[] }
  | { kind: "finish" };

export type FromSampler =
  | { kind: "started"; rssBeforeSamplingBytes: number }
  | { kind: "cycle"; figures: CycleFigures }
  /** A reading delivered outside the cycle (onBaseline), with this process's wall clock at delivery. */
  | { kind: "baseline"; allocId: string; deliveredAtMs: number; namespaces: number }
  | { kind: "finished"; peakRssBytes: number };

export interface CycleFigures {
  wallMs: number;
  /** User + system CPU time of this process during the cycle. */
  cpuMs: number;
  measured: number;
  /** Network namespaces read: the counters of every measured allocation. */
  namespaces: number;
  /** Unknown allocations by reason. */
  unknown: Record<string, number>;
  /** The process's peak RSS so far, at the cycle's end: says which phase the final peak came from. */
  peakRssBytes: number;
}

/**
 * This process's own peak RSS: VmHWM, the high-water mark of its memory since its exec. Not
 * `process.resourceUsage().maxRSS`: Linux carries the parent's peak over into a child's across the
 * fork and exec, so that figure read at least the bench's own RSS (~90-100 MB, the TypeScript compiler
 * loaded), whatever the sampler used.
 */
function peakRssBytes(): number {
  const kB = readFileSync("/proc/self/status", "utf8").match(/^VmHWM:\s+(\d+) kB$/m)?.[1];
  if (kB === undefined) throw new Error("no VmHWM in /proc/self/status");
  return Number(kB) * 1024;
}

let sampler: DockerNetworkSampler | undefined;
let allocIds: string[] = [];

function send(message: FromSampler): void {
  process.send?.(message);
}

async function cycle(): Promise<CycleFigures> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const readings = await (sampler as DockerNetworkSampler).sample(allocIds, Date.now());
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);

  const figures: CycleFigures = {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    measured: 0,
    namespaces: 0,
    unknown: {},
    peakRssBytes: peakRssBytes(),
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

async function handle(message: ToSampler): Promise<void> {
  switch (message.kind) {
    case "start": {
      allocIds = message.allocIds;
      sampler = new DockerNetworkSampler({
        engine: new DockerEngineClient(
          dockerEndpoint(process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock"),
        ),
        procRoot: message.procRoot,
      });
      sampler.onBaseline((reading) => {
        if (reading.state !== "measured") return;
        send({
          kind: "baseline",
          allocId: reading.allocId,
          deliveredAtMs: Date.now(),
          namespaces: reading.counters.size,
        });
      });
      send({ kind: "started", rssBeforeSamplingBytes: process.memoryUsage().rss });
      return;
    }
    case "cycle":
      send({ kind: "cycle", figures: await cycle() });
      return;
    case "add":
      allocIds = [...allocIds, ...message.allocIds];
      return;
    case "finish":
      await sampler?.close();
      process.send?.({ kind: "finished", peakRssBytes: peakRssBytes() }, () => process.exit(0));
      return;
  }
}

// One message at a time, in order.
let queue = Promise.resolve();
process.on("message", (message: ToSampler) => {
  queue = queue
    .then(() => handle(message))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
});

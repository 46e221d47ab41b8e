// Activity-signals benchmark (issue 12): the cost a sampling cycle adds, per signal, when every allocation is
// quiet by bytes (the case in which the signals are read), over N real containers. Run: npm run bench:signals -- --help
import { randomUUID } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { DockerActivitySignals } from "../src/docker/activity-signals.js";
import { DockerEngineClient, dockerEndpoint } from "../src/docker/engine-client.js";
import { DockerNetworkSampler } from "../src/docker/network-sampler.js";
import { type Activity, type ActivityThreshold, type Reading, TrafficMeter } from "../src/idle.js";
import type { SignalReading, SignalRequest } from "../src/ports.js";
import type { NetworkCheck } from "../src/signals/check-budget.js";
import { DEFAULT_SIGNAL_SETTINGS, type SignalSettings } from "../src/signals/meta.js";
import { DockerWorld } from "../test/world/world.js";

const USAGE = `usage: npm run bench:signals -- [--containers N] [--cycles M]
  --containers N   containers to create (two per allocation, host mode; default 200, rounded up to even)
  --cycles M       measured cycles per signal (default 20)`;

/** The goal: all three signals together, every allocation quiet, at 1,000 containers. */
const GOAL_ALL_THREE_MS = 10;
const CREATE_CONCURRENCY = 8;
const CHECK_INTERVAL_MS = 60_000;
const THRESHOLD_BYTES = 500;
/** A job with one HTTP check every 10 s, as in the README. */
const CHECKS: NetworkCheck[] = [{ service: "web", name: "alive", type: "http", intervalMs: 10_000 }];

interface Figures {
  medianMs: number;
  p90Ms: number;
  cpuMsPerCycle: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      containers: { type: "string", default: "200" },
      cycles: { type: "string", default: "20" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const containers = Number(values.containers);
  const cycles = Number(values.cycles);
  if (!(Number.isInteger(containers) && containers >= 2 && Number.isInteger(cycles) && cycles >= 1)) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const allocations = Math.ceil(containers / 2);
  const [one, five, fifteen] = loadavg() as [number, number, number];
  console.log(`date: ${new Date().toISOString()}`);
  console.log(
    `cores: ${cpus().length}, load average at start: ${one.toFixed(2)} ${five.toFixed(2)} ${fifteen.toFixed(2)}`,
  );
  console.log(
    `creating ${allocations * 2} containers (${allocations} allocations of two tasks, host mode)...`,
  );

  const world = await DockerWorld.open();
  const sampler = new DockerNetworkSampler({
    engine: new DockerEngineClient(dockerEndpoint("unix:///var/run/docker.sock")),
    procRoot: "/proc",
  });
  try {
    const allocIds = Array.from({ length: allocations }, () => randomUUID());
    const createdAt = performance.now();
    for (let index = 0; index < allocIds.length; index += CREATE_CONCURRENCY) {
      await Promise.all(
        allocIds
          .slice(index, index + CREATE_CONCURRENCY)
          .map((allocId) =>
            world.createAllocation({ allocId, tasks: ["web", "sidecar"], networkMode: "host" }),
          ),
      );
    }
    console.log(`created in ${((performance.now() - createdAt) / 1000).toFixed(0)} s`);
    const results = await measure(sampler, allocIds, cycles);
    report(results, allocations * 2, cycles);
  } finally {
    await sampler.close();
    await world.close();
  }
}

async function measure(
  sampler: DockerNetworkSampler,
  allocIds: string[],
  cycles: number,
): Promise<Record<string, Figures>> {
  const signals = new DockerActivitySignals({ sampler, procRoot: "/proc", cgroupRoot: "/sys/fs/cgroup" });
  // The first cycle opens the watch and a probe per namespace: not what a steady cycle costs.
  let readings = await sampler.sample(allocIds, Date.now());
  const bytesOnly = await timed(cycles, async () => {
    readings = await sampler.sample(allocIds, Date.now());
  });
  const unmeasured = [...readings.values()].filter((reading) => reading.state !== "measured");
  if (unmeasured.length > 0)
    throw new Error(`${unmeasured.length} allocations not measured: ${JSON.stringify(unmeasured[0])}`);

  const cpuOnly = allocIds.map((allocId) => request(allocId, true, false));
  const connectionsOnly = allocIds.map((allocId) => request(allocId, false, true));
  const both = allocIds.map((allocId) => request(allocId, true, true));
  const checkMeter = budgetWorkload(allocIds);
  const allMeter = new TrafficMeter();
  const settings: SignalSettings = {
    ...DEFAULT_SIGNAL_SETTINGS,
    cpuPercent: 5,
    connections: { kind: "any-port" },
  };
  let step = 0;
  return {
    "bytes only (the cycle without signals, for scale)": bytesOnly,
    "CPU gate (idle-monitor.cpu)": await timed(cycles, () => signals.read(cpuOnly)),
    "open connections (idle-monitor.connections)": await timed(cycles, () => signals.read(connectionsOnly)),
    // Quiet allocations cost the budget nothing; this is its worst case: every interval above the threshold.
    "check budget (idle-monitor.ignore-checks), every interval above the threshold": await timed(
      cycles,
      async () => {
        checkMeter.next();
      },
    ),
    "all three, every allocation quiet": await timed(cycles, async () => {
      step += 1;
      const at = step * CHECK_INTERVAL_MS;
      const found = await signals.read(both);
      for (const allocId of allocIds) {
        const quiet = allMeter.measure(readingOf(allocId, at, 0), { ...thresholdWithChecks });
        allMeter.withSignals(quiet, found.get(allocId) ?? ({} as SignalReading), settings, CHECK_INTERVAL_MS);
      }
    }),
  };
}

const thresholdWithChecks: ActivityThreshold = {
  thresholdBytes: THRESHOLD_BYTES,
  checkIntervalMs: CHECK_INTERVAL_MS,
  checks: CHECKS,
};

function request(allocId: string, cpu: boolean, connections: boolean): SignalRequest {
  return { allocId, cpu, connections: connections ? { kind: "any-port" } : { kind: "off" } };
}

function readingOf(allocId: string, at: number, total: number): Reading {
  return { allocId, at, state: "measured", counters: new Map([[allocId, total]]) };
}

/** Every allocation sends 6 × 900 B of checks per interval: above the threshold, so the budget is estimated. */
function budgetWorkload(allocIds: string[]): { next(): Activity[] } {
  const meter = new TrafficMeter();
  let step = 0;
  const next = () => {
    step += 1;
    return allocIds.map((allocId) =>
      meter.measure(readingOf(allocId, step * CHECK_INTERVAL_MS, step * 5_400), thresholdWithChecks),
    );
  };
  // A full history first: the estimate sorts its whole window.
  for (let warm = 0; warm < 60; warm++) next();
  return { next };
}

async function timed(cycles: number, cycle: () => Promise<unknown>): Promise<Figures> {
  await cycle();
  const wall: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (let index = 0; index < cycles; index++) {
    const started = performance.now();
    await cycle();
    wall.push(performance.now() - started);
  }
  const cpu = process.cpuUsage(cpuBefore);
  wall.sort((a, b) => a - b);
  return {
    medianMs: round(wall[Math.floor(wall.length / 2)] ?? 0),
    p90Ms: round(wall[Math.min(wall.length - 1, Math.ceil(wall.length * 0.9) - 1)] ?? 0),
    cpuMsPerCycle: round((cpu.user + cpu.system) / 1000 / cycles),
  };
}

function report(results: Record<string, Figures>, containers: number, cycles: number): void {
  console.log(`\n${containers} containers, ${cycles} cycles each (wall median / p90, CPU per cycle):`);
  for (const [name, figures] of Object.entries(results)) {
    console.log(`  ${name}: ${figures.medianMs} / ${figures.p90Ms} ms, CPU ${figures.cpuMsPerCycle} ms`);
  }
  const allThree = results["all three, every allocation quiet"];
  const [one, five, fifteen] = loadavg() as [number, number, number];
  console.log(`load average at the end: ${one.toFixed(2)} ${five.toFixed(2)} ${fifteen.toFixed(2)}`);
  console.log(
    `goal: all three < ${GOAL_ALL_THREE_MS} ms per cycle at 1,000 containers; measured ${allThree?.medianMs} ms at ${containers}`,
  );
  console.log(
    JSON.stringify({
      bench: "signals",
      containers,
      cycles,
      results,
      goalAllThreeMs: GOAL_ALL_THREE_MS,
      loadavg: loadavg(),
    }),
  );
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

await main();

// Activity-signals benchmark (issue 12): the cost a sampling cycle adds, per signal, when every allocation is
// quiet by bytes (the case in which the signals are read), over N real containers. Run: npm run bench:signals -- --help

import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { type ActivityThreshold, TrafficMeter } from "../src/decide/meter.js";
import { SignalSchedule } from "../src/decide/signal-schedule.js";
import { DockerActivitySignals } from "../src/docker/activity-signals.js";
import { DockerEngineClient, dockerEndpoint } from "../src/docker/engine-client.js";
import { DockerNetworkSampler } from "../src/docker/network-sampler.js";
import type { Activity, Reading } from "../src/model/readings.js";
import { CPU_STRIDE } from "../src/model/timing.js";
import type { SignalRequest } from "../src/ports.js";
import { DEFAULT_WARN_BEFORE_MS } from "../src/schedule-meta.js";
import type { NetworkCheck } from "../src/signals/check-budget.js";
import { locateContainerCgroup } from "../src/signals/cpu.js";
import { DEFAULT_SIGNAL_SETTINGS, type SignalSettings } from "../src/signals/meta.js";
import { DockerWorld } from "../test/world/world.js";
import { clean, cleanUpText, removeKept, setUp } from "./kept-world.js";
import { keptWorld } from "./world-keeper.js";

const USAGE = `usage: npm run bench:signals -- [--containers N] [--cycles M] [--reuse] [--clean]
  --containers N   containers to read (default 200), laid out as by npm run bench (two tasks per allocation,
                   three allocations in four in host mode, one in four in bridge mode)
  --cycles M       measured cycles per signal (default 20)
  --reuse          keep the containers after the run, and read kept ones again instead of creating them
                   (the same containers as npm run bench -- --reuse)
  --clean          only remove the containers kept by --reuse runs`;

/** The goal: all three signals together, every allocation quiet, at 1,000 containers. */
const GOAL_ALL_THREE_MS = 10;
const CHECK_INTERVAL_MS = 60_000;
const ALL_QUIET =
  "all three, every allocation quiet, far below its CPU gate, short of its warning and its timeout";
const GATE_PERCENT = 5;
/** Namespaces whose net/tcp is read for scale: each read walks the host's whole connection table. */
const TCP_SAMPLE = 20;
/** IDLE_TIMEOUT's default. */
const TIMEOUT_MS = 15 * 60_000;
const THRESHOLD_BYTES = 500;
/** A job with one HTTP check every 10 s, as in the README. */
const CHECKS: NetworkCheck[] = [{ service: "web", name: "alive", type: "http", intervalMs: 10_000 }];

interface Figures {
  medianMs: number;
  p90Ms: number;
  cpuMsPerCycle: number;
}

function say(text: string): void {
  console.log(text);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      containers: { type: "string", default: "200" },
      cycles: { type: "string", default: "20" },
      reuse: { type: "boolean", default: false },
      clean: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.clean) return clean(say);
  const containers = Number(values.containers);
  const cycles = Number(values.cycles);
  if (!(Number.isInteger(containers) && containers >= 2 && Number.isInteger(cycles) && cycles >= 1)) {
    console.error(USAGE);
    return 2;
  }
  say(`date: ${new Date().toISOString()}`);
  say(`cores: ${cpus().length}, load average at start: ${loadText()}`);
  const reuse = values.reuse && keptWorld(containers) !== undefined;
  say(reuse ? `reusing the ${containers} kept containers` : `creating ${containers} containers...`);

  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort());
  // The engine (started if none answers), as the tests and npm run bench do.
  const engineWorld = await DockerWorld.open();
  const setup = await setUp({ containers, reuse: values.reuse }, abort.signal, say);
  if (setup.created) say(`created in ${(setup.world.setupMs / 1000).toFixed(0)} s`);
  const sampler = new DockerNetworkSampler({
    engine: new DockerEngineClient(dockerEndpoint("unix:///var/run/docker.sock")),
    procRoot: "/proc",
  });
  try {
    say(`load average when the cycles begin: ${loadText()}`);
    const allocIds = setup.world.allocations.map((allocation) => allocation.allocId);
    const results = await measure(sampler, allocIds, cycles);
    report(results, setup.containerIds.length, allocIds.length, cycles);
  } finally {
    await sampler.close();
    if (values.reuse) {
      setup.keeper?.disconnect();
      setup.keeper?.unref();
    } else {
      say("removing the containers");
      say(cleanUpText(await removeKept(setup.world, engineWorld.docker, say)));
    }
    await engineWorld.close();
  }
  return 0;
}

function loadText(): string {
  return (loadavg() as number[]).map((load) => load.toFixed(2)).join(" ");
}

async function measure(
  sampler: DockerNetworkSampler,
  allocIds: string[],
  cycles: number,
): Promise<Record<string, Figures>> {
  const sensors = new DockerActivitySignals({ sampler, procRoot: "/proc", cgroupRoot: "/sys/fs/cgroup" });
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
  const checkMeter = budgetWorkload(allocIds);
  const signals: SignalSettings = {
    ...DEFAULT_SIGNAL_SETTINGS,
    cpuPercent: GATE_PERCENT,
    connections: { kind: "any-port" },
  };
  const policy = { signals, timeoutMs: TIMEOUT_MS, schedule: { warnBeforeMs: DEFAULT_WARN_BEFORE_MS } };
  /**
   * Cycles of the monitor with all three on (its SignalSchedule and TrafficMeter over the real reads), every
   * allocation quiet by bytes for `quietForMs` and far below its CPU gate (the containers idle). They
   * turned quiet at different times, so their every-third-cycle CPU reads are spread over the cycles.
   */
  const allThree = async (quietForMs: number) => {
    const meter = new TrafficMeter();
    const schedule = new SignalSchedule(CHECK_INTERVAL_MS);
    let step = 0;
    const cycle = async () => {
      step += 1;
      const at = step * CHECK_INTERVAL_MS;
      const quiet = allocIds
        .filter((_, index) => index % CPU_STRIDE < step)
        .map((allocId) => {
          const activity = meter.measure(readingOf(allocId, at, 0), thresholdWithChecks);
          const cpuDue = meter.cpuReadDue(allocId, at, GATE_PERCENT, CHECK_INTERVAL_MS);
          return { activity, settings: schedule.toRead(allocId, policy, at - quietForMs, at, cpuDue) };
        });
      const found = await sensors.read(
        quiet
          .filter(({ settings }) => settings.cpuPercent !== undefined || settings.connections.kind !== "off")
          .map(({ activity, settings }) => ({
            allocId: activity.allocId,
            cpu: settings.cpuPercent !== undefined,
            connections: settings.connections,
          })),
      );
      for (const { activity, settings } of quiet)
        meter.withSignals(activity, found.get(activity.allocId) ?? {}, settings, CHECK_INTERVAL_MS);
    };
    for (let warm = 0; warm < 2 * CPU_STRIDE; warm++) await cycle();
    return cycle;
  };
  const floor = await kernelFloor(sampler, allocIds, cycles);
  return {
    "bytes only (the cycle without signals, for scale)": bytesOnly,
    ...floor,
    "CPU gate (idle-monitor.cpu), read for every allocation": await timed(cycles, () =>
      sensors.read(cpuOnly),
    ),
    "open connections (idle-monitor.connections), read for every allocation": await timed(cycles, () =>
      sensors.read(connectionsOnly),
    ),
    // Quiet allocations cost the budget nothing; this is its worst case: every interval above the threshold.
    "check budget (idle-monitor.ignore-checks), every interval above the threshold": await timed(
      cycles,
      async () => {
        checkMeter.next();
      },
    ),
    [ALL_QUIET]: await timed(cycles, await allThree(2 * CHECK_INTERVAL_MS)),
    "all three, every allocation at its timeout in the same cycle (everything read)": await timed(
      cycles,
      await allThree(TIMEOUT_MS),
    ),
  };
}

/**
 * For scale, the reads alone without the adapter: each container's CPU file read through a descriptor kept
 * open (the kernel's part of the CPU gate), the same files opened, read and closed each time (what kept
 * descriptors spare), and `net/tcp` of a few namespaces (what a `net/snmp` saying 0 connections spares).
 */
async function kernelFloor(
  sampler: DockerNetworkSampler,
  allocIds: string[],
  cycles: number,
): Promise<Record<string, Figures>> {
  const processes = [...sampler.processes(allocIds).values()].flatMap((found) =>
    "reason" in found ? [] : [found],
  );
  const located = await Promise.all(
    processes
      .flatMap((found) => found.containerIds)
      .map((containerId) => locateContainerCgroup("/sys/fs/cgroup", containerId)),
  );
  const cpuFiles = located.flatMap((location) =>
    location ? [`${location.directory}/${location.file}`] : [],
  );
  const tcpTables = processes
    .flatMap((found) => found.namespaces.map(({ pid }) => `/proc/${pid}/net/tcp`))
    .slice(0, TCP_SAMPLE);
  const buffer = Buffer.alloc(64 * 1024);
  const descriptors = cpuFiles.map((path) => openSync(path, "r"));
  try {
    return {
      [`for scale: a bare read of each of the ${cpuFiles.length} CPU files, kept open`]: await timed(
        cycles,
        async () => {
          for (const fd of descriptors) readSync(fd, buffer, 0, buffer.length, 0);
        },
      ),
      [`for scale: the same ${cpuFiles.length} files opened, read and closed`]: await timed(
        cycles,
        async () => {
          for (const path of cpuFiles) readFileSync(path);
        },
      ),
      [`for scale: net/tcp of ${tcpTables.length} namespaces`]: await timed(cycles, async () => {
        for (const path of tcpTables) readFileSync(path);
      }),
    };
  } finally {
    for (const fd of descriptors) closeSync(fd);
  }
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

function report(
  results: Record<string, Figures>,
  containers: number,
  allocations: number,
  cycles: number,
): void {
  console.log(
    `\n${containers} containers (${allocations} allocations), ${cycles} cycles each (wall median / p90, CPU per cycle):`,
  );
  for (const [name, figures] of Object.entries(results)) {
    console.log(`  ${name}: ${figures.medianMs} / ${figures.p90Ms} ms, CPU ${figures.cpuMsPerCycle} ms`);
  }
  const allThree = results[ALL_QUIET];
  console.log(`load average at the end: ${loadText()}`);
  console.log(
    `goal: all three < ${GOAL_ALL_THREE_MS} ms per cycle at 1,000 containers; measured ${allThree?.medianMs} ms at ${containers}`,
  );
  console.log(
    JSON.stringify({
      bench: "signals",
      containers,
      allocations,
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

process.exitCode = await main();
// The keeper's IPC channel, if still open, would hold this process.
process.exit();

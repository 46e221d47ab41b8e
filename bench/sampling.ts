// Sampling benchmark: one DockerNetworkSampler cycle over N real containers, against the seed's way
// (sequential `docker stats --no-stream` per container). Run: npx tsx bench/sampling.ts --help
import { execFile, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import ts from "typescript";
import { mapBounded } from "../src/docker/bounded.js";
import { type AllocationSpec, DockerWorld, type PlacedAllocation } from "../test/world/world.js";
import type { CycleFigures, SamplingReport, SamplingRequest } from "./sampler-process.js";

const USAGE = `usage: npx tsx bench/sampling.ts [--containers N] [--cycles M] [--baseline-subset K] [--cpu-prof DIR]
  --containers N       containers to start (default 200)
  --cycles M           measured sampling cycles after one warm-up cycle (default 10, at least 10)
  --baseline-subset K  containers timed with sequential docker stats --no-stream (default 10)
  --cpu-prof DIR       write the sampler process's V8 CPU profile (.cpuprofile) into DIR`;

const GOAL = { containers: 200, medianCycleMs: 100, peakRssMb: 100 } as const;
const TASKS = ["web", "sidecar"];
/** Every BRIDGE_EVERY-th allocation is bridge-mode (pause container + tasks sharing its namespace). */
const BRIDGE_EVERY = 4;
/** Allocations created at once: each takes ~300 ms of dockerd work. */
const SETUP_CONCURRENCY = 12;
// Debian's client, the one that ships with the 20.10 daemon (the newer /usr/local/bin/docker answers too).
const BASELINE_DOCKER = "/usr/bin/docker";
const PROC_ROOT = "/proc";
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const run = promisify(execFile);

interface Options {
  containers: number;
  cycles: number;
  baselineSubset: number;
  cpuProfileDir: string | undefined;
}

interface Setup {
  allocations: PlacedAllocation[];
  /** Every container started, pause containers included, in allocation order. */
  containerIds: string[];
  ms: number;
}

interface Baseline {
  client: string;
  perContainerMs: number[];
  extrapolatedCycleMs: number;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      containers: { type: "string", default: "200" },
      cycles: { type: "string", default: "10" },
      "baseline-subset": { type: "string", default: "10" },
      "cpu-prof": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const options = {
    containers: positiveInteger("--containers", values.containers),
    cycles: positiveInteger("--cycles", values.cycles),
    baselineSubset: positiveInteger("--baseline-subset", values["baseline-subset"]),
    cpuProfileDir: values["cpu-prof"],
  };
  if (options.cycles < 10) throw new Error("--cycles must be at least 10 (the median of fewer says little)");
  if (options.baselineSubset > options.containers) {
    throw new Error("--baseline-subset cannot exceed --containers");
  }
  return options;
}

function positiveInteger(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new Error(`${flag} must be a positive integer, got ${value}`);
  return number;
}

/**
 * Allocations of two tasks until `containers` are placed: three of four in host mode (each task its own
 * namespace on docker0), one of four in bridge mode (pause container + two tasks, one namespace), as a
 * node running a mix of jobs has. The last allocation is shrunk to land on exactly `containers`.
 */
function planAllocations(containers: number): AllocationSpec[] {
  const specs: AllocationSpec[] = [];
  let remaining = containers;
  while (remaining > 0) {
    const bridge = specs.length % BRIDGE_EVERY === BRIDGE_EVERY - 1 && remaining >= TASKS.length + 1;
    const tasks = TASKS.slice(0, bridge ? TASKS.length : Math.min(TASKS.length, remaining));
    specs.push({ allocId: randomUUID(), tasks, networkMode: bridge ? "bridge" : "host" });
    remaining -= tasks.length + (bridge ? 1 : 0);
  }
  return specs;
}

async function createAllocations(
  world: DockerWorld,
  specs: readonly AllocationSpec[],
  signal: AbortSignal,
): Promise<Setup> {
  const started = performance.now();
  let created = 0;
  let failure: unknown;
  // Stop starting new allocations on the first failure or Ctrl-C, but let those in flight finish, so
  // that world.close() afterwards sees every container.
  const placed = await mapBounded(specs, SETUP_CONCURRENCY, async (spec) => {
    if (failure !== undefined || signal.aborted) return undefined;
    try {
      const allocation = await world.createAllocation(spec);
      created++;
      if (created % Math.ceil(specs.length / 10) === 0) {
        console.error(`  created ${created}/${specs.length} allocations`);
      }
      return allocation;
    } catch (error) {
      failure ??= error;
      return undefined;
    }
  });
  signal.throwIfAborted();
  if (failure !== undefined) {
    throw new Error(`setup failed after ${created} of ${specs.length} allocations`, { cause: failure });
  }
  const allocations = placed as PlacedAllocation[];
  const containerIds = allocations.flatMap((allocation) => [
    ...(allocation.pause ? [allocation.pause.id] : []),
    ...allocation.tasks.map((task) => task.id),
  ]);
  return { allocations, containerIds, ms: performance.now() - started };
}

interface SamplerBuild {
  entry: string;
  remove(): Promise<void>;
}

/**
 * Compiles bench/sampler-process.ts and what it imports from src/ into a temporary directory, so the
 * sampler runs as plain JavaScript under plain node, as the daemon does: tsx's loader thread alone would
 * add ~25 MB to its RSS. Done before any container exists: the compile holds the event loop for seconds,
 * and tsx's CLI answers a Ctrl-C it does not see handled within 60 ms with SIGKILL.
 */
async function buildSamplerProcess(): Promise<SamplerBuild> {
  const outDir = await mkdtemp(join(tmpdir(), "nomad-idle-monitor-bench-"));
  const remove = () => rm(outDir, { recursive: true, force: true });
  try {
    const configPath = join(REPO_ROOT, "tsconfig.json");
    const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config, ts.sys, REPO_ROOT);
    const program = ts.createProgram([join(REPO_ROOT, "bench", "sampler-process.ts")], {
      ...options,
      noEmit: false,
      rootDir: REPO_ROOT,
      outDir,
    });
    if (program.emit().emitSkipped) throw new Error(`TypeScript emitted nothing into ${outDir}`);
    // ESM like the sources, and the repository's node_modules for dockerode.
    await writeFile(join(outDir, "package.json"), JSON.stringify({ type: "module" }));
    await symlink(join(REPO_ROOT, "node_modules"), join(outDir, "node_modules"));
    return { entry: join(outDir, "bench", "sampler-process.js"), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Runs the sampler loop in a child process that does nothing else, and returns what it measured. */
function sampleInChildProcess(
  entry: string,
  request: SamplingRequest,
  cpuProfileDir: string | undefined,
  signal: AbortSignal,
): Promise<SamplingReport> {
  const execArgv = cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(cpuProfileDir)}`] : [];
  const child = fork(entry, { execArgv, signal });
  return new Promise((resolveReport, reject) => {
    let report: SamplingReport | undefined;
    child.once("message", (message: SamplingReport) => {
      report = message;
    });
    child.once("error", reject);
    child.once("exit", (code, exitSignal) => {
      if (report) resolveReport(report);
      else reject(new Error(`the sampler process ended (${exitSignal ?? `exit ${code}`}) without a report`));
    });
    child.send(request);
  });
}

/** The seed's way: `docker stats --no-stream <container>` for one container after another. */
async function measureBaseline(
  containerIds: readonly string[],
  subset: number,
  signal: AbortSignal,
): Promise<Baseline> {
  const { stdout: version } = await run(BASELINE_DOCKER, ["version", "--format", "{{.Client.Version}}"]);
  const perContainerMs: number[] = [];
  for (let i = 0; i < subset; i++) {
    // Spread over the whole set, so host-mode tasks, bridge-mode tasks and pause containers all appear.
    const id = containerIds[Math.floor((i * containerIds.length) / subset)] as string;
    const started = performance.now();
    const { stdout } = await run(
      BASELINE_DOCKER,
      ["stats", "--no-stream", "--format", "{{.ID}} {{.NetIO}}", id],
      { signal },
    );
    perContainerMs.push(performance.now() - started);
    if (!id.startsWith(stdout.split(" ")[0] ?? "-")) {
      throw new Error(`docker stats ${id} answered ${JSON.stringify(stdout)}`);
    }
  }
  return {
    client: `${BASELINE_DOCKER} ${version.trim()}`,
    perContainerMs,
    extrapolatedCycleMs: mean(perContainerMs) * containerIds.length,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle)
    ? ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
    : (sorted[Math.floor(middle)] as number);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function spread(values: readonly number[]) {
  return { median: median(values), p90: percentile(values, 90), max: Math.max(...values) };
}

function unknownTotals(cycles: readonly CycleFigures[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const cycle of cycles) {
    for (const [reason, count] of Object.entries(cycle.unknown))
      totals[reason] = (totals[reason] ?? 0) + count;
  }
  return totals;
}

/** Left-aligned first column; the others right-aligned (figures) or left-aligned (text). */
function table(rows: readonly string[][], values: "figures" | "text"): string {
  const widths = rows.reduce<number[]>(
    (max, row) => row.map((cell, i) => Math.max(max[i] ?? 0, cell.length)),
    [],
  );
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i === 0 || values === "text" ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
        )
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

const ms = (value: number) => value.toFixed(1);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

function report(options: Options, setup: Setup, sampling: SamplingReport, baseline: Baseline): boolean {
  const allocations = setup.allocations.length;
  const bridge = setup.allocations.filter((allocation) => allocation.networkMode === "bridge").length;
  const wall = spread(sampling.cycles.map((cycle) => cycle.wallMs));
  const cpu = spread(sampling.cycles.map((cycle) => cycle.cpuMs));
  const everyCycle = [sampling.warmUp, ...sampling.cycles];
  const unknown = unknownTotals(everyCycle);
  const unknownCount = Object.values(unknown).reduce((sum, count) => sum + count, 0);
  const benchPeakRssBytes = process.resourceUsage().maxRSS * 1024;
  const perContainer = { median: median(baseline.perContainerMs), mean: mean(baseline.perContainerMs) };
  const measuredBaseline = baseline.perContainerMs.length;

  console.log(
    `\n${setup.containerIds.length} containers in ${allocations} allocations: ${allocations - bridge} host-mode ` +
      `(a namespace per task), ${bridge} bridge-mode (pause + tasks sharing one namespace); ` +
      `${sampling.cycles[0]?.namespaces} namespaces read per cycle\n`,
  );
  console.log(
    table(
      [
        [`sampler, ${options.cycles} cycles after 1 warm-up`, "median", "p90", "max"],
        ["cycle wall time (ms)", ms(wall.median), ms(wall.p90), ms(wall.max)],
        ["cycle CPU time, user+system (ms)", ms(cpu.median), ms(cpu.p90), ms(cpu.max)],
      ],
      "figures",
    ),
  );
  console.log();
  console.log(
    table(
      [
        ["setup", `${(setup.ms / 1000).toFixed(1)} s (${SETUP_CONCURRENCY} allocations at a time)`],
        [
          "warm-up cycle (resolves PIDs)",
          `${ms(sampling.warmUp.wallMs)} ms wall, ${ms(sampling.warmUp.cpuMs)} ms CPU`,
        ],
        [
          "sampler process peak RSS",
          `${mb(sampling.peakRssBytes)} MB (${mb(sampling.rssBeforeSamplingBytes)} MB before the first cycle)`,
        ],
        ["bench process peak RSS", `${mb(benchPeakRssBytes)} MB (holds the world, not the sampler)`],
        [
          "unknown readings",
          `${unknownCount} of ${allocations * everyCycle.length} (${everyCycle.length} cycles)`,
        ],
        ...Object.entries(unknown).map(([reason, count]) => [`  ${count} ×`, reason]),
        [
          "baseline per container",
          `${ms(perContainer.median)} ms median, ${ms(perContainer.mean)} ms mean ` +
            `(docker stats --no-stream, sequential, ${baseline.client}, ${measuredBaseline} measured)`,
        ],
        [
          "baseline full cycle",
          `${(baseline.extrapolatedCycleMs / 1000).toFixed(1)} s for ${setup.containerIds.length} containers ` +
            `(extrapolated from ${measuredBaseline} measured)`,
        ],
        ["speed-up (median)", `${(baseline.extrapolatedCycleMs / wall.median).toFixed(0)}×`],
        ...(setup.containerIds.length === GOAL.containers
          ? [
              [
                "goal",
                `median < ${GOAL.medianCycleMs} ms: ${wall.median < GOAL.medianCycleMs ? "met" : "MISSED"}; ` +
                  `sampler RSS < ${GOAL.peakRssMb} MB: ` +
                  `${sampling.peakRssBytes / 1024 / 1024 < GOAL.peakRssMb ? "met" : "MISSED"}`,
              ],
            ]
          : []),
      ],
      "text",
    ),
  );
  console.log(
    JSON.stringify({
      containers: setup.containerIds.length,
      allocations,
      bridgeModeAllocations: bridge,
      namespacesPerCycle: sampling.cycles[0]?.namespaces,
      setupMs: Math.round(setup.ms),
      cycles: options.cycles,
      warmUp: { wallMs: sampling.warmUp.wallMs, cpuMs: sampling.warmUp.cpuMs },
      cycleWallMs: wall,
      cycleCpuMs: cpu,
      samplerPeakRssBytes: sampling.peakRssBytes,
      samplerRssBeforeSamplingBytes: sampling.rssBeforeSamplingBytes,
      benchPeakRssBytes,
      unknown: { count: unknownCount, reasons: unknown },
      baseline: {
        method: "sequential docker stats --no-stream",
        client: baseline.client,
        measured: measuredBaseline,
        perContainerMs: perContainer,
        extrapolatedCycleMs: baseline.extrapolatedCycleMs,
      },
    }),
  );
  return unknownCount === 0;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const abort = new AbortController();
  // Handled for the whole run, not once: with a one-shot handler, Ctrl-C under `npx tsx` ended the process
  // before it had removed the containers.
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) return;
    console.error(`\n${signal}: stopping and removing the containers`);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const samplerBuild = await buildSamplerProcess();
  let world: DockerWorld | undefined;
  try {
    world = await DockerWorld.open();
    const specs = planAllocations(options.containers);
    console.error(`starting ${options.containers} containers in ${specs.length} allocations`);
    const setup = await createAllocations(world, specs, abort.signal);
    console.error(`sampling: 1 warm-up + ${options.cycles} cycles`);
    const sampling = await sampleInChildProcess(
      samplerBuild.entry,
      { allocIds: specs.map((spec) => spec.allocId), cycles: options.cycles, procRoot: PROC_ROOT },
      options.cpuProfileDir,
      abort.signal,
    );
    console.error(
      `baseline: docker stats --no-stream for ${options.baselineSubset} containers, one at a time`,
    );
    const baseline = await measureBaseline(setup.containerIds, options.baselineSubset, abort.signal);
    return report(options, setup, sampling, baseline) ? 0 : 1;
  } catch (error) {
    if (abort.signal.aborted) return 130;
    throw error;
  } finally {
    await samplerBuild.remove();
    if (world) {
      const started = performance.now();
      await world.close();
      console.error(`removed the containers in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
}

process.exitCode = await main();

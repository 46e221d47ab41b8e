// Sampling benchmark: DockerNetworkSampler cycles over N real containers, the Docker requests they cost
// (counted at a proxy on the socket), the time from a container's start to its baseline reading, and two
// baselines: the seed's way (sequential `docker stats --no-stream`) and Docker's stats API (one-shot, all
// containers at once). Run: npm run bench -- --help
import { type ChildProcess, execFile, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import ts from "typescript";
import type { DockerEndpoint } from "../src/docker/engine-client.js";
import { DockerWorld } from "../test/world/world.js";
import { type CountingProxy, countingProxy, endpointOf } from "./docker-proxy.js";
import { type CleanUp, clean, cleanUpText, removeKept, type Setup, setUp } from "./kept-world.js";
import { requestsPerHour } from "./requests-per-hour.js";
import type { CycleFigures, FromSampler, ToSampler } from "./sampler-process.js";
import { type KeptWorld, keptWorld, SETUP_CONCURRENCY } from "./world-keeper.js";

const USAGE = `usage: npm run bench -- [--containers N] [--cycles M] [--reuse] [--clean] [--baseline-subset K] [--cpu-prof DIR]
  --containers N       containers to sample (default 200)
  --cycles M           measured sampling cycles after the first (default 10, at least 10)
  --reuse              keep the containers after the run, and sample kept ones again instead of creating them
  --clean              only remove the containers kept by --reuse runs, and say how long it took
  --per-hour           instead: Nomad and Docker requests per hour of the real monitor against the simulator,
                       with --allocations N opted-in allocations (default 200), counted over --window S s (default 200)
  --baseline-subset K  containers timed with sequential docker stats --no-stream (default 10)
  --cpu-prof DIR       write the sampler process's V8 CPU profile (.cpuprofile) into DIR`;

/** The issue's goals. */
const GOALS = {
  1000: { cycleWallMs: 25, cycleCpuMs: 20, firstCycleMs: 2_000, peakRssMb: 80 },
  200: { cycleWallMs: 8 },
  baselineMs: 1_000,
  dockerRequestsPerCycle: 0,
} as const;
/** Measured on a 2-core machine: seconds per container to create, and to remove (issue 9). */
const SECONDS_TO_CREATE = 0.65;
const SECONDS_TO_REMOVE = 0.32;
/** New containers started one at a time after the cycles, each timed from its start to its baseline. */
const BASELINE_PROBES = 5;
const BASELINE_TIMEOUT_MS = 10_000;
/** A stats request of baseline 2 not answered by then counts as failed (an engine that stopped answering). */
const STATS_TIMEOUT_MS = 120_000;
/** The steady-state window over which the Docker requests per hour are counted: two of the sampler's pings. */
const STEADY_WINDOW_MS = 61_000;
const STEADY_CYCLE_EVERY_MS = 5_000;
// Debian's client, the one that ships with the 20.10 daemon (the newer /usr/local/bin/docker answers too).
const BASELINE_DOCKER = "/usr/bin/docker";
const DOCKER_SOCKET = "/var/run/docker.sock";
const PROC_ROOT = "/proc";
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const run = promisify(execFile);

interface Options {
  containers: number;
  cycles: number;
  baselineSubset: number;
  reuse: boolean;
  clean: boolean;
  perHour: boolean;
  cpuProfileDir: string | undefined;
}

interface Sampling {
  first: CycleFigures;
  firstRequests: Record<string, number>;
  cycles: CycleFigures[];
  /** Requests of a cycle, but the inspects of containers other work started meanwhile. */
  requestsPerCycle: number[];
  othersInspectsPerCycle: number[];
  steady: { windowMs: number; cycles: number; requests: Record<string, number> };
  baselines: Array<{ ms: number; inspects: number }>;
  rssBeforeSamplingBytes: number;
  peakRssBytes: number;
}

interface Baselines {
  seed: { client: string; perContainerMs: number[]; extrapolatedCycleMs: number };
  statsApi: { ms: number; containers: number; failed: number };
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      containers: { type: "string", default: "200" },
      cycles: { type: "string", default: "10" },
      "baseline-subset": { type: "string", default: "10" },
      reuse: { type: "boolean", default: false },
      clean: { type: "boolean", default: false },
      "per-hour": { type: "boolean", default: false },
      allocations: { type: "string" },
      window: { type: "string" },
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
    reuse: values.reuse,
    clean: values.clean,
    perHour: values["per-hour"],
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

function say(text: string): void {
  console.error(text);
}

/** The machine's state at the start: a run on a busy machine shows as such. */
function machine() {
  const [one, five, fifteen] = loadavg() as [number, number, number];
  return {
    date: new Date().toISOString(),
    cores: cpus().length,
    loadAverage: { one, five, fifteen },
    procLoadavg: readFileSync("/proc/loadavg", "utf8").trim(),
  };
}

function loadText({ loadAverage }: ReturnType<typeof machine>): string {
  return [loadAverage.one, loadAverage.five, loadAverage.fifteen].map((load) => load.toFixed(2)).join(" ");
}

function estimate(options: Options, kept: KeptWorld | undefined): string {
  const create = kept ? 0 : options.containers * SECONDS_TO_CREATE;
  const remove = options.reuse ? 0 : options.containers * SECONDS_TO_REMOVE;
  // Baselines: ~2 s per sequential docker stats, the all-at-once stats call, the steady window, probes.
  const rest =
    options.baselineSubset * 2 +
    options.containers * 0.02 +
    STEADY_WINDOW_MS / 1000 +
    BASELINE_PROBES * 3 +
    20;
  const minutes = (seconds: number) => `${Math.max(1, Math.round(seconds / 60))} min`;
  const parts = [
    kept
      ? `reusing the ${kept.containers} containers kept since ${kept.createdAt}`
      : `creating ${options.containers} containers ~${minutes(create)}`,
    `measuring ~${minutes(rest)}`,
    options.reuse ? "keeping the containers (--reuse)" : `removing them ~${minutes(remove)}`,
  ];
  return `this run takes about ${minutes(create + remove + rest)} on a 2-core machine: ${parts.join(", ")}`;
}

interface SamplerBuild {
  entry: string;
  remove(): Promise<void>;
}

/**
 * Compiles bench/sampler-process.ts and what it imports from src/ into a temporary directory, so the
 * sampler runs as plain JavaScript under plain node, as the daemon does: tsx's loader thread alone would
 * add ~25 MB to its RSS.
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
    await writeFile(join(outDir, "package.json"), JSON.stringify({ type: "module" }));
    await symlink(join(REPO_ROOT, "node_modules"), join(outDir, "node_modules"));
    return { entry: join(outDir, "bench", "sampler-process.js"), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** The sampler process, driven one message at a time. */
class SamplerProcess {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<FromSampler["kind"], (message: FromSampler) => void>();
  readonly baselines = new Map<string, number>();
  #exited: Error | undefined;

  constructor(entry: string, proxy: CountingProxy, cpuProfileDir: string | undefined) {
    const { host, port } = proxy.endpoint as { host: string; port: number };
    // The young-generation cap the Dockerfile gives the daemon (NODE_OPTIONS).
    const execArgv = [
      "--max-semi-space-size=1",
      ...(cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(cpuProfileDir)}`] : []),
    ];
    this.#child = fork(entry, { execArgv, env: { ...process.env, DOCKER_HOST: `tcp://${host}:${port}` } });
    this.#child.on("message", (message: FromSampler) => {
      if (message.kind === "baseline") this.baselines.set(message.allocId, message.deliveredAtMs);
      else this.#waiting.get(message.kind)?.(message);
    });
    this.#child.once("exit", (code, signal) => {
      this.#exited = new Error(`the sampler process ended (${signal ?? `exit ${code}`})`);
    });
  }

  ask<K extends FromSampler["kind"]>(
    message: ToSampler,
    answer: K,
  ): Promise<Extract<FromSampler, { kind: K }>> {
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolveAnswer, reject) => {
      const onExit = () => reject(this.#exited);
      this.#child.once("exit", onExit);
      this.#waiting.set(answer, (received) => {
        this.#child.off("exit", onExit);
        resolveAnswer(received as Extract<FromSampler, { kind: K }>);
      });
      this.#child.send(message);
    });
  }

  tell(message: ToSampler): void {
    this.#child.send(message);
  }

  kill(): void {
    this.#child.kill();
  }
}

/** Set apart: the sampler inspects every labelled container once, when it starts, whoever started it. */
const OTHERS_INSPECTS = "GET /containers/{id}/json (containers other work started meanwhile)";

/** Requests by endpoint since `before`; inspects of containers not among `ours` counted apart. */
function requestsSince(
  proxy: CountingProxy,
  before: number,
  ours: ReadonlySet<string>,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const path of proxy.paths().slice(before)) {
    const inspected = path.match(/^GET \/containers\/([0-9a-f]{64})\/json$/)?.[1];
    const endpoint =
      inspected === undefined
        ? endpointOf(path.split(" ")[0] ?? "GET", path.slice(path.indexOf(" ") + 1))
        : ours.has(inspected)
          ? "GET /containers/{id}/json"
          : OTHERS_INSPECTS;
    counts[endpoint] = (counts[endpoint] ?? 0) + 1;
  }
  return counts;
}

/** What the sampler asked because of the bench's own containers and cycles. */
function ownTotal(counts: Record<string, number>): number {
  return total(counts) - (counts[OTHERS_INSPECTS] ?? 0);
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

async function sample(
  build: SamplerBuild,
  setup: Setup,
  probesWorld: DockerWorld,
  proxy: CountingProxy,
  cpuProfileDir: string | undefined,
  cycles: number,
): Promise<Sampling> {
  const sampler = new SamplerProcess(build.entry, proxy, cpuProfileDir);
  try {
    const allocIds = setup.world.allocations.map((allocation) => allocation.allocId);
    const ours = new Set(setup.containerIds);
    const { rssBeforeSamplingBytes } = await sampler.ask(
      { kind: "start", allocIds, procRoot: PROC_ROOT },
      "started",
    );
    const cycle = async () => {
      const before = proxy.requests().length;
      const { figures } = await sampler.ask({ kind: "cycle" }, "cycle");
      return { figures, requests: requestsSince(proxy, before, ours) };
    };

    say("sampling: the first cycle (one list, one inspect per container that owns a namespace)");
    const first = await cycle();
    printFirstCycle(first.figures, first.requests);
    say(`sampling: ${cycles} cycles back to back`);
    const measured: Awaited<ReturnType<typeof cycle>>[] = [];
    for (let i = 0; i < cycles; i++) measured.push(await cycle());
    printCycles(
      measured.map((one) => one.figures),
      measured.map((one) => ownTotal(one.requests)),
      measured.map((one) => one.requests[OTHERS_INSPECTS] ?? 0),
    );
    printUnknown([first.figures, ...measured.map((one) => one.figures)], allocIds.length);

    say(
      `steady state: a cycle every ${STEADY_CYCLE_EVERY_MS / 1000} s for ${STEADY_WINDOW_MS / 1000} s, counting Docker requests`,
    );
    const windowStart = proxy.requests().length;
    const windowStarted = performance.now();
    let steadyCycles = 0;
    while (performance.now() - windowStarted < STEADY_WINDOW_MS) {
      await cycle();
      steadyCycles++;
      await sleep(Math.min(STEADY_CYCLE_EVERY_MS, STEADY_WINDOW_MS - (performance.now() - windowStarted)));
    }
    const steady = {
      windowMs: performance.now() - windowStarted,
      cycles: steadyCycles,
      requests: requestsSince(proxy, windowStart, ours),
    };
    figure(
      "Docker requests per hour, steady state",
      `${JSON.stringify(perHour(steady))} (counted over ${seconds(steady.windowMs)}, ${steady.cycles} cycles; the event stream stays open)`,
    );

    say(`start to baseline: ${BASELINE_PROBES} new containers, one at a time`);
    const baselines: Sampling["baselines"] = [];
    for (let i = 0; i < BASELINE_PROBES; i++) {
      const allocId = randomUUID();
      const before = proxy.requests().length;
      const placed = await probesWorld.createAllocation({ allocId, tasks: ["web"], networkMode: "host" });
      const task = placed.tasks[0];
      const { State } = await probesWorld.docker.getContainer(task?.id as string).inspect();
      const deadline = performance.now() + BASELINE_TIMEOUT_MS;
      while (!sampler.baselines.has(allocId) && performance.now() < deadline) await sleep(10);
      const delivered = sampler.baselines.get(allocId);
      if (delivered === undefined)
        throw new Error(`no baseline for probe ${allocId} within ${BASELINE_TIMEOUT_MS / 1000} s`);
      const requests = requestsSince(proxy, before, new Set([...ours, ...placed.tasks.map((one) => one.id)]));
      baselines.push({
        ms: delivered - Date.parse(State.StartedAt),
        inspects: requests["GET /containers/{id}/json"] ?? 0,
      });
      await probesWorld.removeAllocation(allocId);
    }
    const baselineMs = spread(baselines.map((baseline) => baseline.ms));
    figure(
      `start → baseline reading (${baselines.length} new containers)`,
      `min ${ms(baselineMs.min)}, median ${ms(baselineMs.median)}, p90 ${ms(baselineMs.p90)}, max ${ms(baselineMs.max)} ms; ` +
        `inspects per new container ${baselines.map((baseline) => baseline.inspects).join(", ")}`,
    );
    const { peakRssBytes } = await sampler.ask({ kind: "finish" }, "finished");
    const lastCyclePeak = Math.max(
      first.figures.peakRssBytes,
      ...measured.map((one) => one.figures.peakRssBytes),
    );
    figure(
      "sampler process peak RSS",
      `${mb(peakRssBytes)} MB (${mb(rssBeforeSamplingBytes)} MB before the first cycle, ` +
        `peak ${mb(first.figures.peakRssBytes)} MB by its end, ${mb(lastCyclePeak)} MB by the end of the measured cycles)`,
    );
    return {
      first: first.figures,
      firstRequests: first.requests,
      cycles: measured.map((one) => one.figures),
      requestsPerCycle: measured.map((one) => ownTotal(one.requests)),
      othersInspectsPerCycle: measured.map((one) => one.requests[OTHERS_INSPECTS] ?? 0),
      steady,
      baselines,
      rssBeforeSamplingBytes,
      peakRssBytes,
    };
  } catch (error) {
    sampler.kill();
    throw error;
  }
}

/** The seed's way: `docker stats --no-stream <container>` for one container after another. */
async function seedBaseline(containerIds: readonly string[], subset: number, signal: AbortSignal) {
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

/** Docker's stats API, one-shot (API ≥ 1.41), every container at once: the strongest use of Docker's own stats. */
async function statsApiBaseline(endpoint: DockerEndpoint, containerIds: readonly string[]) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const target =
    "socketPath" in endpoint
      ? { socketPath: endpoint.socketPath }
      : { host: endpoint.host, port: endpoint.port };
  const started = performance.now();
  const results = await Promise.all(
    containerIds.map(
      (id) =>
        new Promise<boolean>((resolveOne) => {
          const request = http.get(
            {
              ...target,
              agent,
              path: `/containers/${id}/stats?stream=false&one-shot=true`,
              timeout: STATS_TIMEOUT_MS,
            },
            (response) => {
              response.resume();
              response.on("end", () => resolveOne(response.statusCode === 200));
              response.on("error", () => resolveOne(false));
            },
          );
          request.on("timeout", () => request.destroy());
          request.on("error", () => resolveOne(false));
        }),
    ),
  );
  const ms = performance.now() - started;
  agent.destroy();
  return { ms, containers: containerIds.length, failed: results.filter((ok) => !ok).length };
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
  return {
    min: Math.min(...values),
    median: median(values),
    p90: percentile(values, 90),
    max: Math.max(...values),
  };
}

function unknownTotals(cycles: readonly CycleFigures[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const cycle of cycles) {
    for (const [reason, count] of Object.entries(cycle.unknown))
      totals[reason] = (totals[reason] ?? 0) + count;
  }
  return totals;
}

/** Left-aligned first column; the others (figures) right-aligned. */
function table(rows: readonly string[][]): string {
  const widths = rows.reduce<number[]>(
    (max, row) => row.map((cell, i) => Math.max(max[i] ?? 0, cell.length)),
    [],
  );
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

const ms = (value: number) => value.toFixed(1);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;
const verdict = (met: boolean) => (met ? "met" : "MISSED");

function perHour(steady: Sampling["steady"]): Record<string, number> {
  const hourly: Record<string, number> = {};
  for (const [endpoint, count] of Object.entries(steady.requests)) {
    hourly[endpoint] = Math.round((count * 3_600_000) / steady.windowMs);
  }
  return hourly;
}

function goals(
  containers: number,
  sampling: Sampling,
  wallMedian: number,
  cpuMedian: number,
  requestsPerCycle: number,
) {
  const baselineMax = Math.max(...sampling.baselines.map((baseline) => baseline.ms));
  const rows: Array<[string, boolean]> = [
    [
      `Docker requests per cycle = ${GOALS.dockerRequestsPerCycle}`,
      requestsPerCycle === GOALS.dockerRequestsPerCycle,
    ],
    [
      `start → baseline < ${GOALS.baselineMs} ms (max of ${sampling.baselines.length})`,
      baselineMax < GOALS.baselineMs,
    ],
  ];
  if (containers === 1000) {
    const goal = GOALS[1000];
    rows.push(
      [`cycle wall median < ${goal.cycleWallMs} ms`, wallMedian < goal.cycleWallMs],
      [`cycle CPU median < ${goal.cycleCpuMs} ms`, cpuMedian < goal.cycleCpuMs],
      [`first cycle < ${goal.firstCycleMs} ms`, sampling.first.wallMs < goal.firstCycleMs],
      [`sampler peak RSS < ${goal.peakRssMb} MB`, sampling.peakRssBytes / 1024 / 1024 < goal.peakRssMb],
    );
  }
  if (containers === 200)
    rows.push([`cycle wall median < ${GOALS[200].cycleWallMs} ms`, wallMedian < GOALS[200].cycleWallMs]);
  return rows;
}

/** One figure, printed as soon as it is measured: a run that stops later has still told what it measured. */
function figure(label: string, value: string): void {
  console.log(`${label}: ${value}`);
}

function printLayout(
  setup: Setup,
  start: ReturnType<typeof machine>,
  /** When the sampling began: after a long set-up, the load at the start says little about it. */
  samplingStart: ReturnType<typeof machine>,
): void {
  const { allocations } = setup.world;
  const bridge = allocations.filter((allocation) => allocation.networkMode === "bridge").length;
  console.log(
    `\n${setup.containerIds.length} containers in ${allocations.length} allocations: ${allocations.length - bridge} host-mode ` +
      `(a namespace per task), ${bridge} bridge-mode (pause + tasks sharing one namespace)`,
  );
  console.log(
    `${start.date}, ${start.cores} cores, load average at start ${loadText(start)}; ` +
      `sampling began ${samplingStart.date}, load average ${loadText(samplingStart)}\n`,
  );
  figure(
    "set-up",
    setup.created
      ? `${seconds(setup.world.setupMs)} (${SETUP_CONCURRENCY} allocations at a time)`
      : `reused (created ${setup.world.createdAt} in ${seconds(setup.world.setupMs)})`,
  );
}

function printFirstCycle(first: CycleFigures, requests: Record<string, number>): void {
  figure(
    "first cycle",
    `${ms(first.wallMs)} ms wall, ${ms(first.cpuMs)} ms CPU, ${first.namespaces} namespaces read; ` +
      `Docker requests: ${JSON.stringify(requests)}`,
  );
}

function printCycles(
  cycles: readonly CycleFigures[],
  requestsPerCycle: number[],
  othersInspects: number[],
): void {
  const wall = spread(cycles.map((cycle) => cycle.wallMs));
  const cpu = spread(cycles.map((cycle) => cycle.cpuMs));
  const requests = spread(requestsPerCycle);
  const others = spread(othersInspects);
  console.log(
    table([
      [`sampler, ${cycles.length} cycles after the first`, "min", "median", "p90", "max"],
      ["cycle wall time (ms)", ms(wall.min), ms(wall.median), ms(wall.p90), ms(wall.max)],
      ["cycle CPU time, user+system (ms)", ms(cpu.min), ms(cpu.median), ms(cpu.p90), ms(cpu.max)],
      [
        "Docker requests per cycle (at the proxy)",
        ...[requests.min, requests.median, requests.p90, requests.max].map(String),
      ],
      [
        "  + inspects of containers others started",
        ...[others.min, others.median, others.p90, others.max].map(String),
      ],
    ]),
  );
}

/** Readings that were not `measured`, over the first cycle and the measured ones. */
function printUnknown(cycles: readonly CycleFigures[], allocations: number): void {
  const unknown = unknownTotals(cycles);
  figure("unknown readings", `${total(unknown)} of ${allocations * cycles.length} (${cycles.length} cycles)`);
  for (const [reason, count] of Object.entries(unknown)) figure(`  ${count} ×`, reason);
}

function printStatsApiBaseline(statsApi: Baselines["statsApi"], wallMedian: number): void {
  figure(
    "baseline 2: Docker's stats API",
    `${seconds(statsApi.ms)} for ${statsApi.containers} containers (one-shot, all at once${statsApi.failed ? `, ${statsApi.failed} failed` : ""})`,
  );
  figure("speed-up over baseline 2 (median)", `${(statsApi.ms / wallMedian).toFixed(0)}×`);
}

/** The goals, after every figure: the last lines before the clean-up. */
function printGoals(rows: Array<[string, boolean]>): void {
  for (const [goal, met] of rows) figure("goal", `${goal}: ${verdict(met)}`);
}

/** The figures as one JSON line, the output's last, for machines. */
function printJson(
  options: Options,
  start: ReturnType<typeof machine>,
  samplingStart: ReturnType<typeof machine>,
  setup: Setup,
  sampling: Sampling,
  baselines: Baselines,
  cleanUp: CleanUp | undefined,
): boolean {
  const { allocations } = setup.world;
  const everyCycle = [sampling.first, ...sampling.cycles];
  const unknown = unknownTotals(everyCycle);
  const unknownCount = total(unknown);
  const wall = spread(sampling.cycles.map((cycle) => cycle.wallMs));
  const cpu = spread(sampling.cycles.map((cycle) => cycle.cpuMs));
  const requests = spread(sampling.requestsPerCycle);
  const goalRows = goals(setup.containerIds.length, sampling, wall.median, cpu.median, requests.median);
  console.log(
    JSON.stringify({
      date: start.date,
      cores: start.cores,
      loadAverageAtStart: start.loadAverage,
      samplingStartedAt: samplingStart.date,
      loadAverageAtSampling: samplingStart.loadAverage,
      containers: setup.containerIds.length,
      allocations: allocations.length,
      bridgeModeAllocations: allocations.filter((allocation) => allocation.networkMode === "bridge").length,
      namespacesPerCycle: sampling.cycles[0]?.namespaces,
      setupMs: setup.created ? Math.round(setup.world.setupMs) : null,
      cleanUpMs: cleanUp === undefined ? null : Math.round(cleanUp.ms),
      containersLeft: cleanUp === undefined ? null : cleanUp.left,
      cycles: options.cycles,
      firstCycle: {
        wallMs: sampling.first.wallMs,
        cpuMs: sampling.first.cpuMs,
        dockerRequests: sampling.firstRequests,
      },
      cycleWallMs: wall,
      cycleCpuMs: cpu,
      dockerRequestsPerCycle: requests.median,
      dockerRequestsPerCycleMax: requests.max,
      othersInspectsPerCycle: spread(sampling.othersInspectsPerCycle),
      dockerRequestsPerHour: perHour(sampling.steady),
      startToBaselineMs: spread(sampling.baselines.map((baseline) => baseline.ms)),
      samplerPeakRssBytes: sampling.peakRssBytes,
      samplerRssBeforeSamplingBytes: sampling.rssBeforeSamplingBytes,
      samplerPeakRssByFirstCycleEndBytes: sampling.first.peakRssBytes,
      samplerPeakRssByMeasuredCyclesEndBytes: Math.max(...everyCycle.map((cycle) => cycle.peakRssBytes)),
      unknown: { count: unknownCount, reasons: unknown },
      baselines: {
        seed: {
          method: "sequential docker stats --no-stream",
          client: baselines.seed.client,
          measured: baselines.seed.perContainerMs.length,
          perContainerMedianMs: median(baselines.seed.perContainerMs),
          extrapolatedCycleMs: baselines.seed.extrapolatedCycleMs,
        },
        statsApi: {
          method: "GET /containers/{id}/stats?stream=false&one-shot=true, all at once",
          ...baselines.statsApi,
        },
      },
      goals: Object.fromEntries(goalRows),
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
  if (options.clean) return clean(say);
  if (options.perHour) return requestsPerHour(process.argv.slice(2));
  const start = machine();
  say(`${start.date}: ${start.cores} cores, /proc/loadavg ${start.procLoadavg}`);
  say(estimate(options, options.reuse ? keptWorld(options.containers) : undefined));

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) return;
    say(`\n${signal}: stopping${options.reuse ? "" : " and removing the containers"}`);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const build = await buildSamplerProcess();
  // The bench's own world: the engine (started if none answers), and the start-to-baseline probes.
  const probesWorld = await DockerWorld.open();
  const engine: DockerEndpoint = { socketPath: DOCKER_SOCKET };
  const proxy = await countingProxy(engine);
  let setup: Setup | undefined;
  try {
    say(
      options.reuse && keptWorld(options.containers)
        ? "reusing the kept containers"
        : `creating ${options.containers} containers`,
    );
    setup = await setUp(options, abort.signal, say);
    say(`set-up: ${setup.created ? seconds(setup.world.setupMs) : "reused"}`);
    abort.signal.throwIfAborted();
    const samplingStart = machine();
    printLayout(setup, start, samplingStart);
    const sampling = await sample(build, setup, probesWorld, proxy, options.cpuProfileDir, options.cycles);
    say(`baseline 1: docker stats --no-stream for ${options.baselineSubset} containers, one at a time`);
    const seed = await seedBaseline(setup.containerIds, options.baselineSubset, abort.signal);
    figure(
      "baseline 1: the seed's way",
      `${ms(median(seed.perContainerMs))} ms per container (sequential docker stats --no-stream, ${seed.client}); ` +
        `${seconds(seed.extrapolatedCycleMs)} a cycle for ${setup.containerIds.length} (extrapolated from ${seed.perContainerMs.length} measured)`,
    );
    say(`baseline 2: Docker's stats API, one-shot, for all ${setup.containerIds.length} containers at once`);
    const statsApi = await statsApiBaseline(engine, setup.containerIds);
    const wall = spread(sampling.cycles.map((cycle) => cycle.wallMs));
    const cpu = spread(sampling.cycles.map((cycle) => cycle.cpuMs));
    printStatsApiBaseline(statsApi, wall.median);
    printGoals(
      goals(setup.containerIds.length, sampling, wall.median, cpu.median, median(sampling.requestsPerCycle)),
    );
    let cleanUp: CleanUp | undefined;
    if (!options.reuse) {
      say("removing the containers");
      cleanUp = await removeKept(setup.world, probesWorld.docker, say);
      figure("clean-up", cleanUpText(cleanUp));
    } else {
      setup.keeper?.disconnect();
      setup.keeper?.unref();
      figure("clean-up", "kept (--reuse); npm run bench -- --clean removes them");
    }
    const complete = printJson(options, start, samplingStart, setup, sampling, { seed, statsApi }, cleanUp);
    return complete && (cleanUp?.left ?? 0) === 0 ? 0 : 1;
  } catch (error) {
    if (setup && !options.reuse) await removeKept(setup.world, probesWorld.docker, say);
    if (abort.signal.aborted) return 130;
    throw error;
  } finally {
    await proxy.close();
    await probesWorld.close();
    await build.remove();
  }
}

process.exitCode = await main();
// The keeper's IPC channel, if still open, would hold this process.
process.exit();

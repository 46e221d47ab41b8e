// What one node's monitor asks of Nomad and of Docker per hour in steady state, by endpoint: the real
// monitor process (src/main.ts, production intervals) against the project's Nomad API simulator, with
// N opted-in allocations placed as real containers, its Docker requests counted at a proxy on the socket
// and its Nomad requests by the simulator (sim.calls). Counted over a window of real time after a
// settling period, and scaled to an hour. Run: npm run bench -- --per-hour [--allocations N] [--window S]
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { mapBounded } from "../src/docker/bounded.js";
import { simulatorPolicyFromFile } from "../test/deploy/acl-policy.js";
import { dockerWorldRuntime, NomadSimulator, type SimJob } from "../test/sim/index.js";
import { DockerWorld } from "../test/world/world.js";
import { countingProxy } from "./docker-proxy.js";
import { SETUP_CONCURRENCY } from "./world-keeper.js";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const STATE_POLICY = fileURLToPath(new URL("../nomad/idle-monitor-state-policy.hcl", import.meta.url));
// The first cycle comes one CHECK_INTERVAL (60 s) after start: the view is not yet seeded at the very start.
const SETTLE_MS = 75_000;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

function job(index: number): SimJob {
  return {
    ID: `bench-${index}`,
    Type: "service",
    // Never acted on during the window: the count is of a node in steady state, not of stops.
    Meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "24h" },
    TaskGroups: [{ Name: "web", Count: 1, Tasks: [{ Name: "server", Driver: "docker" }] }],
  };
}

/** "GET /v1/job/{job}": IDs and Variable paths folded. */
function nomadEndpoint(method: string, path: string): string {
  const folded = path
    .replace(UUID, "{id}")
    .replace(/^\/v1\/job\/[^/]+/, "/v1/job/{job}")
    .replace(/^\/v1\/var\/.+/, "/v1/var/{path}");
  return `${method} ${folded}`;
}

function perHour(endpoints: readonly string[], windowMs: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const endpoint of endpoints) counts[endpoint] = (counts[endpoint] ?? 0) + 1;
  for (const endpoint of Object.keys(counts))
    counts[endpoint] = Math.round(((counts[endpoint] ?? 0) * 3_600_000) / windowMs);
  return counts;
}

export async function requestsPerHour(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "per-hour": { type: "boolean" },
      allocations: { type: "string", default: "200" },
      window: { type: "string", default: "200" },
    },
  });
  const allocations = Number(values.allocations);
  const windowMs = Number(values.window) * 1000;
  console.error(
    `requests per hour: ${allocations} opted-in allocations as real containers (~${Math.round((allocations * 0.65) / 60)} min), ` +
      `${SETTLE_MS / 1000} s to settle, a ${windowMs / 1000} s window, removal (~${Math.round((allocations * 0.32) / 60)} min)`,
  );
  const world = await DockerWorld.open();
  const sim = await NomadSimulator.start();
  const proxy = await countingProxy({ socketPath: "/var/run/docker.sock" });
  let monitor: ChildProcess | undefined;
  try {
    const node = sim.addNode("bench-node", dockerWorldRuntime(world));
    const actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
    sim.putVariable("default", "nomad/jobs/idle-monitor", { token: actionToken });
    // As the README's deploy steps do: the monitor's identity keeps the shared state.
    sim.attachPolicyToJob("default", "idle-monitor", await simulatorPolicyFromFile(STATE_POLICY));
    const placing = performance.now();
    await mapBounded(
      Array.from({ length: allocations }, (_, index) => index),
      SETUP_CONCURRENCY,
      (index) => sim.registerJob(job(index)),
    );
    console.error(
      `placed ${allocations} allocations in ${((performance.now() - placing) / 1000).toFixed(1)} s`,
    );

    const { host, port } = proxy.endpoint as { host: string; port: number };
    monitor = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
      env: {
        PATH: process.env.PATH,
        NOMAD_ADDR: sim.address,
        NOMAD_TOKEN: sim.workloadIdentity("default", "idle-monitor"),
        NOMAD_NODE_ID: node,
        DOCKER_HOST: `tcp://${host}:${port}`,
        HTTP_LISTEN: "off",
        LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
      },
    });
    // The monitor's log (warnings and up, unless LOG_LEVEL says otherwise) goes with the bench's progress.
    monitor.stdout?.pipe(process.stderr);
    await sleep(SETTLE_MS);
    const [nomadStart, dockerStart] = [sim.calls.length, proxy.requests().length];
    const started = performance.now();
    console.error(`counting for ${windowMs / 1000} s`);
    await sleep(windowMs);
    const measuredMs = performance.now() - started;
    if (monitor.exitCode !== null || monitor.signalCode !== null) {
      throw new Error(
        `the monitor exited (${monitor.signalCode ?? monitor.exitCode}) before the count ended: see its log above`,
      );
    }
    const nomad = sim.calls.slice(nomadStart).map((call) => nomadEndpoint(call.method, call.path));
    const docker = proxy.requests().slice(dockerStart);
    const result = {
      allocations,
      windowMs: Math.round(measuredMs),
      settleMs: SETTLE_MS,
      nomadRequestsPerHour: perHour(nomad, measuredMs),
      dockerRequestsPerHour: perHour(docker, measuredMs),
    };
    console.log(
      `\nper node per hour in steady state, ${allocations} opted-in allocations (counted over ${(measuredMs / 1000).toFixed(0)} s, production intervals):`,
    );
    for (const [side, counts] of [
      ["Nomad", result.nomadRequestsPerHour],
      ["Docker", result.dockerRequestsPerHour],
    ] as const) {
      for (const [endpoint, count] of Object.entries(counts).sort())
        console.log(`  ${side.padEnd(6)} ${endpoint}: ${count}`);
    }
    console.log(
      `  (since the monitor started: ${nomadStart} Nomad requests, ${dockerStart} Docker requests, e.g. ${[...new Set(sim.calls.slice(0, nomadStart).map((call) => nomadEndpoint(call.method, call.path)))].join(", ")}; the event streams stay open)`,
    );
    console.log(JSON.stringify(result));
    return 0;
  } finally {
    if (monitor && monitor.exitCode === null) {
      monitor.kill("SIGTERM");
      await once(monitor, "exit");
    }
    await proxy.close();
    await sim.close();
    const removing = performance.now();
    await world.close();
    console.error(`removed the containers in ${((performance.now() - removing) / 1000).toFixed(1)} s`);
  }
}

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, describe, expect, it } from "vitest";
import {
  allLogLines,
  expectNoSecretsInLogs,
  jobStopped,
  scenario,
  serviceJob,
  waitFor,
} from "./monitor/harness.js";
import { faketimeEnv } from "./support/faketime.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<{ code: number | null; at: number }>;
}

/** Runs the real entry point, as `node dist/main.js` would, with only the given environment. */
function runMain(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    // A free port for the listener: tests run side by side.
    env: { PATH: process.env.PATH ?? "", ...faketimeEnv(), HTTP_LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (sink: string[]) => (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
      sink.push(line);
      allLogLines.push(line);
    }
  };
  child.stdout?.on("data", collect(stdout));
  child.stderr?.on("data", collect(stderr));
  const exit = once(child, "exit").then(([code]) => ({ code: code as number | null, at: Date.now() }));
  return { child, stdout, stderr, exit };
}

describe("the monitor process", () => {
  it("exits 2 and names every bad variable with its value and the valid form", async () => {
    const run = runMain({ CHECK_INTERVAL: "soon", DRY_RUN: "maybe" });
    const { code } = await run.exit;
    expect(code).toBe(2);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toEqual([
      expect.stringMatching(/^nomad-idle-monitor: NOMAD_NODE_ID is not set/),
      'nomad-idle-monitor: CHECK_INTERVAL="soon" is not valid: expected a Go/Nomad duration such as "90s", "15m" or "1h30m", or a whole number of seconds such as "3600"',
      'nomad-idle-monitor: DRY_RUN="maybe" is not valid: expected true or false',
    ]);
  });
});

describe("the monitor process with the seed's /etc/default/nomad-idle-monitor", () => {
  it("starts with its seconds, warns once on stderr that CONTAINER_FILTER is replaced by meta, stops on SIGTERM", async () => {
    const run = runMain({
      NOMAD_ADDR: "http://127.0.0.1:9",
      NOMAD_NODE_ID: "node-1",
      IDLE_TIMEOUT: "3600",
      CHECK_INTERVAL: "60",
      CONTAINER_FILTER: "dev-*",
    });
    let exited = false;
    void run.exit.then(() => {
      exited = true;
    });
    const warnedOrExited = () => exited || run.stderr.some((line) => line.includes("CONTAINER_FILTER"));
    await waitFor("the warning about CONTAINER_FILTER", warnedOrExited);
    run.child.kill("SIGTERM");
    const { code } = await run.exit;

    expect(code).toBe(0);
    expect(run.stderr.filter((line) => line.includes("CONTAINER_FILTER"))).toEqual([
      expect.stringMatching(
        /^\[\S+\] WARN: CONTAINER_FILTER="dev-\*" is ignored: .*"idle-monitor.enabled" = "true"/,
      ),
    ]);
  });
});

describe.skipIf(!world)("the monitor process against the simulator", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("writes readable lines, warnings on stderr, and exits 0 within 5 s of SIGTERM during a cycle", async () => {
    const current = await scenario(world!);
    const { sim } = current;
    await sim.registerJob(
      serviceJob("dev", { meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "2s" } }),
    );
    await sim.registerJob(serviceJob("typo", { meta: { "idle-monitor.enabled": "yes" } }));
    await sim.whenSettled();
    const run = runMain({
      NOMAD_ADDR: sim.address,
      NOMAD_TOKEN: current.identityToken,
      NOMAD_NODE_ID: current.localNode,
      CHECK_INTERVAL: "500ms",
      IDLE_TIMEOUT: "2s",
      LOG_LEVEL: "debug",
    });
    await waitFor("the monitor to watch the job", () =>
      run.stdout.some((line) => line.includes("watching job dev")),
    );
    // Job reads take 3 s from now on: the read right before acting is in flight when the signal comes.
    sim.faults.slowRequests({ delayMs: 3_000, path: "/v1/job/" });
    await waitFor("the decision to act", () =>
      run.stdout.some((line) => line.includes("job dev group web: idle:")),
    );
    const signalledAt = Date.now();
    run.child.kill("SIGTERM");
    const { code } = await run.exit;
    await waitFor("the slow read to be answered", () =>
      sim.calls.some((call) => call.path === "/v1/job/dev" && call.at > signalledAt),
    );

    expect(code).toBe(0);
    // It stopped by itself, not through the 5 s limit that exits anyway.
    expect(run.stdout.at(-1)).toMatch(/INFO: stopped$/);
    expect(run.stderr.some((line) => line.includes("exiting anyway"))).toBe(false);
    expect(jobStopped(sim, "dev")).toBe(false);
    const timestamped = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] (INFO|WARN|ERROR): /;
    expect(run.stdout.every((line) => /^\[\S+\] (DEBUG|INFO): /.test(line))).toBe(true);
    expect(run.stderr.length).toBeGreaterThan(0);
    expect(run.stderr.every((line) => /^\[\S+\] (WARN|ERROR): /.test(line))).toBe(true);
    expect(run.stdout.some((line) => timestamped.test(line) && line.includes("SIGTERM received"))).toBe(true);
    expect(
      run.stderr.some((line) => line.includes('job typo group web: job meta idle-monitor.enabled="yes"')),
    ).toBe(true);
  });
});

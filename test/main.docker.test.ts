import { afterAll, describe, expect, it } from "vitest";
import { expectNoSecretsInLogs, jobStopped, scenario, serviceJob, waitFor } from "./monitor/harness.js";
import { runMain } from "./monitor/processes.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

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

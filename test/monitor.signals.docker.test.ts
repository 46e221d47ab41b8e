import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  explainOnFailure,
  jobStopped,
  messages,
  moreCycles,
  scenario,
  waitForLog,
} from "./monitor/harness.js";
import type { SimJob, SimService } from "./sim/index.js";
import { openWorldForTests } from "./world/world.js";

// Issue 12 with real containers: CPU use and an open connection keep a job that sends nothing, and the
// job's own health checks (real HTTP requests at the job spec's interval) do not keep one nobody uses.

const world = await openWorldForTests();

const SECOND_NS = 1_000_000_000;
const BUSY_LOOP = ["/bin/sh", "-c", "while :; do :; done"];

/** A service job whose group `web` has the HTTP server task, and optionally a worker and a checked service. */
function job(
  id: string,
  options: { meta?: Record<string, string>; worker?: string[]; services?: SimService[] } = {},
): SimJob {
  const worker = options.worker;
  return {
    ID: id,
    Type: "service",
    Meta: { "idle-monitor.enabled": "true", ...options.meta },
    TaskGroups: [
      {
        Name: "web",
        Services: options.services ?? null,
        Tasks: [
          { Name: "server", Driver: "docker" },
          ...(worker
            ? [{ Name: "worker", Driver: "docker", Config: { command: worker[0], args: worker.slice(1) } }]
            : []),
        ],
      },
    ],
  };
}

function allocOf(
  sim: { allocations(filter: { jobId: string }): Array<{ ID: string }> },
  jobId: string,
): string {
  const [alloc] = sim.allocations({ jobId });
  if (!alloc) throw new Error(`job ${jobId} has no allocation`);
  return alloc.ID;
}

function stopsOf(sim: Parameters<typeof actionCalls>[0], jobId: string) {
  return actionCalls(sim).filter((call) => call.path === `/v1/job/${jobId}`);
}

describe.skipIf(!world)("signals beyond bytes keep or let go of jobs (real containers)", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("a CPU-bound loop with no traffic is kept with the CPU gate on, and stopped with it off", async () => {
    const current = await scenario(world!);
    explainOnFailure(current);
    const { sim, logs } = current;
    // A gate of 1%: a busy loop's fair share of the 2 cores stays above it up to a load of 200, and an
    // idle container's use is 0.
    await sim.registerJob(job("busy-gated", { worker: BUSY_LOOP, meta: { "idle-monitor.cpu": "1%" } }));
    await sim.registerJob(job("busy-ungated", { worker: BUSY_LOOP }));
    await sim.whenSettled();
    current.startMonitor();

    await waitForLog(logs, /^stopped job busy-ungated /, 30_000);
    // IDLE_TIMEOUT is 3s, CHECK_INTERVAL 500ms: 12 more cycles are twice the timeout.
    await moreCycles(logs, "busy-gated", 12, 30_000);
    expect(jobStopped(sim, "busy-gated")).toBe(false);
    expect(stopsOf(sim, "busy-gated")).toEqual([]);
    const [kept] = await waitForLog(logs, /^job busy-gated group web allocation .* is active/);
    // Over one interval, or over a longer one when a slow cycle skipped ticks; below 10% with a decimal.
    expect(kept?.msg).toMatch(
      /CPU [\d.]+% of one core over \d+m?s, (above the gate of 1%|up to [\d.]+% in one 500ms: perhaps above the gate of 1%)/,
    );
    expect(kept?.level).toBe(30);
  }, 90_000);

  it("a CPU gate that cannot be read (no cgroup mount) leaves a quiet job unknown, never stopped, and says what to mount", async () => {
    const current = await scenario(world!);
    explainOnFailure(current);
    const { sim, logs } = current;
    await sim.registerJob(job("gated-blind", { meta: { "idle-monitor.cpu": "5%" } }));
    await sim.whenSettled();
    const empty = await mkdtemp(join(tmpdir(), "no-cgroups-"));
    try {
      current.startMonitor({ CGROUP_ROOT: empty });
      const [warning] = await waitForLog(logs, /^cannot measure job gated-blind group web: /, 30_000);
      expect(warning?.msg).toMatch(
        /CPU: no cgroup of container [0-9a-f]{12} under .*mount the host's \/sys\/fs\/cgroup read-only.*; it is not treated as idle$/,
      );
      await moreCycles(logs, "gated-blind", 12, 30_000);
      expect(jobStopped(sim, "gated-blind")).toBe(false);
      expect(messages(logs, /^cannot measure job gated-blind /)).toHaveLength(1);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 90_000);

  it("an idle open TCP connection keeps a job with connections on, and the log names the port", async () => {
    const current = await scenario(world!);
    explainOnFailure(current);
    const { sim, logs } = current;
    await sim.registerJob(job("session", { meta: { "idle-monitor.connections": "true" } }));
    await sim.whenSettled();
    const target = world!.addressOf(allocOf(sim, "session"));
    if (!target) throw new Error("the session job has no container");
    // Connected, and silent: no byte is written on it.
    const socket = net.connect({ host: target.address, port: target.port });
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    current.startMonitor();
    try {
      const [kept] = await waitForLog(logs, /^job session group web allocation .* is active/);
      expect(kept?.msg).toContain(`1 open connection to port ${target.port}`);
      await moreCycles(logs, "session", 12, 30_000);
      expect(jobStopped(sim, "session")).toBe(false);
      // Read at the warning too: a job someone is connected to is not warned of a stop.
      expect(messages(logs, /^job session group web has been quiet/)).toEqual([]);
    } finally {
      socket.destroy();
    }
    // Closed, the same job goes: the connection was what kept it.
    await waitForLog(logs, /^stopped job session /, 30_000);
  }, 90_000);

  it("periodic HTTP checks alone do not keep a job; a user's request every 30s does, with the same threshold", async () => {
    const current = await scenario(world!);
    explainOnFailure(current);
    const { sim, logs } = current;
    // Nomad's own checks (provider nomad): GET / every 10s, run by the simulated client against the container.
    const checked: SimService[] = [
      {
        Name: "web",
        Provider: "nomad",
        Checks: [
          { Name: "alive", Type: "http", Path: "/", Interval: 10 * SECOND_NS, Timeout: 2 * SECOND_NS },
        ],
      },
    ];
    await sim.registerJob(job("checks-alone", { services: checked }));
    await sim.registerJob(job("checks-and-user", { services: checked }));
    // The control: the same checks counted as traffic keep a job nobody uses.
    await sim.registerJob(
      job("checks-counted", { services: checked, meta: { "idle-monitor.ignore-checks": "false" } }),
    );
    await sim.whenSettled();
    // 60s: twice the user's period, so that a late cycle on a busy machine (a skipped tick) cannot make
    // the user's 30 s between requests look like the timeout.
    current.startMonitor({ CHECK_INTERVAL: "10s", IDLE_TIMEOUT: "60s" });

    // The user load: one GET of the 64 KiB page every 30 s.
    const user = allocOf(sim, "checks-and-user");
    let requests = 0;
    const visits = setInterval(() => {
      requests += 1;
      void world!.sendTraffic(user, 1);
    }, 30_000);
    try {
      const [stopped] = await waitForLog(logs, /^stopped job checks-alone /, 240_000);
      expect(stopped?.msg).toMatch(/group web idle for \d+m/);
      // A whole timeout more (60 s), measured by the monitor's own lines.
      await moreCycles(logs, "checks-and-user", 6, 90_000);
    } finally {
      clearInterval(visits);
    }
    // The user was there throughout: the timeout before the first stop and the cycles after it took
    // at least 110 s, whatever the machine's load.
    expect(requests).toBeGreaterThanOrEqual(3);
    expect(jobStopped(sim, "checks-and-user")).toBe(false);
    expect(jobStopped(sim, "checks-counted")).toBe(false);
    expect(stopsOf(sim, "checks-and-user")).toEqual([]);
    // The budget was learned and subtracted: the checks-alone job was quiet only through it.
    expect(
      messages(logs, /^job checks-alone group web allocation .*: quiet, .* taken as health checks/).length,
    ).toBeGreaterThan(0);
    // The control's checks were above the threshold on their own.
    expect(messages(logs, /^job checks-counted group web allocation .*: active, /).length).toBeGreaterThan(3);
  }, 400_000);
});

import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  cycleLines,
  expectNoSecretsInLogs,
  explainOnFailure,
  messages,
  moreCycles,
  scenario,
  serviceJob,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import type { SimJob } from "./sim/index.js";
import { offsetClock, ShiftedClock } from "./support/shifted-clock.js";
import { openWorldForTests } from "./world/world.js";

// Issue 19, "never against the owner": the monitor acts only on a picture of the job that is still true.

const world = await openWorldForTests();

/** A Wednesday, in UTC (the monitor's zone here: TZ is not set). */
const at = (hour: number, minute: number, second = 0) => Date.UTC(2026, 11, 2, hour, minute, second);
const STOP_AT_20 = {
  "idle-monitor.enabled": "true",
  // Only the schedule acts here, not idleness.
  "idle-monitor.timeout": "1h",
  "idle-monitor.stop-at": "0 20 * * *",
};

describe.skipIf(!world)("never against the owner: what people did since counts", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("item 13: a job placed while the monitor runs is watched, and never said to have changed", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    explainOnFailure(current);
    current.startMonitor({ IDLE_TIMEOUT: "1m" });
    await waitForLog(logs, /^watching node /);

    // Several driver settings, as a real job has: Nomad writes them in another order from one payload to
    // the next. Healthy a second after it runs: the job turns stable, and the watch sends it again.
    const job = serviceJob("placed", { groups: [{ name: "web", update: { MinHealthyTime: 1e9 } }] });
    await sim.registerJob(withTaskConfig(job, TASK_CONFIG));
    await waitForLog(logs, /^watching job placed group web: stop the job after 1m /);
    await waitFor("the job to turn stable", () => sim.job("default", "placed")?.Stable);
    await moreCycles(logs, "placed", 4);
    expect(messages(logs, /changed/)).toEqual([]);
  });

  it("item 13: a job re-run after the monitor stopped it, idle again within the cooldown, is said to be held back once", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    explainOnFailure(current);
    await sim.registerJob(serviceJob("again"));
    await sim.whenSettled();
    current.startMonitor({ ACTION_COOLDOWN: "2m" });
    await waitForLog(logs, /^stopped job again /);

    await sim.registerJob(serviceJob("again"));
    const [held] = await waitForLog(
      logs,
      /^job again group web is idle, but the job was acted on recently; leaving it alone for 1m\d+s more \(ACTION_COOLDOWN\)$/,
    );
    await moreCycles(logs, "again", 6);
    expect(messages(logs, /acted on recently/)).toEqual([held]);
    expect(held!.level, "said at info").toBe(30);
    expect(actionCalls(sim)).toHaveLength(1);
  });

  it.each([
    ["a minute behind", -60_000],
    ["a minute ahead of", 60_000],
  ])(
    "item 6: with the servers' clock %s the node's, a stop-at stops the job started before the firing and never one started after",
    async (_skew, skewMs) => {
      const clock = new ShiftedClock(at(19, 59, 30));
      const current = await scenario(world!, { clock, nomadClock: offsetClock(clock, skewMs) });
      const { sim, logs } = current;
      explainOnFailure(current);
      await sim.registerJob(serviceJob("before", { meta: STOP_AT_20 }));
      await sim.whenSettled();
      // Placed before the instant the scenario is about, however long placing took.
      clock.jumpTo(at(19, 59, 50));
      current.startMonitor();
      await waitForLog(logs, /^watching job before group web/);
      await waitForLog(
        logs,
        /^stopped job before in namespace default .*its stop-at "0 20 \* \* \*" fired at 2026-12-02 20:00 UTC/,
        30_000,
      );

      // The owner starts another job with the same stop-at, after the firing.
      await sim.registerJob(serviceJob("after", { meta: STOP_AT_20 }));
      await waitForLog(logs, /^watching job after group web/);
      // Six more cycles prove it was left alone; a stop of it ends the wait at once.
      const cycles = cycleLines(logs, "after").length;
      await waitFor(
        "six more cycles of job after, or a stop of it",
        () => actionCalls(sim).length > 1 || cycleLines(logs, "after").length >= cycles + 6,
      );
      expect(clock.now() - at(20, 0), "still within the firing's grace").toBeLessThan(5 * 60_000);
      expect(actionCalls(sim).map((call) => call.path)).toEqual(["/v1/job/before"]);
    },
  );

  it("item 4: a stop Nomad did not answer is not sent again blind: the job run again meanwhile is left alone", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    explainOnFailure(current);
    await sim.registerJob(serviceJob("rerun"));
    await sim.whenSettled();
    // The stop is held up, then answered with a 500: the owner runs a new version meanwhile.
    sim.faults.slowRequests({ method: "DELETE", path: "/v1/job/rerun", delayMs: 2_000, count: 1 });
    sim.faults.failRequests({ method: "DELETE", path: "/v1/job/rerun", status: 500, count: 1 });
    current.startMonitor();

    // What wake needs is written right before the stop goes out.
    await waitFor("the stop to be on its way", () =>
      sim.calls.some((call) => call.method === "PUT" && call.path.includes("/wake/")),
    );
    const newVersion = { "idle-monitor.timeout": "1h" };
    await sim.registerJob(serviceJob("rerun", { groups: [{ name: "web", meta: newVersion }] }));

    await waitFor("the stop answered with a 500", () => actionCalls(sim).some((call) => call.status === 500));
    // Six more cycles prove nothing was sent again; a stop sent again ends the wait at once.
    const cycles = cycleLines(logs, "rerun").length;
    await waitFor(
      "six more cycles of job rerun, or the stop sent again",
      () => actionCalls(sim).length > 1 || cycleLines(logs, "rerun").length >= cycles + 6,
    );
    expect(
      actionCalls(sim).map((call) => call.status),
      "one stop, not sent again",
    ).toEqual([500]);
    expect(sim.job("default", "rerun")?.Stop, "the new version runs").toBe(false);
    expect(messages(logs, /^stopped job rerun/)).toEqual([]);
    expect(
      messages(logs, /^could not stop job rerun: .*No cluster leader; will try again next cycle$/),
    ).toHaveLength(1);
  });

  it("item 5: another group's allocation placed on this node while the view lags holds the stop back until it is measured", async () => {
    const current = await scenario(world!);
    const { sim, logs, localNode } = current;
    explainOnFailure(current);
    const groups = [{ name: "web" }, { name: "api", count: 0 }];
    const placement = { nodes: { web: [localNode], api: [localNode] } };
    await sim.registerJob(serviceJob("pair", { groups }), placement);
    await sim.whenSettled();
    current.startMonitor();

    // One interval before web's deadline the allocation watch goes quiet, and the owner adds an api allocation.
    await waitForLog(logs, /^job pair group web: active: quiet for 2s of 3s/);
    sim.faults.stallWatches();
    await sim.registerJob(
      serviceJob("pair", { groups: [{ name: "web" }, { name: "api", count: 1 }] }),
      placement,
    );
    const [api] = sim.allocations({ jobId: "pair" }).filter((alloc) => alloc.TaskGroup === "api");

    const [waited] = await waitForLog(
      logs,
      new RegExp(
        `^job pair group web is idle, but not stopping the job while group api has 1 allocation on this node that was not measured yet \\(${api!.ID.slice(0, 8)}\\)$`,
      ),
    );
    // Once the view catches up, api is measured, goes idle in its turn, and the job is stopped.
    await waitFor("the job to be stopped", () => actionCalls(sim).length > 0, 30_000);
    const [stopped] = await waitForLog(logs, /^stopped job pair/);
    const apiMeasured = logs.findIndex((line) =>
      line.msg.startsWith(`job pair group api allocation ${api!.ID.slice(0, 8)}:`),
    );
    expect(apiMeasured, "api's allocation was measured").toBeGreaterThan(logs.indexOf(waited!));
    expect(logs.indexOf(stopped!)).toBeGreaterThan(apiMeasured);
    expect(stopped!.msg).toMatch(/group api idle for/);
    expect(actionCalls(sim)).toHaveLength(1);
    expect(messages(logs, /^stopped job pair/)).toHaveLength(1);
  });
});

/** Driver settings the test world does not use, as many as a real job's. */
const TASK_CONFIG = {
  image: "busybox:local",
  ports: ["http"],
  force_pull: false,
  labels: { team: "web" },
  auth_soft_fail: true,
};

function withTaskConfig(job: SimJob, config: Record<string, unknown>): SimJob {
  return {
    ...job,
    TaskGroups: job.TaskGroups?.map((group) => ({
      ...group,
      Tasks: group.Tasks?.map((task) => ({ ...task, Config: { ...task.Config, ...config } })),
    })),
  };
}

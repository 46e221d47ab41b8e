import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  type LogLine,
  messages,
  scenario,
  serviceJob,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

describe.skipIf(!world)("defects of the monitor, against the simulator and real containers", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("defect 1: a job re-run with other tasks right at its deadline, while the allocation watch lags, is not stopped on the old version's idleness", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    const spec = serviceJob("rerun");
    await sim.registerJob(spec);
    await sim.whenSettled();
    current.startMonitor();

    // One interval before the deadline (timeout 3 s, interval 500 ms): the watch goes quiet and the job is re-run.
    await waitForLog(logs, /^job rerun group web: active: quiet for 2s of 3s/);
    sim.faults.stallWatches();
    const [group] = spec.TaskGroups as [NonNullable<typeof spec.TaskGroups>[number]];
    const [task] = group.Tasks as [NonNullable<typeof group.Tasks>[number]];
    await sim.registerJob({
      ...spec,
      TaskGroups: [{ ...group, Tasks: [{ ...task, Config: { image: "app:2" } }] }],
    });

    await waitFor(
      "the re-run job to be stopped after a full timeout",
      () => actionCalls(sim).length > 0,
      30_000,
    );
    const [stopped] = await waitForLog(logs, /^stopped job rerun /);
    const [changed] = messages(logs, /^job rerun group web changed \(tasks\)/);
    expect(changed, "the re-read before acting found the change").toBeDefined();
    // The monitor's own account, from the change it found before acting to its stop: the idle timer
    // started over, then ran a whole timeout again.
    const decisions = logs
      .slice(logs.indexOf(changed as LogLine), logs.indexOf(stopped as LogLine))
      .filter((line) => /^job rerun group web: /.test(line.msg))
      .map((line) => line.msg);
    expect(decisions[0]).toMatch(/^job rerun group web: active: quiet for (\d+ms|[12]s) of 3s$/);
    // A whole timeout (3 s) or, when cycles come late on a busy machine, a little more: never less.
    expect(decisions.at(-1)).toMatch(/^job rerun group web: idle: idle for [3-9]s, /);
    expect(decisions.filter((decision) => /: idle: /.test(decision))).toHaveLength(1);
    expect(actionCalls(sim)).toHaveLength(1);
  });

  it("defect 6: a token rejected during the pre-action re-read is reloaded, and the job still acted on", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("reread"));
    await sim.whenSettled();
    current.startMonitor();
    await waitForLog(logs, /^watching job reread/);
    sim.faults.failRequests({
      method: "GET",
      path: /^\/v1\/job\/reread$/,
      status: 403,
      body: "Permission denied",
      count: 1,
    });

    await waitFor("the job to be stopped", () => actionCalls(sim).length > 0, 30_000);
    const rejected = sim.calls.findIndex((call) => call.path === "/v1/job/reread" && call.status === 403);
    const stop = sim.calls.findIndex((call) => call.method === "DELETE");
    expect(rejected).toBeGreaterThan(-1);
    const reloads = sim.calls.slice(rejected, stop).filter((call) => call.path.startsWith("/v1/var/"));
    expect(reloads.length, "the Variable was read again between the 403 and the stop").toBeGreaterThan(0);
    expect(messages(logs, /acting on job reread failed/)).toEqual([]);
  });
});

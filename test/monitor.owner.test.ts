import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  explainOnFailure,
  messages,
  scenario,
  serviceJob,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { openWorldForTests } from "./world/world.js";

// Issue 19, "never against the owner": the monitor acts only on a picture of the job that is still true.

const world = await openWorldForTests();

describe.skipIf(!world)("never against the owner: what people did since counts", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
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

    // One interval before web's deadline the event stream goes quiet, and the owner adds an api allocation.
    await waitForLog(logs, /^job pair group web: active: quiet for 2s of 3s/);
    sim.faults.stallStreams();
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

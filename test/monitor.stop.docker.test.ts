import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  jobStopped,
  scenario,
  serviceJob,
  waitForLog,
} from "./monitor/harness.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

describe.skipIf(!world)("the monitor stops idle opted-in jobs", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it.each([
    ["host mode", false],
    ["bridge mode", true],
  ])("stops an idle job (%s) with one log line that explains it", async (_mode, bridge) => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(
      serviceJob(`idle-${bridge ? "bridge" : "host"}`, { groups: [{ name: "web", bridge }] }),
    );
    await sim.whenSettled();
    current.startMonitor();
    const jobId = `idle-${bridge ? "bridge" : "host"}`;
    const [line] = await waitForLog(logs, /^stopped job/);
    expect(jobStopped(sim, jobId)).toBe(true);

    const stops = actionCalls(sim);
    expect(stops).toHaveLength(1);
    expect(stops[0]).toMatchObject({ method: "DELETE", path: `/v1/job/${jobId}`, status: 200 });
    expect(stops[0]?.query.get("purge")).not.toBe("true");
    expect(line?.msg).toMatch(
      new RegExp(
        `^stopped job ${jobId} in namespace default .*group web idle for \\d+s, \\d+ B seen, threshold 500 B per 500ms`,
      ),
    );
  });
});

import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  cycleLines,
  expectNoSecretsInLogs,
  explainOnFailure,
  jobStopped,
  type LogLine,
  messages,
  moreCycles,
  scenario,
  serviceJob,
  userLoad,
  waitFor,
  waitForLog,
  wakeRecordConfirmed,
} from "./monitor/harness.js";
import { send } from "./sim/http-probe.js";
import { ShiftedClock } from "./support/shifted-clock.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

/** A Wednesday, in UTC (the monitor's zone here: TZ is not set). */
const at = (hour: number, minute: number, second = 0, day = 2) =>
  Date.UTC(2026, 11, day, hour, minute, second);

function indexOf(logs: readonly LogLine[], pattern: RegExp): number {
  return logs.findIndex((line) => pattern.test(line.msg));
}

/**
 * Group web of job nightly, two allocations on the local node, scaled to zero at 20:00 and back at 08:00
 * by its schedules (only they act: its idle timeout is an hour); the clock a minute before 20:00.
 */
async function nightly() {
  const clock = new ShiftedClock(at(19, 58, 30));
  const current = await scenario(world!, { clock });
  const { sim, logs } = current;
  explainOnFailure(current);
  await sim.registerJob(
    serviceJob("nightly", {
      meta: {
        "idle-monitor.enabled": "true",
        "idle-monitor.action": "scale-to-zero",
        // Only the schedule acts here, not idleness.
        "idle-monitor.timeout": "1h",
        "idle-monitor.stop-at": "0 20 * * *",
        "idle-monitor.start-at": "0 8 * * *",
      },
      // Healthy a second after they run: the stop-at meets no deployment under way.
      groups: [{ name: "web", count: 2, update: { MinHealthyTime: 1e9 } }],
    }),
    { nodes: { web: [current.localNode] } },
  );
  await sim.whenSettled();
  return { clock, current, sim, logs };
}

describe.skipIf(!world)("schedules: keep-alive, stop-at, start-at, exclude-until, warnings", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("holds an idle job through its keep-alive window and stops it when the window ends", async () => {
    const clock = new ShiftedClock(at(8, 58));
    const current = await scenario(world!, { clock });
    const { sim, logs } = current;
    explainOnFailure(current);
    await sim.registerJob(
      serviceJob("lunch", {
        meta: { "idle-monitor.enabled": "true", "idle-monitor.keep-alive": "* 8 * * *" },
      }),
    );
    await sim.whenSettled();
    // Placed before the minute the scenario is about, however long placing took; started in it.
    clock.jumpTo(at(8, 59));
    current.startMonitor();

    await waitForLog(
      logs,
      /^watching job lunch group web: stop the job after 3s .*; keep-alive "\* 8 \* \* \*" \(UTC\)$/,
    );
    await waitForLog(logs, /in its keep-alive window \("\* 8 \* \* \*"\) until 2026-12-02 09:00 UTC/);
    await moreCycles(logs, "lunch", 4);
    // Held however long start-up took; then the window ends, two seconds on.
    clock.jumpTo(at(8, 59, 58));
    await waitFor("the window to end and the job to be stopped", () => jobStopped(sim, "lunch"), 30_000);
    expect(clock.now()).toBeGreaterThanOrEqual(at(9, 0));
    const held = indexOf(logs, /keep-alive window/);
    const [stopped] = await waitForLog(logs, /^stopped job lunch/);
    expect(held).toBeLessThan(logs.indexOf(stopped!));
    // Idle (3 s) well before 09:00: it was held for cycles, not merely not idle yet.
    expect(cycleLines(logs.slice(held), "lunch").length).toBeGreaterThan(3);
    expect(actionCalls(sim)).toHaveLength(1);
  });

  it("scales a busy group to zero at its stop-at, after a warning, and brings it back at its start-at", async () => {
    const { clock, current, sim, logs } = await nightly();
    // User load: one request to each allocation every 250 ms, until the group is scaled down.
    const load = userLoad(world!, () =>
      sim
        .allocations({ jobId: "nightly" })
        .filter((alloc) => alloc.ClientStatus === "running")
        .map((alloc) => alloc.ID),
    );
    // Placed before the half minute the scenario is about, however long placing took; started in it.
    clock.jumpTo(at(19, 59, 30));
    current.startMonitor();

    const [warning] = await waitForLog(
      logs,
      /^job nightly group web: the group will be scaled to 0 at 2026-12-02 20:00 UTC \(in \d+s\) by its stop-at "0 20 \* \* \*", whatever its activity$/,
    );
    // Warned however long start-up took; then the stop-at comes, two seconds on.
    clock.jumpTo(at(19, 59, 58));
    const [scaled] = await waitForLog(
      logs,
      /^scaled group web of job nightly in namespace default to 0 .*its stop-at "0 20 \* \* \*" fired at 2026-12-02 20:00 UTC/,
      30_000,
    );
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(0);
    expect(logs.indexOf(warning!)).toBeLessThan(logs.indexOf(scaled!));
    expect(sim.job("default", "nightly")?.TaskGroups[0]?.Count).toBe(0);

    clock.jumpTo(at(7, 59, 57, 3));
    await waitForLog(
      logs,
      /^scaled group web of job nightly back to 2 .*start-at "0 8 \* \* \*" fired at 2026-12-03 08:00 UTC/,
      30_000,
    );
    expect(sim.job("default", "nightly")?.TaskGroups[0]?.Count).toBe(2);
    const scales = actionCalls(sim).map((call) => `${call.method} ${call.path}`);
    expect(scales).toEqual(["POST /v1/job/nightly/scale", "POST /v1/job/nightly/scale"]);
  });

  it("stop-at and start-at fire once per cluster: two nodes, one stop, one registration after garbage collection", async () => {
    const clock = new ShiftedClock(at(19, 58));
    const current = await scenario(world!, { clock });
    const { sim, logs } = current;
    explainOnFailure(current);
    await sim.registerJob(
      serviceJob("preview", {
        meta: {
          "idle-monitor.enabled": "true",
          "idle-monitor.stop-at": "0 20 * * *",
          "idle-monitor.start-at": "0 8 * * *",
        },
        groups: [{ name: "web", count: 2 }],
      }),
      { nodes: { web: [current.localNode, current.otherNode] } },
    );
    await sim.whenSettled();
    expect(new Set(sim.allocations({ jobId: "preview" }).map((alloc) => alloc.NodeID)).size).toBe(2);
    // Placed before the minute the scenario is about, however long placing took; started in it.
    clock.jumpTo(at(19, 59));
    const monitors = [current.startMonitor(), current.startMonitor({}, { node: current.otherNode })];
    // Both measure their allocation however long start-up took; then the stop-at comes, two seconds on.
    await Promise.all(monitors.map((own) => moreCycles(own, "preview", 1)));
    clock.jumpTo(at(19, 59, 58));

    await waitFor("the stop-at to stop the job", () => jobStopped(sim, "preview"), 30_000);
    await waitForLog(logs, /^stopped job preview .*its stop-at "0 20 \* \* \*" fired/);
    // Garbage-collected once the monitor has read back what it stopped (hours later on a real cluster).
    await wakeRecordConfirmed(sim, "preview");
    sim.purgeJob("default", "preview");
    clock.jumpTo(at(7, 59, 57, 3));
    await waitFor(
      "the start-at to register the job again",
      () => sim.job("default", "preview")?.Stop === false,
      30_000,
    );
    await waitForLog(logs, /^started job preview in namespace default again as it was/);
    // A few more cycles of both monitors, each measuring its allocation of the job: nobody acts twice.
    await Promise.all(monitors.map((own) => moreCycles(own, "preview", 6)));
    const calls = sim.calls.filter(
      (call) =>
        (call.method === "DELETE" && call.path === "/v1/job/preview") ||
        (call.method === "POST" && call.path === "/v1/jobs"),
    );
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      "DELETE /v1/job/preview",
      "POST /v1/jobs",
    ]);
    expect(messages(logs, /^stopped job preview/)).toHaveLength(1);
    expect(messages(logs, /^started job preview/)).toHaveLength(1);
  });

  it("issue 19 item 2: start-at does not register an old specification over a newer one", async () => {
    const clock = new ShiftedClock(at(19, 58, 55));
    const current = await scenario(world!, { clock });
    const { sim, logs } = current;
    explainOnFailure(current);
    const schedules = {
      "idle-monitor.enabled": "true",
      "idle-monitor.timeout": "1h",
      "idle-monitor.stop-at": "0 20 * * *",
      "idle-monitor.start-at": "0 8 * * *",
    };
    await sim.registerJob(serviceJob("preview", { meta: { ...schedules, image: "v0" } }));
    await sim.whenSettled();
    clock.jumpTo(at(19, 59, 55));
    current.startMonitor();
    await waitForLog(logs, /^stopped job preview .*its stop-at "0 20 \* \* \*" fired/, 30_000);
    await wakeRecordConfirmed(sim, "preview");

    // The owner runs a changed version, without the monitor's meta, then stops it by hand.
    await sim.registerJob(serviceJob("preview", { meta: { image: "v1" } }));
    await sim.whenSettled();
    await sim.stopJob("default", "preview");
    const newer = sim.job("default", "preview");
    expect(newer).toMatchObject({ Stop: true, Meta: { image: "v1" } });

    clock.jumpTo(at(7, 59, 57, 3));
    await waitForLog(
      logs,
      /^not bringing back job preview for its start-at "0 8 \* \* \*" fired at 2026-12-03 08:00 UTC: it changed since node \S+ stopped it \(its JobModifyIndex is \d+, the monitor left it at \d+: run again, stopped or scaled by someone else\); dropped from its wake record$/,
      30_000,
    );
    expect(sim.calls.filter((call) => call.method === "POST" && call.path === "/v1/jobs")).toEqual([]);
    expect(sim.job("default", "preview")).toEqual(newer);
    expect(sim.listVariables("default", "nomad/jobs/idle-monitor/wake/")).toEqual([]);
  });

  it("issue 19 item 3: start-at never scales a group down", async () => {
    const { clock, current, sim, logs } = await nightly();
    // Started half a minute before the stop-at; moved to it once the monitor said it waits for it.
    clock.jumpTo(at(19, 59, 30));
    current.startMonitor();
    await waitForLog(logs, /^job nightly group web: the group will be scaled to 0 at 2026-12-02 20:00 UTC/);
    clock.jumpTo(at(19, 59, 58));
    await waitForLog(logs, /^scaled group web of job nightly in namespace default to 0 /, 30_000);
    await wakeRecordConfirmed(sim, "nightly");

    // The owner needs more than before: three, scaled by hand.
    const scaleUp = await send(sim.address, "POST", "/v1/job/nightly/scale", {
      token: sim.managementToken,
      body: { Count: 3, Target: { Group: "web" }, Message: "more" },
    });
    expect(scaleUp.status).toBe(200);
    await sim.whenSettled();

    clock.jumpTo(at(7, 59, 57, 3));
    await waitForLog(
      logs,
      /^not bringing back job nightly for its start-at "0 8 \* \* \*" fired at 2026-12-03 08:00 UTC: it changed since node \S+ scaled it to 0 /,
      30_000,
    );
    expect(sim.job("default", "nightly")?.TaskGroups[0]?.Count).toBe(3);
    expect(sim.scalingEvents("default", "nightly", "web").map((event) => event.Count)).toEqual([3, 0]);
  });

  it("leaves an excluded job alone, its stop-at included, and says until when", async () => {
    const clock = new ShiftedClock(at(9, 58));
    const current = await scenario(world!, { clock });
    const { sim, logs } = current;
    explainOnFailure(current);
    await sim.registerJob(
      serviceJob("demo", {
        meta: {
          "idle-monitor.enabled": "true",
          "idle-monitor.exclude-until": "2026-12-04",
          "idle-monitor.stop-at": "0 10 * * *",
        },
      }),
    );
    await sim.whenSettled();
    // Placed before the minute the scenario is about, however long placing took; started in it.
    clock.jumpTo(at(9, 59));
    current.startMonitor();

    await waitForLog(
      logs,
      /^job demo group web: excluded until 2026-12-05 00:00 UTC \(idle-monitor\.exclude-until\)/,
    );
    // Seen excluded however long start-up took; then the stop-at comes, two seconds on.
    clock.jumpTo(at(9, 59, 58));
    await waitForLog(
      logs,
      /its stop-at "0 10 \* \* \*" fired at 2026-12-02 10:00 UTC .*but not acting: .*excluded until 2026-12-05 00:00 UTC/,
      30_000,
    );
    // Idle for its 3 s timeout many times over, and the cycles ran.
    await moreCycles(logs, "demo", 10);
    expect(jobStopped(sim, "demo")).toBe(false);
    expect(actionCalls(sim)).toEqual([]);
  });

  it("warns before an idle stop, with the time it will happen, then stops", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    explainOnFailure(current);
    await sim.registerJob(serviceJob("quiet"));
    await sim.whenSettled();
    current.startMonitor({ IDLE_TIMEOUT: "5s" });

    const [warning] = await waitForLog(
      logs,
      /^job quiet group web has been quiet for [\d.]+m?s: the job will be stopped at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC \(in [\d.]+s\) if it stays quiet$/,
    );
    const [stopped] = await waitForLog(logs, /^stopped job quiet/);
    expect(logs.indexOf(warning!)).toBeLessThan(logs.indexOf(stopped!));
    expect(messages(logs, /has been quiet for/)).toHaveLength(1);
  });
});

import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  jobStopped,
  messages,
  moreCycles,
  scenario,
  serviceJob,
  userLoad,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();
const TIMEOUT_MS = 3_000;
const INTERVAL_MS = 500;

describe.skipIf(!world)("stop, scale to zero, dry run", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("never stops a job whose containers keep receiving real traffic, over more than three timeouts", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("busy", { groups: [{ name: "web", bridge: true }] }));
    await sim.registerJob(serviceJob("sentinel"));
    await sim.whenSettled();
    const [alloc] = sim.allocations({ jobId: "busy" });
    const load = userLoad(world!, () => [alloc!.ID]);
    current.startMonitor();
    await waitFor("the idle sentinel to be stopped", () => jobStopped(sim, "sentinel"), 40_000);
    await moreCycles(logs, "busy", (3 * TIMEOUT_MS) / INTERVAL_MS + 1);
    const sent = await load.stop();

    expect(sent).toBeGreaterThan(10 * 65_536);
    expect(jobStopped(sim, "busy")).toBe(false);
    expect(actionCalls(sim).map((call) => call.path)).toEqual(["/v1/job/sentinel"]);
  });

  it("takes a new allocation's baseline as soon as it is seen, before any cycle does", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    // Cycles a minute apart: the first runs at start, with nothing placed yet, the next long after the baseline.
    current.startMonitor({ CHECK_INTERVAL: "1m", IDLE_TIMEOUT: "5m" });
    await waitForLog(logs, /^watching node /);
    await sim.registerJob(serviceJob("late"));
    const [baseline] = await waitForLog(
      logs,
      /allocation \S+: baseline, first reading \(taken as soon as it was seen\)$/,
      // Placing the containers takes seconds on a busy machine; the first cycle after start comes at 60 s.
      45_000,
    );
    expect(baseline?.msg).toMatch(/^job late group web allocation /);
    // No cycle had looked at the job yet: the baseline did not wait for one.
    expect(messages(logs, /^job late group web/).filter((line) => line !== baseline)).toEqual([]);
  });

  it("scales only the idle group to zero, with a message for the Nomad UI", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(
      serviceJob("preview", {
        meta: null,
        // Healthy a second after they run: the scale meets no deployment under way.
        groups: [
          {
            name: "web",
            meta: { "idle-monitor.enabled": "true", "idle-monitor.action": "scale-to-zero" },
            update: { MinHealthyTime: 1e9 },
          },
          { name: "worker", update: { MinHealthyTime: 1e9 } },
        ],
      }),
    );
    await sim.whenSettled();
    current.startMonitor();
    await waitFor(
      "the web group to be scaled",
      () => sim.scalingEvents("default", "preview", "web").length > 0,
    );
    await sim.whenSettled();

    const [event] = sim.scalingEvents("default", "preview", "web");
    expect(event?.Message).toMatch(
      /^nomad-idle-monitor: group web idle for \d+s, \d+ B seen, threshold 500 B/,
    );
    expect(event?.Count).toBe(0);
    expect(jobStopped(sim, "preview")).toBe(false);
    const live = sim.allocations({ jobId: "preview" }).filter((a) => a.DesiredStatus === "run");
    expect(live.map((a) => a.TaskGroup)).toEqual(["worker"]);
    await waitForLog(logs, /^scaled group web of job preview in namespace default to 0/);
    expect(messages(logs, /^scaled group web of job preview/)).toHaveLength(1);
  });

  it("reports a scaling min above zero once, and retries a scale refused for an active deployment quietly", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    const scaleMeta = { "idle-monitor.enabled": "true", "idle-monitor.action": "scale-to-zero" };
    await sim.registerJob(
      serviceJob("pinned", { meta: scaleMeta, groups: [{ name: "web", scalingMin: 1 }] }),
    );
    await sim.registerJob(serviceJob("deploying", { meta: scaleMeta }));
    await sim.whenSettled();
    sim.setDeploymentActive("default", "deploying", true);
    current.startMonitor();

    const refused = () =>
      sim.calls.filter((call) => call.path === "/v1/job/deploying/scale" && call.status === 400).length;
    await waitFor("three refused scale attempts", () => refused() >= 3, 40_000);
    sim.setDeploymentActive("default", "deploying", false);
    await waitFor(
      "the scale to go through",
      () => sim.scalingEvents("default", "deploying", "web").length > 0,
    );

    expect(
      messages(logs, /could not scale group web.*active deployment.*will try again next cycle/),
    ).toHaveLength(1);
    expect(
      messages(
        logs,
        /^job pinned group web is idle, but its scaling block has min = 1, so it cannot be scaled to 0/,
      ),
    ).toHaveLength(1);
    expect(sim.calls.filter((call) => call.path === "/v1/job/pinned/scale")).toEqual([]);
  });

  it("in dry run, logs what it would do and never calls stop or scale", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("dev"));
    await sim.registerJob(
      serviceJob("preview", {
        meta: { "idle-monitor.enabled": "true", "idle-monitor.action": "scale-to-zero" },
      }),
    );
    await sim.whenSettled();
    current.startMonitor({ DRY_RUN: "true" });
    await waitFor("both decisions", () => messages(logs, /^dry run: would/).length >= 2);
    // Where a stop or a scale would have followed, and the cycles after.
    await moreCycles(logs, "dev", 2);

    expect(actionCalls(sim)).toEqual([]);
    expect(
      messages(logs, /^dry run: would stop job dev in namespace default: group web idle for/),
    ).toHaveLength(1);
    expect(
      messages(
        logs,
        /^dry run: would scale group web of job preview in namespace default to 0: group web idle for/,
      ),
    ).toHaveLength(1);
  });
});

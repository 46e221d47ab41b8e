import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { MonitorMetrics } from "../src/metrics.js";
import type { Allocation, Job } from "../src/model/nomad.js";
import { Monitor } from "../src/monitor.js";
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
    const rerunAt = Date.now();

    await waitFor(
      "the re-run job to be stopped after a full timeout",
      () => actionCalls(sim).length > 0,
      30_000,
    );
    const stoppedAfterMs = Date.now() - rerunAt;
    expect(stoppedAfterMs, "stopped sooner than a timeout after the re-run").toBeGreaterThanOrEqual(3_000);
    expect(messages(logs, /^job rerun group web changed \(tasks\)/).length).toBeGreaterThan(0);
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

describe("defect 8: noise at placement", () => {
  const NODE = "node-1";
  const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
  const job = {
    ID: "dev",
    Name: "dev",
    Namespace: "default",
    Type: "service",
    Stop: false,
    Status: "running",
    Version: 0,
    Meta: { "idle-monitor.enabled": "true" },
    TaskGroups: [
      {
        Name: "web",
        Count: 2,
        Meta: null,
        Networks: null,
        Scaling: null,
        Tasks: [{ Name: "server", Driver: "docker", Meta: null, Config: { image: "app:1" } }],
      },
    ],
    CreateIndex: 5,
    ModifyIndex: 5,
    JobModifyIndex: 5,
    SubmitTime: 0,
  } as Job;
  const allocation = (id: string): Allocation => ({
    ID: id,
    Namespace: "default",
    Name: `dev.web[${id}]`,
    NodeID: NODE,
    NodeName: NODE,
    JobID: "dev",
    Job: null,
    TaskGroup: "web",
    DesiredStatus: "run",
    ClientStatus: "running",
    TaskStates: null,
    CreateIndex: 6,
    ModifyIndex: 6,
    AllocModifyIndex: 6,
    CreateTime: T0 * 1e6,
    ModifyTime: T0 * 1e6,
  });

  it("says 'cannot measure' as a warning only once it lasted 3 readings of a running allocation; debug before", async () => {
    let now = T0;
    const clock = {
      now: () => now,
      sleep: async () => undefined,
      after: () => () => {},
      every: () => () => {},
    };
    // Containers still starting: the sampler finds none for them yet.
    const sampler = {
      sample: async (ids: readonly string[], at: number) =>
        new Map(
          ids.map((id) => [
            id,
            { allocId: id, at, state: "unknown" as const, reason: "no running containers" },
          ]),
        ),
    };
    const logs: LogLine[] = [];
    const log = pino({ level: "debug" }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
    const parsed = parseConfig({ NOMAD_NODE_ID: NODE, CHECK_INTERVAL: "10s", IDLE_TIMEOUT: "1m" });
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    const unused = () => Promise.reject(new Error("not expected in this test"));
    const monitor = new Monitor({
      config: parsed.config,
      nodeId: NODE,
      nomad: { job: unused, jobAllocations: unused } as never,
      token: { current: () => undefined, load: async () => undefined, loaded: true } as never,
      actions: { stopJob: unused, scaleToZero: unused },
      metrics: new MonitorMetrics(),
      cluster: {
        sharing: false,
        restore: async () => undefined,
        publish: async () => undefined,
        peerEvidence: async () => [],
        sweep: async () => undefined,
        claim: unused,
        recordWake: unused,
        wakeRecords: async () => [],
        wakeRecord: unused,
        settleWake: unused,
        lease: async () => undefined,
      },
      sampler,
      clock,
      log,
    });
    monitor.view.reconcile([{ ...allocation("a1"), Job: job }, allocation("a2")]);

    const warnings = () => logs.filter((line) => line.level >= 40 && /cannot measure/.test(line.msg));
    const cycle = async () => {
      await monitor.cycle();
      now += 10_000;
    };
    await cycle();
    await cycle();
    expect(warnings()).toEqual([]);
    expect(messages(logs, /allocation a1: unknown, no running containers/)).toHaveLength(2);
    await cycle();
    await cycle();
    expect(warnings().map((line) => line.msg)).toEqual([
      "cannot measure job dev group web: allocation a1 unknown: no running containers (and 1 more); it is not treated as idle",
    ]);
  });
});

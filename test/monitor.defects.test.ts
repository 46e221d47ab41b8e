import pino from "pino";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { MonitorMetrics } from "../src/metrics.js";
import type { Allocation, Job } from "../src/model/nomad.js";
import { Monitor } from "../src/monitor.js";
import { type LogLine, messages } from "./monitor/harness.js";
import { clusterOfOne } from "./support/cluster-of-one.js";

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
      cluster: clusterOfOne({ claim: unused, recordWake: unused, wakeRecord: unused, settleWake: unused }),
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

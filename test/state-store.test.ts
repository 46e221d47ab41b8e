import pino from "pino";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { Say } from "../src/cycle/say.js";
import { type Present, StateStore } from "../src/cycle/state.js";
import type { WatchedGroup } from "../src/decide/eligibility.js";
import { MonitorMetrics } from "../src/metrics.js";
import type { Allocation, Job } from "../src/model/nomad.js";
import type { Reading } from "../src/model/readings.js";
import { Monitor } from "../src/monitor.js";
import { RateLimitedNotice, SayOnce } from "../src/notices.js";
import type { SignalRequest } from "../src/ports.js";
import { type LogLine, messages } from "./monitor/harness.js";
import { clusterOfOne } from "./support/cluster-of-one.js";
import { FakeClock } from "./support/fake-clock.js";

const present = (allocation: string[], group: string[] = [], job: string[] = []): Present => ({
  allocation: new Set(allocation),
  group: new Set(group),
  job: new Set(job),
});

describe("the cycle's keyed state: one owner, one way out", () => {
  it("forgets, in every part of a kind, the keys that are no longer present", () => {
    const store = new StateStore();
    const latest = store.map<string>("allocation");
    const streaks = store.map<number>("allocation");
    const decisions = store.map<string>("group");
    latest.set("a1", "quiet").set("a2", "active");
    streaks.set("a2", 3);
    decisions.set("default/dev/web", "idle");
    expect([store.size("allocation"), store.size("group"), store.size("job")]).toEqual([2, 1, 0]);

    store.forget(present(["a1"], ["default/dev/web"]), 0);
    expect([...latest.keys()]).toEqual(["a1"]);
    expect([...streaks.keys()]).toEqual([]);
    expect(store.size("allocation")).toBe(1);

    store.forget(present([]), 0);
    expect([store.size("allocation"), store.size("group")]).toEqual([0, 0]);
  });

  it("keeps a deadline until its time, present or not, and drops it then, present or not", () => {
    const store = new StateStore();
    const cooldowns = store.deadlines("job");
    cooldowns.set("default/gone", 100).set("default/here", 50);
    store.forget(present([], [], ["default/here"]), 60);
    expect([...cooldowns.keys()]).toEqual(["default/gone"]);
    store.forget(present([]), 100);
    expect(store.size("job")).toBe(0);
  });

  it("forgets through any keyed state: what a job said may be said again once it left", () => {
    const store = new StateStore();
    const said = new SayOnce();
    store.add("job", said);
    const lines: string[] = [];
    said.say("default/dev", "unknown:web", () => lines.push("cannot measure"));
    said.say("default/dev", "unknown:web", () => lines.push("cannot measure"));
    expect(store.size("job")).toBe(1);
    store.forget(present([]), 0);
    expect(store.size("job")).toBe(0);
    said.say("default/dev", "unknown:web", () => lines.push("cannot measure"));
    expect(lines).toEqual(["cannot measure", "cannot measure"]);
  });
});

describe("notices that name what comes and goes", () => {
  it("issue 19 item 9: what was said once about an allocation or its containers is forgotten when the allocation leaves, while its job stays", () => {
    const store = new StateStore();
    const say = new Say({ log: pino({ level: "silent" }), clock: new FakeClock(), nodeId: "node-1", store });
    const lines: string[] = [];
    const containerGone = () =>
      lines.push("cannot measure job dev group web: container 3f2a9c is not running");
    say.onceOfAllocation("a1", "unknown:container 3f2a9c is not running", containerGone);
    say.onceOfAllocation("a1", "unknown:container 3f2a9c is not running", containerGone);
    expect([lines.length, store.size("allocation")]).toEqual([1, 1]);

    // a1 was replaced by a2 in the same job, which stays on the node.
    store.forget(present(["a2"], ["default/dev/web"], ["default/dev"]), 0);
    expect(store.size("allocation")).toBe(0);
  });

  it("issue 19 item 9: a group waiting for unmeasured allocations keeps only the allocations it waits for now, not every set it waited for", () => {
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
    const say = new Say({ log, clock: new FakeClock(), nodeId: "node-1", store: new StateStore() });
    const group = {
      key: "default/dev/web",
      namespace: "default",
      jobId: "dev",
      group: "web",
    } as WatchedGroup;
    const waitFor = (...allocIds: string[]) => say.wait(group, { kind: "unmeasured-allocations", allocIds });

    waitFor("a1");
    waitFor("a1");
    expect(lines).toHaveLength(1);
    // a2 replaced a1 and was measured; later a1 is seen again (its key was let go of, not kept with the job).
    waitFor("a2");
    waitFor("a1");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/^job dev group web has 1 allocation on this node that was not measured yet/);
  });

  it("issue 19 item 9: rate-limited notices forget the keys whose subject is gone", () => {
    const clock = new FakeClock();
    const notices = new RateLimitedNotice(60_000, () => clock.now());
    expect([notices.shouldSay("records"), notices.shouldSay("wake/default~2Fdev/")]).toEqual([true, true]);
    notices.retain((key) => key === "records");
    expect([notices.shouldSay("records"), notices.shouldSay("wake/default~2Fdev/")]).toEqual([false, true]);
  });
});

describe("10,000 allocations placed and removed through the real cycle: nothing is left behind", () => {
  const NODE = "node-1";
  const JOBS = 1_000;
  const GROUPS = ["web", "db"];
  const PER_GROUP = 5;

  /** Every third job has a stop-at, every fifth reads open connections, every seventh cannot be measured. */
  function job(index: number): Job {
    const meta: Record<string, string> = { "idle-monitor.enabled": "true", "idle-monitor.timeout": "30s" };
    if (index % 3 === 0) meta["idle-monitor.stop-at"] = "0 20 * * *";
    if (index % 5 === 0) meta["idle-monitor.connections"] = "true";
    return {
      ID: `job-${index}`,
      Name: `job-${index}`,
      Namespace: "default",
      Type: "service",
      Stop: false,
      Status: "running",
      Version: 1,
      Meta: meta,
      TaskGroups: GROUPS.map((name) => ({
        Name: name,
        Count: PER_GROUP,
        Meta: null,
        Networks: null,
        Scaling: null,
        Tasks: [{ Name: "server", Driver: "docker", Meta: null, Config: { image: "app:1" } }],
      })),
      CreateIndex: 5,
      ModifyIndex: 5,
      JobModifyIndex: 5,
      SubmitTime: 0,
    } as Job;
  }

  function allocations(jobs: readonly Job[], createdAt: number): Allocation[] {
    return jobs.flatMap((spec) =>
      GROUPS.flatMap((group) =>
        Array.from({ length: PER_GROUP }, (_, slot) => ({
          ID: `${spec.ID}-${group}-${slot}`,
          Namespace: "default",
          Name: `${spec.ID}.${group}[${slot}]`,
          NodeID: NODE,
          NodeName: NODE,
          JobID: spec.ID,
          Job: spec,
          TaskGroup: group,
          DesiredStatus: "run",
          ClientStatus: "running",
          TaskStates: null,
          CreateIndex: 6,
          ModifyIndex: 6,
          AllocModifyIndex: 6,
          CreateTime: createdAt * 1e6,
          ModifyTime: createdAt * 1e6,
        })),
      ),
    );
  }

  it("leaves every per-allocation, per-group and per-job store empty once they are gone and the cooldowns are over", async () => {
    const clock = new FakeClock();
    const jobs = Array.from({ length: JOBS }, (_, index) => job(index));
    const placed = allocations(jobs, clock.now());
    expect(placed).toHaveLength(10_000);
    const unmeasurable = (allocId: string) => Number(/^job-(\d+)-/.exec(allocId)?.[1]) % 7 === 0;
    const sampler = {
      sample: async (ids: readonly string[], at: number) =>
        new Map<string, Reading>(
          ids.map((allocId) => [
            allocId,
            unmeasurable(allocId)
              ? { allocId, at, state: "unknown", reason: "no running containers" }
              : { allocId, at, state: "measured", counters: new Map([[`ns-${allocId}`, 1_000]]) },
          ]),
        ),
    };
    const signals = {
      read: async (requests: readonly SignalRequest[]) =>
        new Map(
          requests.map(({ allocId }) => [allocId, { sessions: { state: "measured" as const, value: [] } }]),
        ),
    };
    const stopped: string[] = [];
    const lines: LogLine[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    const parsed = parseConfig({
      NOMAD_NODE_ID: NODE,
      NOMAD_JOB_ID: "idle-monitor",
      CHECK_INTERVAL: "10s",
      IDLE_TIMEOUT: "30s",
      ACTION_COOLDOWN: "1m",
    });
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    const byId = new Map(jobs.map((spec) => [spec.ID, spec]));
    const state = new StateStore();
    const metrics = new MonitorMetrics();
    const monitor = new Monitor({
      config: parsed.config,
      nodeId: NODE,
      nomad: {
        job: async (_namespace: string, jobId: string) => byId.get(jobId),
        jobAllocations: async (_namespace: string, jobId: string) =>
          placed.filter((alloc) => alloc.JobID === jobId).map(({ Job: _, ...stub }) => stub),
      } as never,
      token: { current: () => undefined, load: async () => undefined, loaded: true },
      actions: {
        stopJob: async ({ jobId }) => {
          stopped.push(jobId);
          return { kind: "done", evalId: `eval-${jobId}`, jobModifyIndex: 12 };
        },
        scaleToZero: async () => ({ kind: "done", evalId: "eval", jobModifyIndex: 12 }),
      },
      metrics,
      cluster: clusterOfOne(),
      sampler,
      signals,
      clock,
      log,
      state,
    });
    const cycle = async () => {
      await monitor.cycle();
      await clock.advance(10_000);
    };

    monitor.view.reconcile(placed);
    for (let count = 0; count < 6; count++) await cycle();
    const measurable = JOBS - Math.ceil(JOBS / 7);
    // What the cycles did to the 10,000 allocations: every one watched, the quiet jobs warned of and stopped.
    expect(state.size("allocation")).toBe(10_000);
    expect(state.size("group")).toBe(2 * JOBS);
    // Per job: the cooldowns of the jobs stopped (what could not be measured is said per allocation).
    expect(state.size("job")).toBe(measurable);
    expect(stopped).toHaveLength(measurable);
    expect(
      messages(lines, /^job job-1 group web has been quiet for 10s: the job will be stopped/),
    ).toHaveLength(1);
    expect(messages(lines, /^cannot measure job job-7 group web: /)).toHaveLength(1);
    // A group that cannot be measured has no time until action.
    expect((await metrics.secondsUntilAction.get()).values).toHaveLength(2 * measurable);

    // Nomad garbage-collected them all: the next list has none.
    monitor.view.reconcile([]);
    await cycle();
    expect(monitor.view.live()).toEqual([]);
    expect([state.size("allocation"), state.size("group")]).toEqual([0, 0]);
    expect((await metrics.secondsUntilAction.get()).values).toEqual([]);
    // The jobs acted on stay in their cooldown (a restart right now must still know it), then go too.
    expect(state.size("job")).toBe(measurable);
    await clock.advance(60_000);
    await cycle();
    expect(state.size("job")).toBe(0);
  });
});

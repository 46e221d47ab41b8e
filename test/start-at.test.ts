import pino from "pino";
import { describe, expect, it, onTestFinished } from "vitest";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import { encodeParts } from "../src/cluster/report.js";
import { CarryOut } from "../src/cycle/carry-out.js";
import { Say } from "../src/cycle/say.js";
import { StartAt, type StartAtDeps } from "../src/cycle/start-at.js";
import { StateStore } from "../src/cycle/state.js";
import type { EligibilityRules, WatchedGroup } from "../src/decide/eligibility.js";
import { MonitorMetrics } from "../src/metrics.js";
import type { WakeRecord } from "../src/model/cluster.js";
import type { Job, Registered, Submitted } from "../src/model/nomad.js";
import { exchangeTiming } from "../src/model/timing.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import type { ClusterPort, Lease, ScaleRequest } from "../src/ports.js";
import { missedFiringGraceMs } from "../src/schedule.js";
import { NomadSimulator, RecordingRuntime, type SimJob } from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Wednesday 2026-12-02 08:00 UTC: the firing of "0 8 * * *". */
const FIRING = Date.UTC(2026, 11, 2, 8, 0);
const GRACE = missedFiringGraceMs(MINUTE);
const rules: EligibilityRules = {
  defaults: { timeoutMs: 15 * MINUTE, thresholdBytes: 500, checkIntervalMs: MINUTE, timezone: "UTC" },
  namespaces: "*",
  self: { namespace: "default", jobId: "idle-monitor" },
};

function stoppedJob(meta: Record<string, string>): Job {
  return {
    ID: "dev",
    Namespace: "default",
    Type: "service",
    Stop: false,
    Version: 4,
    Meta: { "idle-monitor.enabled": "true", ...meta },
    TaskGroups: [{ Name: "web", Count: 1, Meta: null, Tasks: [{ Name: "server", Driver: "docker" }] }],
  } as unknown as Job;
}

/** Node a's start-at, with the default grace, lease and retention. */
function startAtOf(deps: Pick<StartAtDeps, "cluster" | "nomad" | "rules" | "clock" | "log">): StartAt {
  const timing = { graceMs: GRACE, leaseMs: 3 * MINUTE, retentionMs: 30 * 24 * HOUR };
  return new StartAt({ ...deps, ...timing, nodeId: "node-a", dryRun: false });
}

/** The JobModifyIndex Nomad answered to the monitor's stop, and the job's index ever since. */
const STOPPED_AT = 41;

/** A cluster with one wake record and a lease last evaluated at `evaluatedAt` (or held by another node). */
function world(options: {
  record: WakeRecord;
  evaluatedAt?: number;
  leaseHeldElsewhere?: boolean;
  now: number;
  /** The job as Nomad has it now; by default as the monitor left it. */
  current?: Job | undefined;
}) {
  const clock = new FakeClock(options.now);
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
  const registered: Array<{ job: Job; jobModifyIndex: number }> = [];
  const scaled: ScaleRequest[] = [];
  const settled: Array<WakeRecord | undefined> = [];
  let evaluated: number | undefined;
  const { record } = options;
  const path = `nomad/jobs/idle-monitor/wake/default~2F${record.jobId}/`;
  const cluster = {
    sweep: async () => {},
    wakeRecords: async () => [
      { path, record: { ...record, stopped: record.stopped && { ...record.stopped } } },
    ],
    wakeRecord: async () => record,
    settleWake: async (_namespace: string, _jobId: string, remaining: WakeRecord | undefined) => {
      settled.push(remaining);
    },
    lease: async (): Promise<Lease | undefined> =>
      options.leaseHeldElsewhere
        ? undefined
        : {
            evaluatedAt: options.evaluatedAt,
            evaluated: (at: number) => {
              evaluated = at;
            },
          },
  } as unknown as ClusterPort;
  const asLeft = record.stopped
    ? { ...stoppedJob({}), Stop: true, Version: 5, JobModifyIndex: STOPPED_AT }
    : {
        ...stoppedJob({ "idle-monitor.start-at": "0 8 * * *" }),
        JobModifyIndex: STOPPED_AT,
        TaskGroups: [{ Name: "web", Count: 0, Meta: null, Tasks: [{ Name: "server", Driver: "docker" }] }],
      };
  const current = "current" in options ? options.current : (asLeft as unknown as Job);
  const nomad = {
    job: async () => current,
    registerJob: async (job: Job, jobModifyIndex: number): Promise<Registered> => {
      registered.push({ job, jobModifyIndex });
      return { kind: "registered", evalId: "eval-1", jobModifyIndex: 60 };
    },
    scaleGroup: async (request: ScaleRequest): Promise<Submitted> => {
      scaled.push(request);
      return { evalId: "eval-2", jobModifyIndex: 61 };
    },
  };
  const startAt = startAtOf({ cluster, nomad, rules, clock, log });
  return { startAt, lines, registered, scaled, settled, evaluated: () => evaluated };
}

const stopped = (
  at: number,
  meta: Record<string, string> = { "idle-monitor.start-at": "0 8 * * *" },
): WakeRecord => ({
  v: 1,
  namespace: "default",
  jobId: "dev",
  node: "node-b",
  at,
  stopped: stoppedJob(meta),
  jobModifyIndex: STOPPED_AT,
});

describe("start-at, on fake time", () => {
  it.each([
    {
      name: "fired since the last evaluation: the stopped job is registered again, the record removed",
      record: stopped(FIRING - 12 * HOUR),
      evaluatedAt: FIRING - MINUTE,
      now: FIRING + 20_000,
      registered: 1,
      line: /^started job dev in namespace default again as it was before node node-b stopped it \(evaluation eval-1\): start-at "0 8 \* \* \*" fired at 2026-12-02 08:00 UTC$/,
    },
    {
      name: "missed while every monitor was down, within the grace: carried out late",
      record: stopped(FIRING - 12 * HOUR),
      evaluatedAt: FIRING - 2 * HOUR,
      now: FIRING + GRACE - MINUTE,
      registered: 1,
      line: /^started job dev/,
    },
    {
      name: "missed by more than the grace: skipped, with a line saying how to do it by hand",
      record: stopped(FIRING - 12 * HOUR),
      evaluatedAt: FIRING - 2 * HOUR,
      now: FIRING + GRACE + MINUTE,
      registered: 0,
      line: /its start-at fired at 2026-12-02 08:00 UTC while no monitor could act \(6m ago, more than the grace of 5m\); not bringing it back late — `nomad-idle-monitor wake dev` does it by hand$/,
    },
    {
      name: "a new lease (nothing evaluated yet) carries out what fired within the grace",
      record: stopped(FIRING - 12 * HOUR),
      evaluatedAt: undefined,
      now: FIRING + 2 * MINUTE,
      registered: 1,
      line: /^started job dev/,
    },
    {
      name: "a firing from before the job was stopped does not start it again",
      record: stopped(FIRING + MINUTE),
      evaluatedAt: undefined,
      now: FIRING + 2 * MINUTE,
      registered: 0,
      line: undefined,
    },
    {
      name: "excluded: not brought back, and said",
      record: stopped(FIRING - 12 * HOUR, {
        "idle-monitor.start-at": "0 8 * * *",
        "idle-monitor.exclude-until": "2026-12-24",
      }),
      evaluatedAt: FIRING - MINUTE,
      now: FIRING + 20_000,
      registered: 0,
      line: /start-at fired, but the job is excluded until 2026-12-25 00:00 UTC/,
    },
    {
      name: "no start-at: nothing",
      record: stopped(FIRING - 12 * HOUR, {}),
      evaluatedAt: FIRING - MINUTE,
      now: FIRING + 20_000,
      registered: 0,
      line: undefined,
    },
  ])("$name", async ({ record, evaluatedAt, now, registered, line }) => {
    const current = world({ record, evaluatedAt, now });
    await current.startAt.run();
    expect(current.registered).toHaveLength(registered);
    if (registered > 0) {
      expect(current.registered[0]).toMatchObject({
        job: { ID: "dev", Stop: false, Version: 4 },
        jobModifyIndex: STOPPED_AT,
      });
      expect(current.settled).toEqual([undefined]);
    } else expect(current.settled).toEqual([]);
    if (line) expect(current.lines.filter((text) => line.test(text))).toHaveLength(1);
    else expect(current.lines).toEqual([]);
    expect(current.evaluated()).toBe(now);
  });

  it("only the holder of the lease acts", async () => {
    const current = world({
      record: stopped(FIRING - 12 * HOUR),
      evaluatedAt: FIRING - MINUTE,
      leaseHeldElsewhere: true,
      now: FIRING + 20_000,
    });
    await current.startAt.run();
    expect(current.registered).toEqual([]);
    expect(current.evaluated()).toBeUndefined();
  });

  it("scales a scaled group back to its count, from the job as it is now", async () => {
    const record: WakeRecord = {
      v: 1,
      namespace: "default",
      jobId: "dev",
      node: "node-b",
      at: FIRING - 12 * HOUR,
      scaled: { web: 3 },
      jobModifyIndex: STOPPED_AT,
    };
    const current = world({ record, evaluatedAt: FIRING - MINUTE, now: FIRING + 20_000 });
    await current.startAt.run();
    expect(current.scaled).toEqual([
      expect.objectContaining({ group: "web", count: 3, meta: { "idle-monitor.reason": "start-at" } }),
    ]);
    expect(current.settled).toEqual([undefined]);
    expect(current.lines).toEqual([
      'scaled group web of job dev back to 3 (evaluation eval-2): start-at "0 8 * * *" fired at 2026-12-02 08:00 UTC',
    ]);
  });
});

/** Nomad played by the simulator over HTTP, on the clock of the code under test, with the real exchange. */
async function simulated(now: number, namespaces: readonly string[] | "*" = "*") {
  const clock = new FakeClock(now);
  const sim = await NomadSimulator.start({ clock });
  onTestFinished(() => sim.close());
  sim.addNode("node-1", new RecordingRuntime());
  const api = new NomadHttpApi({
    config: {
      nomadAddr: sim.address,
      nomadRegion: undefined,
      tls: { caCert: undefined, clientCert: undefined, clientKey: undefined, serverName: undefined },
    },
    token: () => sim.managementToken,
  });
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
  const paths = new StatePaths("nomad/jobs/idle-monitor");
  const cluster = new ClusterExchange({
    store: api.variables("default", sim.managementToken),
    paths,
    nodeId: "node-a",
    clock,
    log,
    timing: exchangeTiming(MINUTE),
  });
  const startAt = startAtOf({ cluster, nomad: api, rules: { ...rules, namespaces }, clock, log });
  const meta = { "idle-monitor.enabled": "true", "idle-monitor.start-at": "0 8 * * *" };
  const job = (id: string, extra: Partial<SimJob> = {}): SimJob => ({
    ID: id,
    Meta: meta,
    TaskGroups: [
      {
        Name: "web",
        Count: 2,
        Update: { MinHealthyTime: 0 },
        Tasks: [{ Name: "server", Driver: "docker", Env: { API_KEY: "s3cr3t-of-the-spec" } }],
      },
    ],
    ...extra,
  });
  return {
    sim,
    clock,
    api,
    cluster,
    paths,
    startAt,
    lines,
    job,
    /** Registrations (`POST /v1/jobs`) that went through. */
    registrations: () => sim.calls.filter((call) => call.path === "/v1/jobs" && call.status === 200),
    records: () => sim.listVariables("default", paths.wake),
    /** What the monitor's stop leaves: the job stopped, and its record with Nomad's answer. */
    async stoppedByMonitor(spec: SimJob, at: number) {
      await sim.registerJob(spec);
      await sim.whenSettled();
      const decided = (await api.job("default", spec.ID)) as Job;
      const answer = await api.stopJob("default", spec.ID);
      await sim.whenSettled();
      await cluster.settleWake("default", spec.ID, {
        ...{ v: 1, namespace: "default", jobId: spec.ID, node: "node-b", at },
        stopped: decided,
        jobModifyIndex: answer.jobModifyIndex,
      });
    },
  };
}

describe("start-at against the simulator", () => {
  const BEFORE = FIRING - 12 * HOUR;

  it.each([
    {
      title:
        "issue 19 item 2: start-at does not register an old specification over a newer one: the owner ran a newer version, without the monitor's meta, and stopped it by hand",
      meanwhile: async (world: Awaited<ReturnType<typeof simulated>>) => {
        await world.sim.registerJob(world.job("dev", { Meta: { owner: "alice" } }));
        await world.sim.whenSettled();
        await world.sim.stopJob("default", "dev");
      },
      line: /^not bringing back job dev for its start-at "0 8 \* \* \*" fired at 2026-12-02 08:00 UTC: it changed since node node-b stopped it \(its JobModifyIndex is \d+, the monitor left it at \d+: run again, stopped or scaled by someone else\); dropped from its wake record$/,
    },
    {
      title:
        "issue 19 item 2: start-at does not register an old specification over a newer one: someone purged it, created another job of that name and stopped it",
      meanwhile: async (world: Awaited<ReturnType<typeof simulated>>) => {
        world.sim.purgeJob("default", "dev");
        await world.sim.registerJob(world.job("dev", { Meta: { owner: "bob" } }));
        await world.sim.whenSettled();
        await world.sim.stopJob("default", "dev");
      },
      line: /^not bringing back job dev for its start-at .*: it changed since node node-b stopped it/,
    },
    {
      title: "start-at leaves alone another job of that name that runs: someone purged it and runs another",
      meanwhile: async (world: Awaited<ReturnType<typeof simulated>>) => {
        world.sim.purgeJob("default", "dev");
        await world.sim.registerJob(world.job("dev", { Meta: { owner: "bob" } }));
        await world.sim.whenSettled();
      },
      line: /^job dev runs already \(version 0\); nothing for its start-at "0 8 \* \* \*" fired at 2026-12-02 08:00 UTC to bring back$/,
    },
  ])("$title", async ({ meanwhile, line }) => {
    const world = await simulated(BEFORE);
    await world.stoppedByMonitor(world.job("dev"), BEFORE);
    await meanwhile(world);
    const newer = world.sim.job("default", "dev");

    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();

    expect(world.registrations()).toEqual([]);
    expect(world.sim.job("default", "dev")).toEqual(newer);
    expect(world.lines.filter((text) => line.test(text))).toHaveLength(1);
    expect(world.records()).toEqual([]);
  });

  it("issue 19 item 2: a stop that failed leaves nothing start-at would act on", async () => {
    const world = await simulated(BEFORE);
    await world.sim.registerJob(world.job("dev"));
    await world.sim.whenSettled();
    const decided = (await world.api.job("default", "dev")) as Job;
    // The monitor's stop of v0 is refused (a deployment under way), through the real cycle's last stage.
    const silent = pino({ level: "silent" });
    const carryOut = new CarryOut({
      ...{ nodeId: "node-b", dryRun: false, actionCooldownMs: 5 * MINUTE, clock: world.clock, log: silent },
      cluster: world.cluster,
      nomad: world.api,
      actions: {
        stopJob: async () => ({ kind: "refused", message: "deployment under way" }),
        scaleToZero: async () => ({ kind: "refused", message: "deployment under way" }),
      },
      metrics: new MonitorMetrics(() => world.clock.now()),
      say: new Say({ log: silent, clock: world.clock, nodeId: "node-b", store: new StateStore() }),
      cooldowns: new Map(),
      dryRunsSaid: new Map(),
    });
    const group = {
      key: "default/dev/web",
      namespace: "default",
      jobId: "dev",
      group: "web",
    } as WatchedGroup;
    const stop = { group: "web", kind: "stop" as const, otherNodes: [] };
    await carryOut.run("default/dev", group, decided, [stop], () => "its stop-at fired");
    // The owner runs a changed version, and stops it by hand.
    await world.sim.registerJob(world.job("dev", { Meta: { owner: "alice" } }));
    await world.sim.whenSettled();
    await world.sim.stopJob("default", "dev");
    const newer = world.sim.job("default", "dev");

    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();

    expect(world.registrations()).toEqual([]);
    expect(world.sim.job("default", "dev")).toEqual(newer);
    expect(world.records()).toEqual([]);
  });

  it.each([
    { name: "as the monitor left it", garbageCollected: false, version: 2 },
    { name: "garbage-collected since, and never created again", garbageCollected: true, version: 0 },
  ])("brings a stopped job back as it was when it is $name", async ({ garbageCollected, version }) => {
    const world = await simulated(BEFORE);
    await world.stoppedByMonitor(world.job("dev"), BEFORE);
    if (garbageCollected) world.sim.purgeJob("default", "dev");

    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();

    expect(world.registrations()).toHaveLength(1);
    expect(world.sim.job("default", "dev")).toMatchObject({ Stop: false, Version: version });
    expect(world.sim.job("default", "dev")?.TaskGroups[0]?.Tasks[0]?.Env).toEqual({
      API_KEY: "s3cr3t-of-the-spec",
    });
    expect(
      world.lines.filter((text) => /^started job dev in namespace default again/.test(text)),
    ).toHaveLength(1);
    expect(world.records()).toEqual([]);
  });

  it("issue 19 item 3: start-at never scales a group down", async () => {
    const world = await simulated(BEFORE);
    await world.sim.registerJob(world.job("dev"));
    await world.sim.whenSettled();
    const scaleTo = (count: number) =>
      world.api.scaleGroup({
        namespace: "default",
        jobId: "dev",
        group: "web",
        count,
        message: "",
        meta: {},
      });
    const answer = await scaleTo(0);
    await world.cluster.settleWake("default", "dev", {
      ...{ v: 1, namespace: "default", jobId: "dev", node: "node-b", at: BEFORE },
      scaled: { web: 2 },
      jobModifyIndex: answer.jobModifyIndex,
    });
    await world.sim.whenSettled();
    // The owner needs more than before.
    await scaleTo(3);
    await world.sim.whenSettled();

    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();

    expect(world.sim.job("default", "dev")?.TaskGroups[0]?.Count).toBe(3);
    expect(world.sim.calls.filter((call) => call.path.endsWith("/scale"))).toHaveLength(2);
    expect(world.lines).toEqual([
      expect.stringMatching(
        /^not bringing back job dev for its start-at .*: it changed since node node-b scaled it to 0 \(its JobModifyIndex is \d+, the monitor left it at \d+/,
      ),
    ]);
    expect(world.records()).toEqual([]);
  });

  it("scales a group back while it is still at 0 and the job as the monitor left it", async () => {
    const world = await simulated(BEFORE);
    await world.sim.registerJob(world.job("dev"));
    await world.sim.whenSettled();
    const answer = await world.api.scaleGroup({
      ...{ namespace: "default", jobId: "dev", group: "web" },
      ...{ count: 0, message: "", meta: {} },
    });
    await world.cluster.settleWake("default", "dev", {
      ...{ v: 1, namespace: "default", jobId: "dev", node: "node-b", at: BEFORE },
      scaled: { web: 2 },
      jobModifyIndex: answer.jobModifyIndex,
    });
    await world.sim.whenSettled();

    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();

    expect(world.sim.job("default", "dev")?.TaskGroups[0]?.Count).toBe(2);
    expect(world.lines).toEqual([expect.stringMatching(/^scaled group web of job dev back to 2 /)]);
    expect(world.records()).toEqual([]);
  });

  it("issue 19 item 9: wake records are dropped after WAKE_RECORD_RETENTION, with one line", async () => {
    const world = await simulated(FIRING + 20_000);
    const now = world.clock.now();
    await world.stoppedByMonitor(world.job("old", { Meta: {} }), now - 31 * 24 * HOUR);
    await world.stoppedByMonitor(world.job("recent", { Meta: {} }), now - 29 * 24 * HOUR);

    await world.startAt.run();
    await world.clock.advance(MINUTE);
    await world.startAt.run();

    expect(world.records()).toEqual([world.paths.wakeRecordOf("default", "recent").concat("0")]);
    expect(world.lines).toEqual([
      "dropped the wake record of job old in namespace default: node node-b stopped it 744h ago, longer than WAKE_RECORD_RETENTION (720h); neither start-at nor `nomad-idle-monitor wake` will bring it back",
    ]);
  });

  it("issue 19 item 9: the lease holder keeps each record's schedules between cycles, not the job's specification", async () => {
    const world = await simulated(BEFORE);
    await world.stoppedByMonitor(world.job("dev"), BEFORE);

    const kept = await world.cluster.wakeRecords();

    expect(JSON.stringify(kept)).not.toContain("s3cr3t-of-the-spec");
    expect(kept).toEqual([
      {
        path: world.paths.wakeRecordOf("default", "dev"),
        record: expect.objectContaining({
          jobId: "dev",
          stopped: expect.objectContaining({ Meta: expect.anything() }),
        }),
      },
    ]);
    // What it brings back is the whole specification, read when the firing comes.
    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();
    expect(world.sim.job("default", "dev")?.TaskGroups[0]?.Tasks[0]?.Env).toEqual({
      API_KEY: "s3cr3t-of-the-spec",
    });
  });

  it("issue 19 item 12: start-at uses a wake record only for the job its path names, in a namespace of NAMESPACES", async () => {
    const world = await simulated(BEFORE, ["default", "team"]);
    const decided = async (spec: SimJob) => {
      await world.sim.registerJob(spec);
      await world.sim.whenSettled();
      await world.sim.stopJob(spec.Namespace ?? "default", spec.ID);
      return world.sim.job(spec.Namespace ?? "default", spec.ID) as unknown as Job;
    };
    const forge = (path: string, record: WakeRecord) => {
      for (const [part, items] of encodeParts("record", record, BEFORE).entries())
        world.sim.putVariable("default", `${path}${part}`, items);
    };
    const base = { v: 1, node: "node-b", at: BEFORE } as const;
    // Under victim's path, another job's specification; under a path of its own, a job in a namespace not allowed.
    const intruder = await decided(world.job("intruder"));
    forge(world.paths.wakeRecordOf("default", "victim"), {
      ...{ ...base, namespace: "default", jobId: "victim" },
      stopped: intruder,
      jobModifyIndex: intruder.JobModifyIndex,
    });
    forge(world.paths.wakeRecordOf("default", "renamed"), {
      ...{ ...base, namespace: "default", jobId: "intruder" },
      stopped: intruder,
      jobModifyIndex: intruder.JobModifyIndex,
    });
    const elsewhere = await decided(world.job("elsewhere", { Namespace: "ops" }));
    forge(world.paths.wakeRecordOf("ops", "elsewhere"), {
      ...{ ...base, namespace: "ops", jobId: "elsewhere" },
      stopped: elsewhere,
      jobModifyIndex: elsewhere.JobModifyIndex,
    });

    await world.clock.advance(FIRING + 20_000 - BEFORE);
    await world.startAt.run();
    await world.clock.advance(MINUTE);
    await world.startAt.run();

    expect(world.registrations()).toEqual([]);
    expect(world.lines.sort()).toEqual([
      expect.stringMatching(
        /^not using the wake record nomad\/jobs\/idle-monitor\/wake\/default~2Frenamed\/: it is about job intruder in namespace default, not the job its path names; /,
      ),
      expect.stringMatching(
        /^not using the wake record nomad\/jobs\/idle-monitor\/wake\/default~2Fvictim\/: it holds the specification of job intruder in namespace default, not of job victim; /,
      ),
      expect.stringMatching(
        /^not using the wake record nomad\/jobs\/idle-monitor\/wake\/ops~2Felsewhere\/: it is about namespace ops, which is not in NAMESPACES; /,
      ),
    ]);
  });
});

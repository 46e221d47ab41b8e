import pino from "pino";
import { describe, expect, it } from "vitest";
import { StartAt } from "../src/cycle/start-at.js";
import type { EligibilityRules } from "../src/decide/eligibility.js";
import type { WakeRecord } from "../src/model/cluster.js";
import type { Job } from "../src/model/nomad.js";
import type { ClusterPort, Lease, ScaleRequest } from "../src/ports.js";
import { missedFiringGraceMs } from "../src/schedule.js";
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

/** A cluster with one wake record and a lease last evaluated at `evaluatedAt` (or held by another node). */
function world(options: {
  record: WakeRecord;
  evaluatedAt?: number;
  leaseHeldElsewhere?: boolean;
  now: number;
}) {
  const clock = new FakeClock(options.now);
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
  const registered: Job[] = [];
  const scaled: ScaleRequest[] = [];
  const settled: Array<WakeRecord | undefined> = [];
  let evaluated: number | undefined;
  const cluster = {
    sweep: async () => {},
    wakeRecords: async () => [options.record],
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
  const nomad = {
    job: async () => ({ ...stoppedJob({ "idle-monitor.start-at": "0 8 * * *" }), Stop: true }),
    registerJob: async (job: Job) => {
      registered.push(job);
      return "eval-1";
    },
    scaleGroup: async (request: ScaleRequest) => {
      scaled.push(request);
      return "eval-2";
    },
  };
  const startAt = new StartAt({
    cluster,
    nomad,
    rules,
    nodeId: "node-a",
    clock,
    log,
    dryRun: false,
    graceMs: GRACE,
    leaseMs: 3 * MINUTE,
  });
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
      expect(current.registered[0]).toMatchObject({ ID: "dev", Stop: false, Version: 4 });
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

import { describe, expect, it } from "vitest";
import {
  applyCheckBudget,
  checksIn,
  estimateCheckCost,
  groupChecks,
  type JobServices,
  type MeasuredInterval,
  type NetworkCheck,
} from "../src/signals/check-budget.js";

const SECOND = 1000;
const NS_PER_MS = 1e6;
const INTERVAL = 60 * SECOND;
const THRESHOLD = 500;
/** What one HTTP check costs on the wire in these series. */
const CHECK_BYTES = 800;
/** One user request (a small GET, as a check is). */
const REQUEST_BYTES = 800;
const HTTP_EVERY_10S: NetworkCheck = { service: "web", name: "alive", type: "http", intervalMs: 10 * SECOND };

describe("the job's network checks", () => {
  const job: JobServices = {
    TaskGroups: [
      {
        Name: "web",
        Services: [
          {
            Name: "web",
            Checks: [
              { Name: "alive", Type: "http", Interval: 10 * SECOND * NS_PER_MS },
              { Name: "script", Type: "script", Interval: 5 * SECOND * NS_PER_MS },
            ],
          },
          { Name: "no-checks", Checks: null },
        ],
        Tasks: [
          {
            Name: "httpd",
            Services: [
              { Name: "port", Checks: [{ Name: "open", Type: "tcp", Interval: 30 * SECOND * NS_PER_MS }] },
            ],
          },
          { Name: "sidecar", Services: null },
        ],
      },
      { Name: "other", Services: [{ Name: "x", Checks: [{ Type: "http", Interval: SECOND * NS_PER_MS }] }] },
    ],
  };

  it("group and task services, http/tcp/grpc only, intervals from nanoseconds", () => {
    expect(groupChecks(job, "web")).toEqual([
      { service: "web", name: "alive", type: "http", intervalMs: 10 * SECOND },
      { service: "port", name: "open", type: "tcp", intervalMs: 30 * SECOND },
    ]);
  });

  it.each([
    { name: "no such group", spec: job, group: "db" },
    { name: "no groups", spec: { TaskGroups: null }, group: "web" },
    {
      name: "a check without an interval",
      spec: { TaskGroups: [{ Name: "web", Services: [{ Checks: [{ Type: "http" }] }] }] },
      group: "web",
    },
  ])("none: $name", ({ spec, group }) => {
    expect(groupChecks(spec, group)).toEqual([]);
  });

  it.each([
    { elapsedMs: 60 * SECOND, expected: 6, most: 7 },
    { elapsedMs: 55 * SECOND, expected: 5.5, most: 6 },
    { elapsedMs: 0, expected: 0, most: 1 },
  ])("checks in $elapsedMs ms: $expected expected, at most $most", ({ elapsedMs, expected, most }) => {
    expect(checksIn([HTTP_EVERY_10S], elapsedMs)).toEqual({ expected, most });
  });
});

/** An interval of `checks` runs of the check and `requests` user requests; a little jitter in its length. */
function interval(checks: number, requests = 0, elapsedMs = INTERVAL, sessions?: number): MeasuredInterval {
  return { bytes: checks * CHECK_BYTES + requests * REQUEST_BYTES, elapsedMs, sessions };
}

/** 6 or 7 runs of a 10 s check land in a 60 s interval, depending on the phase. */
const CHECKS_ONLY = [6, 7, 6, 6, 7, 6, 6, 7, 6, 6].map((checks, index) =>
  interval(checks, 0, INTERVAL + (index % 3) * 100),
);

/** Active when the bytes left after the budget exceed the threshold — the same threshold in every case. */
function verdict(history: MeasuredInterval[], now: MeasuredInterval): "active" | "quiet" {
  const cost = estimateCheckCost(history, [HTTP_EVERY_10S], { checkIntervalMs: INTERVAL });
  const left = applyCheckBudget(now.bytes, now.elapsedMs, [HTTP_EVERY_10S], cost, INTERVAL);
  return left.bytes > THRESHOLD ? "active" : "quiet";
}

describe("the check noise budget on synthetic series (a check every 10 s, one interval of 60 s, threshold 500 B)", () => {
  it("learns one check's cost from quiet intervals", () => {
    expect(estimateCheckCost(CHECKS_ONLY, [HTTP_EVERY_10S], { checkIntervalMs: INTERVAL })).toEqual({
      state: "learned",
      bytesPerCheck: 797,
      reason: "797 B per check, the lower quartile of 10 quiet intervals",
    });
  });

  it.each([
    { name: "checks alone, 6 in the interval", now: interval(6), expected: "quiet" },
    { name: "checks alone, 7 in the interval", now: interval(7), expected: "quiet" },
    {
      name: "a user making one request every 30 s (2 per interval), 6 checks",
      now: interval(6, 2),
      expected: "active",
    },
    {
      name: "a user making one request every 30 s (2 per interval), 7 checks",
      now: interval(7, 2),
      expected: "active",
    },
    {
      name: "a download of 64 KiB",
      now: { bytes: 6 * CHECK_BYTES + 65_536, elapsedMs: INTERVAL },
      expected: "active",
    },
  ])("$name: $expected", ({ now, expected }) => {
    expect(verdict(CHECKS_ONLY, now)).toBe(expected);
    // Without the budget the checks alone are over the threshold: the job would never be stopped.
    expect(now.bytes > THRESHOLD).toBe(true);
  });

  it("a user in every other interval does not raise the learned cost", () => {
    const history = CHECKS_ONLY.map((quiet, index) =>
      index % 2 === 0 ? quiet : { ...quiet, bytes: quiet.bytes + 2 * REQUEST_BYTES },
    );
    expect(verdict(history, interval(6, 2))).toBe("active");
    expect(verdict(history, interval(7))).toBe("quiet");
  });

  it("the limit: a user in every interval from the start is learned as checks (reason says how much per check)", () => {
    const history = CHECKS_ONLY.map((quiet) => ({ ...quiet, bytes: quiet.bytes + 2 * REQUEST_BYTES }));
    const cost = estimateCheckCost(history, [HTTP_EVERY_10S], { checkIntervalMs: INTERVAL });
    expect(cost).toMatchObject({ state: "learned", reason: expect.stringContaining("B per check") });
    if (cost.state === "learned") expect(cost.bytesPerCheck).toBeGreaterThan(1000);
    expect(verdict(history, interval(6, 2))).toBe("quiet");
  });

  it.each([
    {
      name: "intervals with an inbound session",
      history: CHECKS_ONLY.map((quiet) => ({ ...quiet, sessions: 1 })),
    },
    {
      name: "intervals with a counter reset",
      history: CHECKS_ONLY.map((quiet) => ({ ...quiet, reset: true })),
    },
    {
      name: "gaps (3 intervals long)",
      history: CHECKS_ONLY.map((quiet) => ({ ...quiet, elapsedMs: 3 * INTERVAL })),
    },
    {
      name: "more than 16 KiB per check",
      history: CHECKS_ONLY.map((quiet) => ({ ...quiet, bytes: 6 * 20_000 })),
    },
    { name: "fewer than 5 intervals", history: CHECKS_ONLY.slice(0, 4) },
  ])("learns nothing from $name, and subtracts nothing", ({ history }) => {
    const cost = estimateCheckCost(history, [HTTP_EVERY_10S], { checkIntervalMs: INTERVAL });
    expect(cost.state).toBe("learning");
    expect(applyCheckBudget(4800, INTERVAL, [HTTP_EVERY_10S], cost, INTERVAL)).toMatchObject({
      bytes: 4800,
      subtracted: 0,
    });
  });

  it("no checks in the job: nothing to learn", () => {
    expect(estimateCheckCost(CHECKS_ONLY, [], { checkIntervalMs: INTERVAL })).toEqual({
      state: "learning",
      reason: "no network service checks in the job",
    });
  });

  it("learns from the latest intervals only (window)", () => {
    const cheaper = [
      ...CHECKS_ONLY,
      ...Array.from({ length: 5 }, () => ({ bytes: 6 * 400, elapsedMs: INTERVAL })),
    ];
    expect(
      estimateCheckCost(cheaper, [HTTP_EVERY_10S], { checkIntervalMs: INTERVAL, window: 5 }),
    ).toMatchObject({
      bytesPerCheck: 400,
    });
  });

  it("explains what it subtracted", () => {
    const cost = estimateCheckCost(CHECKS_ONLY, [HTTP_EVERY_10S], { checkIntervalMs: INTERVAL });
    expect(applyCheckBudget(6000, INTERVAL, [HTTP_EVERY_10S], cost, INTERVAL)).toEqual({
      bytes: 421,
      subtracted: 5579,
      reason:
        "5579 B of 6000 B taken as health checks (up to 7 × 797 B: 1 http check every 10s; 797 B per check, the lower quartile of 10 quiet intervals)",
    });
  });

  it("after a gap subtracts at most one and a half intervals' checks (errs towards active)", () => {
    const cost = { state: "learned" as const, bytesPerCheck: 800, reason: "given" };
    expect(applyCheckBudget(30 * 800, 5 * INTERVAL, [HTTP_EVERY_10S], cost, INTERVAL).subtracted).toBe(
      10 * 800,
    );
  });

  it("a shorter interval gets a smaller budget, and never more than its bytes", () => {
    const cost = { state: "learned" as const, bytesPerCheck: 800, reason: "given" };
    expect(applyCheckBudget(10_000, 20 * SECOND, [HTTP_EVERY_10S], cost, INTERVAL).subtracted).toBe(3 * 800);
    expect(applyCheckBudget(100, INTERVAL, [HTTP_EVERY_10S], cost, INTERVAL)).toMatchObject({
      bytes: 0,
      subtracted: 100,
    });
  });
});

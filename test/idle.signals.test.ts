import { describe, expect, it } from "vitest";
import { type ActivityThreshold, TrafficMeter } from "../src/decide/meter.js";
import { SignalSchedule } from "../src/decide/signal-schedule.js";
import type { Activity, Reading, SignalReading } from "../src/model/readings.js";
import type { NetworkCheck } from "../src/signals/check-budget.js";
import { DEFAULT_SIGNAL_SETTINGS, type SignalSettings } from "../src/signals/meta.js";

// Issue 12 in the meter, on fake time: the health-check budget before the threshold, and the CPU and
// open-connection signals that turn a quiet interval active.

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const SECOND = 1_000;
const INTERVAL = 10 * SECOND;
const A = "a1";
const HTTP_EVERY_10S: NetworkCheck = { service: "web", name: "alive", type: "http", intervalMs: 10 * SECOND };

function read(at: number, total: number): Reading {
  return { allocId: A, at, state: "measured", counters: new Map([["ns", total]]) };
}

/** Feeds cumulative totals, one per interval from T0, and returns each state with its reason. */
function meter(totals: number[], threshold: ActivityThreshold): Activity[] {
  const traffic = new TrafficMeter();
  return totals.map((total, index) => traffic.measure(read(T0 + index * INTERVAL, total), threshold));
}

/** Cumulative totals from per-interval bytes, starting at 0. */
function cumulative(perInterval: number[]): number[] {
  const totals = [0];
  for (const bytes of perInterval) totals.push((totals.at(-1) ?? 0) + bytes);
  return totals;
}

describe("TrafficMeter: the health-check budget comes off before the threshold", () => {
  const withChecks: ActivityThreshold = {
    thresholdBytes: 500,
    checkIntervalMs: INTERVAL,
    checks: [HTTP_EVERY_10S],
  };
  const CHECK = 900;
  const USER = 64 * 1024;

  const cases: Array<{
    name: string;
    perInterval: number[];
    threshold: ActivityThreshold;
    states: Array<Activity["state"]>;
  }> = [
    {
      name: "checks alone: active while the cost is learned (5 intervals), then quiet",
      perInterval: [CHECK, CHECK, CHECK, CHECK, CHECK, CHECK, CHECK],
      threshold: withChecks,
      states: ["baseline", "active", "active", "active", "active", "active", "quiet", "quiet"],
    },
    {
      name: "an interval that holds two runs of the check (phase) is still quiet",
      perInterval: [CHECK, CHECK, CHECK, CHECK, CHECK, 2 * CHECK],
      threshold: withChecks,
      states: ["baseline", "active", "active", "active", "active", "active", "quiet"],
    },
    {
      name: "a user's page on top of the checks is active once learned",
      perInterval: [CHECK, CHECK, CHECK, CHECK, CHECK, CHECK + USER, CHECK, CHECK, CHECK + USER],
      threshold: withChecks,
      states: [
        "baseline",
        "active",
        "active",
        "active",
        "active",
        "active",
        "active",
        "quiet",
        "quiet",
        "active",
      ],
    },
    {
      name: "the user's intervals are not learned as check cost (lower quartile)",
      perInterval: [CHECK, CHECK + USER, CHECK, CHECK, CHECK + 2_000, CHECK, CHECK, CHECK + 2_000],
      threshold: withChecks,
      states: ["baseline", "active", "active", "active", "active", "active", "active", "quiet", "active"],
    },
    {
      name: "ignore-checks off (no checks given): the same checks are active forever",
      perInterval: [CHECK, CHECK, CHECK, CHECK, CHECK, CHECK, CHECK],
      threshold: { thresholdBytes: 500, checkIntervalMs: INTERVAL },
      states: ["baseline", "active", "active", "active", "active", "active", "active", "active"],
    },
    {
      name: "under the threshold, nothing is subtracted (quiet as before)",
      perInterval: [100, 100, 100],
      threshold: withChecks,
      states: ["baseline", "quiet", "quiet", "quiet"],
    },
  ];

  it.each(cases)("$name", ({ perInterval, threshold, states }) => {
    expect(meter(cumulative(perInterval), threshold).map((activity) => activity.state)).toEqual(states);
  });

  it("says what it subtracted, and why nothing while it learns", () => {
    const activities = meter(cumulative([CHECK, CHECK, CHECK, CHECK, CHECK, CHECK]), withChecks);
    expect(activities[1]?.reason).toBe(
      "900 B in 10s, no check budget yet: 0 of 5 quiet intervals seen to learn a check's cost, threshold 500 B",
    );
    expect(activities[6]?.reason).toBe(
      "900 B in 10s, 900 B of 900 B taken as health checks (up to 2 × 900 B: 1 http check every 10s; 900 B per check, the lower quartile of 5 quiet intervals), threshold 500 B",
    );
  });

  it("a reset is active and is not learned as check cost", () => {
    const traffic = new TrafficMeter();
    const states = [0, 900, 1_800, 100, 1_000, 1_900, 2_800, 3_700, 4_600].map(
      (total, index) => traffic.measure(read(T0 + index * INTERVAL, total), withChecks).state,
    );
    // 100 after 1,800: the namespace's counters went down (reset). Counted, it would make the 5th learned
    // interval at index 6; skipped, the 5 usable ones are there only at index 7.
    expect(states).toEqual([
      "baseline",
      "active",
      "active",
      "active",
      "active",
      "active",
      "active",
      "quiet",
      "quiet",
    ]);
  });
});

describe("TrafficMeter: CPU and open connections turn a quiet interval active", () => {
  const interval = { thresholdBytes: 500, checkIntervalMs: INTERVAL };
  const gate = (settings: Partial<SignalSettings>): SignalSettings => ({
    ...DEFAULT_SIGNAL_SETTINGS,
    ...settings,
  });
  const cpuOnly = gate({ cpuPercent: 5 });
  const connectionsOnly = gate({ connections: { kind: "any-port" } });
  const cpu = (usageNs: number, containers = "c1"): SignalReading => ({
    cpu: { state: "measured", value: { usageNs, containers } },
  });
  /** ns of CPU time that is `percent` of one core over one INTERVAL. */
  const percentOfInterval = (percent: number) => (percent / 100) * INTERVAL * 1e6;

  /** Quiet readings (no bytes) every `every` ms from T0, each seen through `signals[i]`. */
  function quietThrough(
    signals: Array<SignalReading | undefined>,
    settings: SignalSettings,
    every = INTERVAL,
  ): Activity[] {
    const traffic = new TrafficMeter();
    traffic.measure(read(T0 - every, 0), interval);
    return signals.map((reading, index) => {
      const activity = traffic.measure(read(T0 + index * every, 0), interval);
      return reading === undefined ? activity : traffic.withSignals(activity, reading, settings, INTERVAL);
    });
  }

  const cpuCases: Array<{
    name: string;
    usage: Array<SignalReading | undefined>;
    states: Array<Activity["state"]>;
  }> = [
    {
      name: "the first CPU reading has no rate yet: a baseline",
      usage: [cpu(1e9)],
      states: ["baseline"],
    },
    {
      name: "above the gate (10% of a core) is active, at or below it (5%, 1%) quiet",
      usage: [cpu(0), cpu(percentOfInterval(10)), cpu(percentOfInterval(15)), cpu(percentOfInterval(16))],
      states: ["baseline", "active", "quiet", "quiet"],
    },
    {
      name: "over intervals it skipped (every third cycle, or busy by bytes between): their whole use below one interval at the gate is quiet",
      usage: [cpu(0), undefined, undefined, cpu(percentOfInterval(5)), cpu(percentOfInterval(6))],
      states: ["baseline", "quiet", "quiet", "quiet", "quiet"],
    },
    {
      name: "over more intervals than the stride (busy by bytes meanwhile): no rate, a baseline",
      usage: [cpu(0), undefined, undefined, undefined, cpu(percentOfInterval(1)), cpu(percentOfInterval(2))],
      states: ["baseline", "quiet", "quiet", "quiet", "baseline", "quiet"],
    },
    {
      name: "over intervals it skipped: more than one interval at the gate may have been in one of them, so active",
      usage: [cpu(0), undefined, undefined, cpu(percentOfInterval(5.1)), cpu(percentOfInterval(5.2))],
      states: ["baseline", "quiet", "quiet", "active", "quiet"],
    },
    {
      name: "another set of containers (one restarted) has no rate against the old one",
      usage: [cpu(0), cpu(percentOfInterval(1), "c1,c2"), cpu(percentOfInterval(2), "c1,c2")],
      states: ["baseline", "baseline", "quiet"],
    },
    {
      name: "a counter that went down (cgroup recreated) has no rate",
      usage: [cpu(percentOfInterval(50)), cpu(0), cpu(percentOfInterval(1))],
      states: ["baseline", "baseline", "quiet"],
    },
    {
      name: "an unreadable CPU time is unknown, and the next reading starts over",
      usage: [
        cpu(0),
        { cpu: { state: "unknown", reason: "no cgroup" } },
        cpu(percentOfInterval(50)),
        cpu(percentOfInterval(51)),
      ],
      states: ["baseline", "unknown", "baseline", "quiet"],
    },
    { name: "a gate that is on but not read is unknown", usage: [{}], states: ["unknown"] },
  ];

  it.each(cpuCases)("$name", ({ usage, states }) => {
    expect(quietThrough(usage, cpuOnly).map((activity) => activity.state)).toEqual(states);
  });

  it("over skipped intervals the reason gives the span and the most any one interval could have used", () => {
    const readings = [cpu(0), undefined, undefined, cpu(percentOfInterval(3))];
    const [, , , calm] = quietThrough(readings, cpuOnly);
    expect(calm?.reason).toBe(
      "0 B in 10s, threshold 500 B; CPU 1.0% of one core over 30s, at most 3.0% in any 10s (gate 5%)",
    );
    const [, , , busy] = quietThrough([cpu(0), undefined, undefined, cpu(percentOfInterval(12))], cpuOnly);
    expect(busy).toMatchObject({
      state: "active",
      signal: "cpu",
      reason:
        "0 B in 10s, threshold 500 B; CPU 4.0% of one core over 30s, up to 12% in one 10s: perhaps above the gate of 5%",
    });
  });

  it("the CPU reason gives the use, the interval and the gate", () => {
    const [, busy, calm] = quietThrough(
      [cpu(0), cpu(percentOfInterval(87.5)), cpu(percentOfInterval(88))],
      cpuOnly,
    );
    expect(busy).toMatchObject({
      state: "active",
      signal: "cpu",
      reason: "0 B in 10s, threshold 500 B; CPU 88% of one core over 10s, above the gate of 5%",
    });
    expect(calm).toMatchObject({
      state: "quiet",
      reason: "0 B in 10s, threshold 500 B; CPU 0.5% of one core over 10s (gate 5%)",
    });
    expect(calm?.signal).toBeUndefined();
  });

  const session = { port: 8080, peer: "172.17.0.1", peerPort: 41234 };
  const connectionCases: Array<{
    name: string;
    reading: SignalReading;
    state: Activity["state"];
    reason?: string;
  }> = [
    {
      name: "an open connection to a listening port is active, and names the port",
      reading: { sessions: { state: "measured", value: [session] } },
      state: "active",
      reason: "0 B in 10s, threshold 500 B; 1 open connection to port 8080 (from 172.17.0.1:41234)",
    },
    { name: "no connection: quiet", reading: { sessions: { state: "measured", value: [] } }, state: "quiet" },
    {
      name: "unreadable sessions: unknown",
      reading: { sessions: { state: "unknown", reason: "cannot read net/tcp" } },
      state: "unknown",
      reason: "open connections: cannot read net/tcp",
    },
  ];

  it.each(connectionCases)("$name", ({ reading, state, reason }) => {
    const [activity] = quietThrough([reading], connectionsOnly);
    expect(activity?.state).toBe(state);
    if (reason !== undefined) expect(activity?.reason).toBe(reason);
  });

  it("active wins over unknown, unknown over baseline", () => {
    const both = gate({ cpuPercent: 5, connections: { kind: "ports", ports: [8080] } });
    const [activeOverUnknown] = quietThrough(
      [{ cpu: { state: "unknown", reason: "no cgroup" }, sessions: { state: "measured", value: [session] } }],
      both,
    );
    expect(activeOverUnknown).toMatchObject({ state: "active", signal: "connections" });
    const [unknownOverBaseline] = quietThrough(
      [{ ...cpu(0), sessions: { state: "unknown", reason: "cannot read net/tcp" } }],
      both,
    );
    expect(unknownOverBaseline?.state).toBe("unknown");
  });

  it("a signal that is off is not looked at", () => {
    const [activity] = quietThrough(
      [{ sessions: { state: "measured", value: [session] } }],
      DEFAULT_SIGNAL_SETTINGS,
    );
    expect(activity).toMatchObject({ state: "quiet", reason: "0 B in 10s, threshold 500 B" });
  });
});

describe("what a cycle reads of a quiet allocation (fake time)", () => {
  const MINUTE = 60 * SECOND;
  const both = { ...DEFAULT_SIGNAL_SETTINGS, cpuPercent: 5, connections: { kind: "any-port" } } as const;
  const policy = (warnBeforeMs: number, timeoutMs = 15 * MINUTE, signals: SignalSettings = both) => ({
    signals,
    timeoutMs,
    schedule: { warnBeforeMs },
  });
  /** "cpu", "connections", both joined by "+", or "-" for nothing. */
  const what = (settings: SignalSettings) =>
    [settings.cpuPercent !== undefined && "cpu", settings.connections.kind !== "off" && "connections"]
      .filter(Boolean)
      .join("+") || "-";

  const cases: Array<{
    name: string;
    policy: ReturnType<typeof policy>;
    /** Each cycle: minutes since the quiet stretch began (undefined: none yet), and whether the CPU is due. */
    cycles: Array<{ quietFor: number | undefined; cpuDue: boolean; stretch?: number }>;
    reads: string[];
  }> = [
    {
      name: "far from the warning and the timeout: the CPU when due, never the connections",
      policy: policy(10 * MINUTE),
      cycles: [
        { quietFor: undefined, cpuDue: true },
        { quietFor: 0, cpuDue: true },
        { quietFor: 1, cpuDue: false },
        { quietFor: 2, cpuDue: false },
        { quietFor: 3, cpuDue: true },
      ],
      reads: ["cpu", "cpu", "-", "-", "cpu"],
    },
    {
      name: "as the warning comes due (from one interval before timeout − warn-before): everything once per quiet stretch, again in a new one",
      policy: policy(10 * MINUTE),
      cycles: [
        { quietFor: 3, cpuDue: false },
        { quietFor: 4, cpuDue: false },
        { quietFor: 5, cpuDue: false },
        { quietFor: 6, cpuDue: true },
        { quietFor: 4.5, cpuDue: false, stretch: 2 },
      ],
      reads: ["-", "cpu+connections", "-", "cpu", "cpu+connections"],
    },
    {
      name: "from two intervals before the timeout on: everything, every cycle",
      policy: policy(10 * MINUTE),
      cycles: [
        { quietFor: 12, cpuDue: false },
        { quietFor: 13, cpuDue: false },
        { quietFor: 14, cpuDue: false },
        { quietFor: 15, cpuDue: false },
        { quietFor: 40, cpuDue: false },
      ],
      reads: ["cpu+connections", "cpu+connections", "cpu+connections", "cpu+connections", "cpu+connections"],
    },
    {
      name: "a warn-before longer than the timeout: the warning comes after one interval of quiet, its read one before",
      policy: policy(10 * MINUTE, 5 * MINUTE),
      cycles: [
        { quietFor: 0, cpuDue: false },
        { quietFor: 1, cpuDue: false },
        { quietFor: 2, cpuDue: false },
        { quietFor: 3, cpuDue: false },
      ],
      reads: ["cpu+connections", "-", "-", "cpu+connections"],
    },
    {
      name: "no warning (warn-before 0): nothing read for it",
      policy: policy(0),
      cycles: [
        { quietFor: 4, cpuDue: false },
        { quietFor: 12, cpuDue: false },
        { quietFor: 13, cpuDue: false },
      ],
      reads: ["-", "-", "cpu+connections"],
    },
    {
      name: "a timeout shorter than two intervals: everything, every cycle of a quiet stretch",
      policy: policy(10 * MINUTE, 1.5 * MINUTE),
      cycles: [
        { quietFor: 0, cpuDue: false },
        { quietFor: 1, cpuDue: false },
      ],
      reads: ["cpu+connections", "cpu+connections"],
    },
    {
      name: "a signal that is off is never read, even at the timeout",
      policy: policy(10 * MINUTE, 15 * MINUTE, { ...both, connections: { kind: "off" } }),
      cycles: [
        { quietFor: 5, cpuDue: false },
        { quietFor: 15, cpuDue: false },
      ],
      reads: ["cpu", "cpu"],
    },
  ];

  it.each(cases)("$name", ({ policy: groupPolicy, cycles, reads }) => {
    const schedule = new SignalSchedule(MINUTE);
    const read = cycles.map(({ quietFor, cpuDue, stretch = 1 }, index) => {
      const at = T0 + stretch * 100 * MINUTE + index * MINUTE;
      const quietSince = quietFor === undefined ? undefined : at - quietFor * MINUTE;
      return what(schedule.toRead(A, groupPolicy, quietSince, at, cpuDue));
    });
    expect(read).toEqual(reads);
  });

  /** The CPU of one allocation read at these minutes with these cumulative ns; then due at `at`? */
  function dueAfter(readings: Array<[minute: number, usageNs: number]>, atMinute: number): boolean {
    const traffic = new TrafficMeter();
    const settings = { ...DEFAULT_SIGNAL_SETTINGS, cpuPercent: 6 };
    for (const [minute, usageNs] of readings) {
      const quiet: Activity = {
        allocId: A,
        at: T0 + minute * MINUTE,
        bytes: 0,
        state: "quiet",
        reason: "0 B",
      };
      const cpu: SignalReading = { cpu: { state: "measured", value: { usageNs, containers: "c1" } } };
      traffic.withSignals(quiet, cpu, settings, MINUTE);
    }
    return traffic.cpuReadDue(A, T0 + atMinute * MINUTE, 6, MINUTE);
  }
  /** ns that are `percent` of one core over `minutes`. */
  const ns = (percent: number, minutes = 1) => (percent / 100) * minutes * MINUTE * 1e6;

  it.each([
    { name: "never read: due", readings: [], at: 0, due: true },
    { name: "one reading, no rate yet: due the next cycle", readings: [[0, 0]], at: 1, due: true },
    {
      name: "last rate above a third of the gate (2.5% of 6%): due every cycle",
      readings: [
        [0, 0],
        [1, ns(2.5)],
      ],
      at: 2,
      due: true,
    },
    {
      name: "last rate at a third of the gate or below (2%): not due one interval later",
      readings: [
        [0, 0],
        [1, ns(2)],
      ],
      at: 2,
      due: false,
    },
    {
      name: "…nor two",
      readings: [
        [0, 0],
        [1, ns(2)],
      ],
      at: 3,
      due: false,
    },
    {
      name: "…but three",
      readings: [
        [0, 0],
        [1, ns(2)],
      ],
      at: 4,
      due: true,
    },
    {
      name: "a quiet read over three intervals far below the gate: every third cycle still",
      readings: [
        [0, 0],
        [1, ns(1)],
        [4, ns(1) + ns(1, 3)],
      ],
      at: 6,
      due: false,
    },
  ] as Array<{ name: string; readings: Array<[number, number]>; at: number; due: boolean }>)(
    "$name",
    ({ readings, at, due }) => {
      expect(dueAfter(readings, at)).toBe(due);
    },
  );
});

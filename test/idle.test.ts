import { describe, expect, it } from "vitest";
import { ActivityTracker, decideGroup } from "../src/decide/idle-timer.js";
import { TrafficMeter } from "../src/decide/meter.js";
import type { Activity, Reading } from "../src/model/readings.js";
import type { GroupPolicy } from "../src/policy.js";
import { testPolicy } from "./support/policy.js";

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const SECOND = 1_000;
const MINUTE = 60_000;
const INTERVAL = MINUTE;
const policy: GroupPolicy = testPolicy({ timeoutMs: 5 * MINUTE, thresholdBytes: 500, action: "stop" });
const threshold = { thresholdBytes: policy.thresholdBytes, checkIntervalMs: INTERVAL };

/** A reading of one allocation with one namespace whose cumulative counter is `total`. */
function read(allocId: string, at: number, total: number): Reading {
  return { allocId, at, state: "measured", counters: new Map([[`ns-${allocId}`, total]]) };
}

function readNamespaces(allocId: string, at: number, counters: Record<string, number>): Reading {
  return { allocId, at, state: "measured", counters: new Map(Object.entries(counters)) };
}

function cannotRead(allocId: string, at: number, reason = "container missing"): Reading {
  return { allocId, at, state: "unknown", reason };
}

/** One reading per minute from `from` to `to` (inclusive) with an unchanged counter. */
function quietMinutes(allocId: string, from: number, to: number, total: number): Reading[] {
  const readings: Reading[] = [];
  for (let at = from; at <= to; at += MINUTE) readings.push(read(allocId, at, total));
  return readings;
}

describe("TrafficMeter: readings become activity", () => {
  const a = "a1";
  const cases: Array<{ name: string; readings: Reading[]; expected: Array<[Activity["state"], number]> }> = [
    { name: "first reading is a baseline", readings: [read(a, T0, 9_000)], expected: [["baseline", 0]] },
    {
      name: "exactly the threshold is quiet (activity must exceed it)",
      readings: [read(a, T0, 1_000), read(a, T0 + MINUTE, 1_500)],
      expected: [
        ["baseline", 0],
        ["quiet", 500],
      ],
    },
    {
      name: "one byte above the threshold is active",
      readings: [read(a, T0, 1_000), read(a, T0 + MINUTE, 1_501)],
      expected: [
        ["baseline", 0],
        ["active", 501],
      ],
    },
    {
      name: "a late cycle (2× elapsed) allows no more than one interval's threshold",
      readings: [read(a, T0, 0), read(a, T0 + 2 * MINUTE, 500), read(a, T0 + 4 * MINUTE, 1_001)],
      expected: [
        ["baseline", 0],
        ["quiet", 500],
        ["active", 501],
      ],
    },
    {
      name: "an early cycle (half elapsed) allows half the bytes",
      readings: [read(a, T0, 0), read(a, T0 + 30 * SECOND, 250), read(a, T0 + 60 * SECOND, 501)],
      expected: [
        ["baseline", 0],
        ["quiet", 250],
        ["active", 251],
      ],
    },
    {
      name: "namespaces of one allocation are summed",
      readings: [
        readNamespaces(a, T0, { pause: 0, app: 0 }),
        readNamespaces(a, T0 + MINUTE, { pause: 300, app: 200 }),
        readNamespaces(a, T0 + 2 * MINUTE, { pause: 600, app: 401 }),
      ],
      expected: [
        ["baseline", 0],
        ["quiet", 500],
        ["active", 501],
      ],
    },
    {
      name: "a counter that went down is a reset and counts as activity",
      readings: [read(a, T0, 10_000), read(a, T0 + MINUTE, 10)],
      expected: [
        ["baseline", 0],
        ["active", 10],
      ],
    },
    {
      name: "a new namespace (container restarted) counts as activity, even without bytes",
      readings: [readNamespaces(a, T0, { old: 5_000 }), readNamespaces(a, T0 + MINUTE, { new: 0 })],
      expected: [
        ["baseline", 0],
        ["active", 0],
      ],
    },
    {
      name: "a namespace added beside the known one counts as activity",
      readings: [
        readNamespaces(a, T0, { pause: 100 }),
        readNamespaces(a, T0 + MINUTE, { pause: 100, extra: 0 }),
      ],
      expected: [
        ["baseline", 0],
        ["active", 0],
      ],
    },
    {
      name: "an unreadable allocation is unknown",
      readings: [read(a, T0, 0), cannotRead(a, T0 + MINUTE)],
      expected: [
        ["baseline", 0],
        ["unknown", 0],
      ],
    },
    {
      name: "a reading without any namespace is unknown, not quiet",
      readings: [read(a, T0, 0), readNamespaces(a, T0 + MINUTE, {}), read(a, T0 + 2 * MINUTE, 1_001)],
      expected: [
        ["baseline", 0],
        ["unknown", 0],
        ["active", 1_001],
      ],
    },
    {
      name: "after a gap, bytes within one interval's threshold are quiet",
      readings: [
        read(a, T0, 0),
        cannotRead(a, T0 + MINUTE),
        cannotRead(a, T0 + 2 * MINUTE),
        read(a, T0 + 3 * MINUTE, 500),
      ],
      expected: [
        ["baseline", 0],
        ["unknown", 0],
        ["unknown", 0],
        ["quiet", 500],
      ],
    },
    {
      name: "defect 5: after a long gap, a burst just before Docker came back is activity, never averaged away",
      readings: [
        read(a, T0, 0),
        ...Array.from({ length: 9 }, (_, k) => cannotRead(a, T0 + (k + 1) * MINUTE)),
        read(a, T0 + 10 * MINUTE, 2_000),
      ],
      expected: [
        ["baseline", 0],
        ...Array.from({ length: 9 }, () => ["unknown", 0] as [Activity["state"], number]),
        ["active", 2_000],
      ],
    },
    {
      name: "after a gap, bytes above the threshold for the whole gap are active",
      readings: [read(a, T0, 0), cannotRead(a, T0 + MINUTE), read(a, T0 + 2 * MINUTE, 1_001)],
      expected: [
        ["baseline", 0],
        ["unknown", 0],
        ["active", 1_001],
      ],
    },
    {
      name: "the first good reading after only unknown ones is the baseline",
      readings: [cannotRead(a, T0), read(a, T0 + MINUTE, 70_000)],
      expected: [
        ["unknown", 0],
        ["baseline", 0],
      ],
    },
  ];
  it.each(cases)("$name", ({ readings, expected }) => {
    const meter = new TrafficMeter();
    const activity = readings.map((reading) => meter.measure(reading, threshold));
    expect(activity.map(({ state, bytes }) => [state, bytes])).toEqual(expected);
    expect(activity.map(({ allocId, at }) => [allocId, at])).toEqual(
      readings.map(({ allocId, at }) => [allocId, at]),
    );
  });

  it("a threshold of zero makes any byte activity", () => {
    const meter = new TrafficMeter();
    const zero = { thresholdBytes: 0, checkIntervalMs: INTERVAL };
    meter.measure(read(a, T0, 0), zero);
    expect(meter.measure(read(a, T0 + MINUTE, 0), zero).state).toBe("quiet");
    expect(meter.measure(read(a, T0 + 2 * MINUTE, 1), zero).state).toBe("active");
  });

  it("keeps a baseline per allocation, and starts over after forget", () => {
    const meter = new TrafficMeter();
    meter.measure(read("a1", T0, 0), threshold);
    expect(meter.measure(read("a2", T0, 50_000), threshold).state).toBe("baseline");
    expect(meter.measure(read("a2", T0 + MINUTE, 50_000), threshold).state).toBe("quiet");
    expect(meter.measure(read("a1", T0 + MINUTE, 50_000), threshold).state).toBe("active");
    meter.forget("a1");
    expect(meter.measure(read("a1", T0 + 2 * MINUTE, 99_000), threshold).state).toBe("baseline");
  });

  it("says why in the reason", () => {
    const meter = new TrafficMeter();
    meter.measure(read(a, T0, 0), threshold);
    expect(meter.measure(read(a, T0 + 30 * SECOND, 120), threshold).reason).toBe(
      "120 B in 30s, threshold 250 B",
    );
    expect(meter.measure(cannotRead(a, T0 + MINUTE, "host networking"), threshold).reason).toBe(
      "host networking",
    );
    expect(meter.measure(read(a, T0 + 4 * MINUTE, 0), threshold).reason).toMatch(/ns-a1 went down/);
    meter.measure(read(a, T0 + 5 * MINUTE, 0), threshold);
    expect(meter.measure(read(a, T0 + 15 * MINUTE, 320), threshold).reason).toBe(
      "320 B in 10m, threshold 500 B (one interval's worth after a gap)",
    );
  });
});

interface GroupCase {
  name: string;
  readings: Reading[];
  startedAt?: Record<string, number>;
  group: string[];
  now: number;
  expected: unknown;
}

function decide({ readings, startedAt = {}, group, now }: GroupCase) {
  const meter = new TrafficMeter();
  const tracker = new ActivityTracker();
  for (const reading of readings) {
    tracker.record(meter.measure(reading, threshold), startedAt[reading.allocId] ?? T0 - MINUTE);
  }
  return decideGroup(
    group.map((allocId) => tracker.stateOf(allocId)),
    policy,
    now,
    INTERVAL,
  );
}

describe("decideGroup", () => {
  const A = "aaaaaaaa-1111-2222-3333-444444444444";
  const B = "bbbbbbbb-1111-2222-3333-444444444444";
  const cases: GroupCase[] = [
    {
      name: "no live allocations: not idle",
      readings: [],
      group: [],
      now: T0,
      expected: { kind: "active", idleForMs: 0, reason: "no live allocations" },
    },
    {
      name: "quiet for the timeout: idle",
      readings: quietMinutes(A, T0, T0 + 5 * MINUTE, 100),
      group: [A],
      now: T0 + 5 * MINUTE,
      expected: {
        kind: "idle",
        idleForMs: 5 * MINUTE,
        bytesSeen: 0,
        reason: "idle for 5m, 0 B seen, threshold 500 B per 1m",
      },
    },
    {
      name: "quiet for less than the timeout: not yet",
      readings: quietMinutes(A, T0, T0 + 4 * MINUTE, 100),
      group: [A],
      now: T0 + 4 * MINUTE + 59 * SECOND,
      expected: { kind: "active", idleForMs: 4 * MINUTE + 59 * SECOND, reason: "quiet for 4m59s of 5m" },
    },
    {
      name: "bytes seen since the last activity are reported",
      readings: [
        read(A, T0, 0),
        read(A, T0 + MINUTE, 5_000),
        read(A, T0 + 2 * MINUTE, 5_100),
        read(A, T0 + 3 * MINUTE, 5_100),
        read(A, T0 + 4 * MINUTE, 5_300),
        read(A, T0 + 5 * MINUTE, 5_320),
        read(A, T0 + 6 * MINUTE, 5_320),
      ],
      group: [A],
      now: T0 + 6 * MINUTE,
      expected: {
        kind: "idle",
        idleForMs: 5 * MINUTE,
        bytesSeen: 320,
        reason: "idle for 5m, 320 B seen, threshold 500 B per 1m",
      },
    },
    {
      name: "latest reading unknown: unknown, however long it was quiet before",
      readings: [
        ...quietMinutes(A, T0, T0 + 10 * MINUTE, 0),
        cannotRead(A, T0 + 11 * MINUTE, "container missing"),
      ],
      group: [A],
      now: T0 + 11 * MINUTE,
      expected: {
        kind: "unknown",
        reason: "allocation aaaaaaaa unknown: container missing",
        unmeasured: [A],
        why: "container missing",
      },
    },
    {
      name: "never measured: unknown",
      readings: [],
      group: [A],
      now: T0,
      expected: {
        kind: "unknown",
        reason: "allocation aaaaaaaa unknown: not measured yet",
        unmeasured: [A],
        why: "not measured yet",
      },
    },
    {
      name: "unknown gap then quiet: the timer runs through the gap",
      readings: [
        read(A, T0, 0),
        cannotRead(A, T0 + MINUTE),
        cannotRead(A, T0 + 2 * MINUTE),
        cannotRead(A, T0 + 3 * MINUTE),
        read(A, T0 + 4 * MINUTE, 400),
        read(A, T0 + 5 * MINUTE, 400),
      ],
      group: [A],
      now: T0 + 5 * MINUTE,
      expected: {
        kind: "idle",
        idleForMs: 5 * MINUTE,
        bytesSeen: 400,
        reason: expect.stringMatching(/^idle for 5m/),
      },
    },
    {
      name: "unknown gap then bytes: active from the end of the gap",
      readings: [
        read(A, T0, 0),
        cannotRead(A, T0 + MINUTE),
        cannotRead(A, T0 + 2 * MINUTE),
        cannotRead(A, T0 + 3 * MINUTE),
        ...quietMinutes(A, T0 + 4 * MINUTE, T0 + 8 * MINUTE, 2_001),
      ],
      group: [A],
      now: T0 + 8 * MINUTE,
      expected: { kind: "active", idleForMs: 4 * MINUTE, reason: "quiet for 4m of 5m" },
    },
    {
      name: "counter reset restarts the timer",
      readings: [
        ...quietMinutes(A, T0, T0 + 3 * MINUTE, 80_000),
        ...quietMinutes(A, T0 + 4 * MINUTE, T0 + 5 * MINUTE, 20),
      ],
      group: [A],
      now: T0 + 5 * MINUTE,
      expected: { kind: "active", idleForMs: MINUTE, reason: "quiet for 1m of 5m" },
    },
    {
      name: "new namespace (container restarted) restarts the timer",
      readings: [
        ...[0, 1, 2, 3].map((minute) => readNamespaces(A, T0 + minute * MINUTE, { first: 0 })),
        ...[4, 5].map((minute) => readNamespaces(A, T0 + minute * MINUTE, { second: 0 })),
      ],
      group: [A],
      now: T0 + 5 * MINUTE,
      expected: { kind: "active", idleForMs: MINUTE, reason: "quiet for 1m of 5m" },
    },
    {
      name: "allocation started long before the first reading: the timer starts at the first reading",
      readings: quietMinutes(A, T0, T0 + 4 * MINUTE, 0),
      startedAt: { [A]: T0 - 60 * MINUTE },
      group: [A],
      now: T0 + 4 * MINUTE,
      expected: { kind: "active", idleForMs: 4 * MINUTE, reason: "quiet for 4m of 5m" },
    },
    {
      name: "allocation started after its first reading: the timer starts at the allocation's start",
      readings: quietMinutes(A, T0, T0 + 5 * MINUTE, 0),
      startedAt: { [A]: T0 + 30 * SECOND },
      group: [A],
      now: T0 + 5 * MINUTE,
      expected: { kind: "active", idleForMs: 4 * MINUTE + 30 * SECOND, reason: "quiet for 4m30s of 5m" },
    },
    {
      name: "several allocations all quiet: idle for the least idle one, bytes summed",
      readings: [
        ...quietMinutes(A, T0, T0 + 7 * MINUTE, 0),
        read(B, T0 + MINUTE, 0),
        read(B, T0 + 2 * MINUTE, 100),
        ...quietMinutes(B, T0 + 3 * MINUTE, T0 + 7 * MINUTE, 250),
      ],
      group: [A, B],
      now: T0 + 7 * MINUTE,
      expected: {
        kind: "idle",
        idleForMs: 6 * MINUTE,
        bytesSeen: 250,
        reason: "idle for 6m, 250 B seen, threshold 500 B per 1m",
      },
    },
    {
      name: "one active allocation keeps the group",
      readings: [
        ...quietMinutes(A, T0, T0 + 5 * MINUTE, 0),
        ...quietMinutes(B, T0, T0 + 2 * MINUTE, 0),
        ...quietMinutes(B, T0 + 3 * MINUTE, T0 + 5 * MINUTE, 9_000),
      ],
      group: [A, B],
      now: T0 + 5 * MINUTE,
      expected: { kind: "active", idleForMs: 2 * MINUTE, reason: "allocation bbbbbbbb quiet for 2m of 5m" },
    },
    {
      name: "one unknown allocation makes the group unknown",
      readings: [
        ...quietMinutes(A, T0, T0 + 5 * MINUTE, 0),
        ...quietMinutes(B, T0, T0 + 4 * MINUTE, 0),
        cannotRead(B, T0 + 5 * MINUTE, "host networking"),
      ],
      group: [A, B],
      now: T0 + 5 * MINUTE,
      expected: {
        kind: "unknown",
        reason: "allocation bbbbbbbb unknown: host networking",
        unmeasured: [B],
        why: "host networking",
      },
    },
    {
      name: "several unknown allocations are counted",
      readings: [cannotRead(A, T0), cannotRead(B, T0)],
      group: [A, B],
      now: T0,
      expected: {
        kind: "unknown",
        reason: "allocation aaaaaaaa unknown: container missing (and 1 more)",
        unmeasured: [A, B],
        why: "container missing",
      },
    },
  ];
  it.each(cases)("$name", (groupCase) => {
    expect(decide(groupCase)).toEqual(groupCase.expected);
  });

  // design.md: a group is acted on once it has been quiet for the timeout; with samples every interval
  // that happens at most one interval later than the timeout after the last traffic.
  const trafficMoments = [
    { name: "just after a cycle", trafficAt: T0 + 2 * MINUTE + 1 },
    { name: "mid-interval", trafficAt: T0 + 2 * MINUTE + 30 * SECOND },
    { name: "just before a cycle", trafficAt: T0 + 3 * MINUTE - 1 },
    { name: "exactly at a cycle", trafficAt: T0 + 3 * MINUTE },
  ];
  it.each(trafficMoments)("traffic $name: idle within timeout + one interval after it", ({ trafficAt }) => {
    const meter = new TrafficMeter();
    const tracker = new ActivityTracker();
    let firstIdleAt: number | undefined;
    for (let now = T0; now <= T0 + 30 * MINUTE && firstIdleAt === undefined; now += INTERVAL) {
      const total = now >= trafficAt ? 1_000_000 : 0;
      tracker.record(meter.measure(read("a1", now, total), threshold), T0);
      if (decideGroup([tracker.stateOf("a1")], policy, now, INTERVAL).kind === "idle") firstIdleAt = now;
    }
    expect(firstIdleAt).toBeDefined();
    expect(firstIdleAt).toBeGreaterThanOrEqual(trafficAt + policy.timeoutMs);
    expect(firstIdleAt).toBeLessThanOrEqual(trafficAt + policy.timeoutMs + INTERVAL);
  });
});

describe("ActivityTracker: activity from any source", () => {
  it("takes Activity records directly, and forget drops the allocation", () => {
    const tracker = new ActivityTracker();
    const remote = (at: number, state: Activity["state"], bytes = 0): Activity => ({
      allocId: "r1",
      at,
      bytes,
      state,
      reason: "shared by another node",
    });
    tracker.record(remote(T0, "quiet", 40), T0 - MINUTE);
    tracker.record(remote(T0 + MINUTE, "active", 9_000), T0 - MINUTE);
    const state = tracker.record(remote(T0 + 2 * MINUTE, "quiet", 60), T0 - MINUTE);
    expect(state).toEqual({
      allocId: "r1",
      quietSince: T0 + MINUTE,
      bytesSinceActive: 60,
      unknownReason: undefined,
    });
    expect(decideGroup([tracker.stateOf("r1")], policy, T0 + 6 * MINUTE, INTERVAL).kind).toBe("idle");

    tracker.forget("r1");
    expect(decideGroup([tracker.stateOf("r1")], policy, T0 + 6 * MINUTE, INTERVAL).kind).toBe("unknown");
  });
});

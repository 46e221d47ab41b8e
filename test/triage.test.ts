import { describe, expect, it } from "vitest";
import type { GroupVerdict } from "../src/decide/causes.js";
import {
  describeFiring,
  describeFiringWait,
  describeSkippedFiring,
  describeWarning,
} from "../src/decide/describe.js";
import type { GroupDecision } from "../src/decide/idle-timer.js";
import { firedTogether, lookAtStopAt, type StopAtMemory } from "../src/decide/stop-at.js";
import { triage } from "../src/decide/triage.js";
import { warningsDue } from "../src/decide/warnings.js";
import type { GroupPolicy } from "../src/policy.js";
import { testPolicy } from "./support/policy.js";

// The rules that hold a group back or warn of it before the fresh look at Nomad (decide/triage.ts,
// stop-at.ts, warnings.ts), as tables on fixed times.

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 11, 1, 9, 0, 0);
const GRACE = 5 * MINUTE;

const idle: GroupDecision = { kind: "idle", idleForMs: 16 * MINUTE, bytesSeen: 40, reason: "idle for 16m" };
const active: GroupDecision = { kind: "active", idleForMs: 2 * MINUTE, reason: "quiet for 2m of 15m" };

function policy(meta: Record<string, string> = {}, action: GroupPolicy["action"] = "stop"): GroupPolicy {
  return testPolicy({ timeoutMs: 15 * MINUTE, thresholdBytes: 500, action }, meta);
}

function verdict(group: string, decision: GroupDecision, meta: Record<string, string> = {}): GroupVerdict {
  return { group, policy: policy(meta), decision, measured: new Set() };
}

describe("triage: schedules and the cooldown, decided once before the fresh look", () => {
  const keepAlive = { "idle-monitor.keep-alive": "* 8-18 * * *" };
  const cases: Array<{
    name: string;
    verdicts: GroupVerdict[];
    cooldownUntil?: number;
    held: Record<string, string>;
    cooldown: boolean;
    look: boolean;
  }> = [
    {
      name: "an idle group, nothing in the way: look",
      verdicts: [verdict("web", idle)],
      held: {},
      cooldown: false,
      look: true,
    },
    {
      name: "no idle group: nothing to look at",
      verdicts: [verdict("web", active)],
      held: {},
      cooldown: false,
      look: false,
    },
    {
      name: "idle in a keep-alive window: held, no look",
      verdicts: [verdict("web", idle, keepAlive)],
      held: { web: "keep-alive" },
      cooldown: false,
      look: false,
    },
    {
      name: "idle before exclude-until: held, no look",
      verdicts: [verdict("web", idle, { "idle-monitor.exclude-until": "2026-12-01T12:00:00Z" })],
      held: { web: "excluded" },
      cooldown: false,
      look: false,
    },
    {
      name: "exclude-until has passed: look",
      verdicts: [verdict("web", idle, { "idle-monitor.exclude-until": "2026-11-30" })],
      held: {},
      cooldown: false,
      look: true,
    },
    {
      name: "an active group in a keep-alive window is not held: its activity is what counts",
      verdicts: [verdict("web", active, keepAlive)],
      held: {},
      cooldown: false,
      look: false,
    },
    {
      name: "one group held, another idle and free: look, the held one waits",
      verdicts: [verdict("web", idle, keepAlive), verdict("db", idle)],
      held: { web: "keep-alive" },
      cooldown: false,
      look: true,
    },
    {
      name: "in the cooldown: no look",
      verdicts: [verdict("web", idle)],
      cooldownUntil: NOW + MINUTE,
      held: {},
      cooldown: true,
      look: false,
    },
    {
      name: "the cooldown ends now: look",
      verdicts: [verdict("web", idle)],
      cooldownUntil: NOW,
      held: {},
      cooldown: false,
      look: true,
    },
  ];

  it.each(cases)("$name", ({ verdicts, cooldownUntil, held, cooldown, look }) => {
    const result = triage(verdicts, cooldownUntil, NOW);
    expect(Object.fromEntries([...result.held].map(([group, cause]) => [group, cause.kind]))).toEqual(held);
    expect(result.cooldown !== undefined).toBe(cooldown);
    expect(result.look).toBe(look);
  });

  it("the cooldown says until when", () => {
    expect(triage([verdict("web", idle)], NOW + MINUTE, NOW).cooldown).toEqual({
      kind: "cooldown",
      untilMs: NOW + MINUTE,
    });
  });
});

describe("lookAtStopAt: a firing since the last look, never one from before the allocations started", () => {
  const schedule = policy({ "idle-monitor.stop-at": "0 9 * * *" }).schedule;
  const none = policy().schedule;
  const looked = (evaluatedAt: number, pending?: number): StopAtMemory => ({ evaluatedAt, pending });
  const cases: Array<{
    name: string;
    schedule?: typeof schedule;
    memory?: StopAtMemory;
    restoredFrom?: number;
    startedAt?: number[];
    now: number;
    firing?: number;
    skipped?: number;
    memoryAfter: StopAtMemory | undefined;
  }> = [
    {
      name: "no stop-at: nothing fires, nothing is remembered",
      schedule: none,
      now: NOW,
      memoryAfter: undefined,
    },
    {
      name: "the first look right after the firing: due (within the grace)",
      now: NOW + 10_000,
      firing: NOW,
      memoryAfter: looked(NOW + 10_000, NOW),
    },
    {
      name: "the first look long after the firing: nothing (only the grace counts without a record)",
      now: NOW + 10 * MINUTE,
      memoryAfter: looked(NOW + 10 * MINUTE),
    },
    {
      name: "the firing between two looks: due",
      memory: looked(NOW - MINUTE),
      now: NOW + 1_000,
      firing: NOW,
      memoryAfter: looked(NOW + 1_000, NOW),
    },
    {
      name: "the next look after it was carried out: nothing again",
      memory: looked(NOW + 1_000),
      now: NOW + MINUTE,
      memoryAfter: looked(NOW + MINUTE),
    },
    {
      name: "not carried out yet (Nomad refused): due again within the grace",
      memory: looked(NOW + 1_000, NOW),
      now: NOW + 2 * MINUTE,
      firing: NOW,
      memoryAfter: looked(NOW + 2 * MINUTE, NOW),
    },
    {
      name: "still not carried out past the grace: dropped",
      memory: looked(NOW + 4 * MINUTE, NOW),
      now: NOW + GRACE + 1,
      memoryAfter: looked(NOW + GRACE + 1),
    },
    {
      name: "the allocations started after the firing: not stopped for it",
      memory: looked(NOW - MINUTE),
      startedAt: [NOW + 500],
      now: NOW + 1_000,
      memoryAfter: looked(NOW + 1_000),
    },
    {
      name: "after a restart: a firing since the last report, within the grace, is due",
      restoredFrom: NOW - 2 * MINUTE,
      now: NOW + 3 * MINUTE,
      firing: NOW,
      memoryAfter: looked(NOW + 3 * MINUTE, NOW),
    },
    {
      name: "after a restart: a firing missed by more than the grace is skipped, and said",
      restoredFrom: NOW - 2 * MINUTE,
      now: NOW + 20 * MINUTE,
      skipped: NOW,
      memoryAfter: looked(NOW + 20 * MINUTE),
    },
  ];

  it.each(cases)("$name", (spec) => {
    const look = lookAtStopAt({
      schedule: spec.schedule ?? schedule,
      memory: spec.memory,
      restoredFrom: spec.restoredFrom,
      startedAt: spec.startedAt ?? [NOW - 60 * MINUTE],
      now: spec.now,
      graceMs: GRACE,
    });
    expect(look.firing).toBe(spec.firing);
    expect(look.skipped?.firing).toBe(spec.skipped);
    expect(look.memory).toEqual(spec.memoryAfter);
  });

  it("groups of one job that fired at the same time are acted on together; another firing waits", () => {
    expect(
      firedTogether([
        { group: "a", firing: undefined },
        { group: "b", firing: NOW },
        { group: "c", firing: NOW - MINUTE },
        { group: "d", firing: NOW },
      ]),
    ).toEqual({ firing: NOW, groups: ["b", "d"] });
    expect(firedTogether([{ group: "a", firing: undefined }])).toBeUndefined();
  });

  it("says a firing, a firing it does not act on, and a skipped one in the job's words", () => {
    expect(describeFiring("web", schedule, NOW)).toBe(
      'group web: its stop-at "0 9 * * *" fired at 2026-12-01 09:00 UTC (acting whatever its activity)',
    );
    expect(
      describeFiringWait("dev", "web", schedule, NOW, { kind: "job-changed", changes: ["policy"] }, NOW),
    ).toBe(
      'group web: its stop-at "0 9 * * *" fired at 2026-12-01 09:00 UTC (acting whatever its activity), but not acting: job dev group web: it no longer has that stop-at',
    );
    expect(describeSkippedFiring("dev", "web", "UTC", { firing: NOW, lateByMs: 20 * MINUTE }, GRACE)).toBe(
      "job dev group web: its stop-at fired at 2026-12-01 09:00 UTC while this monitor was not running (20m ago, more than the grace of 5m); not carrying it out late",
    );
  });
});

describe("warningsDue: within warn-before of an action, never of one the schedule holds back", () => {
  const quietFor = (ms: number): GroupDecision => ({ kind: "active", idleForMs: ms, reason: "quiet" });
  const cases: Array<{
    name: string;
    meta?: Record<string, string>;
    decision: GroupDecision;
    expected: Array<{ kind: string; at: number }>;
  }> = [
    {
      name: "quiet 10 of 15 minutes, warn-before 10m: the idle stop in 5m",
      decision: quietFor(10 * MINUTE),
      expected: [{ kind: "idle", at: NOW + 5 * MINUTE }],
    },
    {
      name: "quiet 4 of 15 minutes: 11m ahead, beyond warn-before",
      decision: quietFor(4 * MINUTE),
      expected: [],
    },
    {
      name: "less than one interval of quiet: nothing yet",
      meta: { "idle-monitor.warn-before": "15m" },
      decision: quietFor(30_000),
      expected: [],
    },
    {
      name: "warn-before 0: never",
      meta: { "idle-monitor.warn-before": "0" },
      decision: quietFor(10 * MINUTE),
      expected: [],
    },
    { name: "already idle: the act says it, not a warning", decision: idle, expected: [] },
    {
      name: "the stop would fall in a keep-alive window: no warning",
      meta: { "idle-monitor.keep-alive": "* 9 * * *" },
      decision: quietFor(10 * MINUTE),
      expected: [],
    },
    {
      name: "the stop would fall before exclude-until: no warning",
      meta: { "idle-monitor.exclude-until": "2026-12-01T10:00:00Z" },
      decision: quietFor(10 * MINUTE),
      expected: [],
    },
    {
      name: "a stop-at within warn-before: warned whatever the activity",
      meta: { "idle-monitor.stop-at": "5 9 * * *" },
      decision: quietFor(0),
      expected: [{ kind: "stop-at", at: NOW + 5 * MINUTE }],
    },
    {
      name: "a stop-at and the idle stop: both",
      meta: { "idle-monitor.stop-at": "8 9 * * *" },
      decision: quietFor(10 * MINUTE),
      expected: [
        { kind: "stop-at", at: NOW + 8 * MINUTE },
        { kind: "idle", at: NOW + 5 * MINUTE },
      ],
    },
    {
      name: "a stop-at beyond warn-before: not yet",
      meta: { "idle-monitor.stop-at": "30 9 * * *" },
      decision: quietFor(0),
      expected: [],
    },
  ];

  it.each(cases)("$name", ({ meta, decision, expected }) => {
    const warnings = warningsDue(verdict("web", decision, meta), NOW, MINUTE);
    expect(warnings.map(({ kind, at }) => ({ kind, at }))).toEqual(expected);
  });

  it("says when and what will happen, in the schedule's zone", () => {
    const scaled = policy({ "idle-monitor.timezone": "Europe/Berlin" }, "scale-to-zero");
    expect(
      describeWarning(
        "dev",
        "web",
        scaled,
        { kind: "idle", at: NOW + 5 * MINUTE, idleForMs: 10 * MINUTE },
        NOW,
      ),
    ).toBe(
      "job dev group web has been quiet for 10m: the group will be scaled to 0 at 2026-12-01 10:05 Europe/Berlin (in 5m) if it stays quiet",
    );
    const stopAt = policy({ "idle-monitor.stop-at": "0 20 * * *" });
    expect(describeWarning("dev", "web", stopAt, { kind: "stop-at", at: NOW + 4_000 }, NOW)).toBe(
      'job dev group web: the job will be stopped at 2026-12-01 09:00 UTC (in 4s) by its stop-at "0 20 * * *", whatever its activity',
    );
  });
});

import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/duration.js";
import type { JobMeta } from "../../src/model/meta.js";
import { type GroupPolicy, type GroupPolicyResult, groupPolicy } from "../../src/policy.js";
import { fc } from "./fc.js";
import { durationLikeText, expectedMs, goDurationText } from "./go-duration.js";

type Meta = Record<string, string>;
type Scope = "job" | "group";

const ENABLED = "idle-monitor.enabled";
const TIMEOUT = "idle-monitor.timeout";
const THRESHOLD = "idle-monitor.threshold";
const ACTION = "idle-monitor.action";
const KEYS = [ENABLED, TIMEOUT, THRESHOLD, ACTION];
const GROUP = "web";

// As config.ts guarantees them: IDLE_TIMEOUT is at least CHECK_INTERVAL.
const defaults = fc
  .record({
    checkIntervalMs: fc.integer({ min: 100, max: 3_600_000 }),
    extraTimeoutMs: fc.integer({ min: 0, max: 86_400_000 }),
    thresholdBytes: fc.nat(),
  })
  .map(({ checkIntervalMs, extraTimeoutMs, thresholdBytes }) => ({
    checkIntervalMs,
    timeoutMs: checkIntervalMs + extraTimeoutMs,
    thresholdBytes,
    timezone: "UTC",
  }));

/** The spec of one entry (design.md "Meta keys"), written apart from the code under test. */
function isValid(key: string, value: string, checkIntervalMs: number): boolean {
  switch (key) {
    case ENABLED:
      return value === "true" || value === "false";
    case TIMEOUT: {
      // A Go duration (the oracle decides that); its length as the project reads it.
      const ms = parseDuration(value);
      return expectedMs(value) !== undefined && ms !== undefined && ms > 0 && ms >= checkIntervalMs;
    }
    case THRESHOLD:
      return /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value));
    case ACTION:
      return value === "stop" || value === "scale-to-zero";
    default:
      // Any other key of the prefix, in any case, is a mistake to report.
      return !key.toLowerCase().startsWith("idle-monitor.");
  }
}

function expectedResult(jobMeta: Meta, groupMeta: Meta, checkIntervalMs: number): GroupPolicyResult["kind"] {
  const enabled = groupMeta[ENABLED] ?? jobMeta[ENABLED];
  if (enabled === undefined || enabled === "false") return "not-opted-in";
  return problemKeys(jobMeta, groupMeta, checkIntervalMs).length > 0 ? "invalid" : "opted-in";
}

function problemKeys(jobMeta: Meta, groupMeta: Meta, checkIntervalMs: number): string[] {
  return (
    [
      ["job", jobMeta],
      ["group", groupMeta],
    ] as const
  ).flatMap(([scope, meta]) =>
    Object.entries(meta)
      .filter(([key, value]) => !isValid(key, value, checkIntervalMs))
      .map(([key]) => `${scope}:${key}`),
  );
}

const caseVariant = (key: string) =>
  fc
    .array(fc.boolean(), { minLength: key.length, maxLength: key.length })
    .map((upper) => [...key].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""))
    .filter((variant) => variant !== key);

const anyKey = fc.oneof(
  { arbitrary: fc.constantFrom(...KEYS), weight: 6 },
  fc.constantFrom(...KEYS).chain(caseVariant),
  fc.constantFrom("idle-monitor.timout", "idle-monitor.", "idle-monitor.enabled ", "idle-monitor.Enabled"),
  fc.string().map((rest) => `idle-monitor.${rest}`),
  fc.constantFrom("idle-monitorx.timeout", "idle_monitor.enabled", "owner", "__proto__", "constructor"),
  fc.string(),
);

const digits = fc.stringMatching(/^[0-9]{1,20}$/);
const anyValue = fc.oneof(
  fc.constantFrom("true", "false", "stop", "scale-to-zero", "TRUE", "Stop", "yes", "", " ", "0", "1e3", "-1"),
  goDurationText,
  durationLikeText,
  digits,
  fc.string({ unit: "binary", maxLength: 12 }),
);

const anyMeta = fc
  .array(fc.tuple(anyKey, anyValue), { maxLength: 6 })
  .map((entries) => Object.fromEntries(entries));

/** The job of the group, among other groups and tasks whose `idle-monitor.*` meta must not count. */
function jobOf(jobMeta: Meta | null, groupMeta: Meta | null, noise: Meta): JobMeta {
  return {
    Meta: jobMeta,
    TaskGroups: [
      { Name: "other", Meta: noise, Tasks: null },
      { Name: GROUP, Meta: groupMeta, Tasks: [{ Name: "app", Meta: noise }] },
    ],
  };
}

function policyOf(result: GroupPolicyResult): GroupPolicy {
  expect(result.kind).toBe("opted-in");
  return (result as { policy: GroupPolicy }).policy;
}

describe("groupPolicy, properties", () => {
  it("never throws; decides opted-in, not opted in or invalid as the spec says, naming every bad key", () => {
    fc.assert(
      fc.property(
        anyMeta,
        anyMeta,
        anyMeta,
        fc.boolean(),
        defaults,
        (jobMeta, groupMeta, noise, groupMissing, policyDefaults) => {
          const job = jobOf(jobMeta, groupMeta, noise);
          if (groupMissing) job.TaskGroups = job.TaskGroups?.slice(0, 1) ?? null;
          const ownGroupMeta = groupMissing ? {} : groupMeta;
          const result = groupPolicy(job, GROUP, policyDefaults);
          expect(result.kind).toBe(expectedResult(jobMeta, ownGroupMeta, policyDefaults.checkIntervalMs));
          if (result.kind === "invalid") {
            const named = result.problems.map((problem) => `${problem.scope}:${problem.key}`);
            expect(named).toEqual(problemKeys(jobMeta, ownGroupMeta, policyDefaults.checkIntervalMs));
            for (const problem of result.problems) {
              const meta = problem.scope === "job" ? jobMeta : ownGroupMeta;
              expect(problem.value).toBe(meta[problem.key]);
              expect(problem.expected).not.toBe("");
            }
          }
          if (result.kind === "opted-in") {
            const { timeoutMs, thresholdBytes, action } = result.policy;
            expect(timeoutMs).toBeGreaterThan(0);
            expect(timeoutMs).toBeGreaterThanOrEqual(policyDefaults.checkIntervalMs);
            expect(Number.isSafeInteger(thresholdBytes) && thresholdBytes >= 0).toBe(true);
            expect(["stop", "scale-to-zero"]).toContain(action);
            const said = (key: string) => ownGroupMeta[key] ?? jobMeta[key];
            const timeout = said(TIMEOUT);
            expect(timeoutMs).toBe(timeout === undefined ? policyDefaults.timeoutMs : parseDuration(timeout));
            const threshold = said(THRESHOLD);
            expect(thresholdBytes).toBe(
              threshold === undefined ? policyDefaults.thresholdBytes : Number(threshold),
            );
            expect(action).toBe(said(ACTION) ?? "stop");
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  // Valid settings by construction: the values they stand for are known without parsing.
  const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  const validTimeout = fc
    .tuple(
      fc.integer({ min: 1, max: 100_000 }),
      fc.constantFrom(...(Object.keys(UNIT_MS) as Array<keyof typeof UNIT_MS>)),
    )
    .map(([amount, unit]) => ({ text: `${amount}${unit}`, ms: amount * UNIT_MS[unit] }));
  interface Settings {
    timeout?: { text: string; ms: number };
    threshold?: { text: string; n: number };
    action?: GroupPolicy["action"];
  }
  const settings: fc.Arbitrary<Settings> = fc.record(
    {
      timeout: validTimeout,
      threshold: fc
        .tuple(fc.maxSafeNat(), fc.constantFrom("", "0", "000"))
        .map(([n, zeros]) => ({ text: `${zeros}${n}`, n })),
      action: fc.constantFrom("stop" as const, "scale-to-zero" as const),
    },
    { requiredKeys: [] },
  );
  const metaOf = (scope: Settings, enabled: string | undefined): Meta => ({
    ...(enabled === undefined ? {} : { [ENABLED]: enabled }),
    ...(scope.timeout && { [TIMEOUT]: scope.timeout.text }),
    ...(scope.threshold && { [THRESHOLD]: scope.threshold.text }),
    ...(scope.action && { [ACTION]: scope.action }),
  });
  /** A job and group that opt in (one says "true", neither says "false"), with valid settings in both. */
  const optedIn = fc
    .tuple(
      settings,
      settings,
      fc.constantFrom<Array<[string | undefined, string | undefined]>>(
        ["true", undefined],
        [undefined, "true"],
        ["true", "true"],
        ["false", "true"],
      ),
      defaults,
    )
    .map(([job, group, [jobEnabled, groupEnabled], policyDefaults]) => ({
      job,
      group,
      jobMeta: metaOf(job, jobEnabled),
      groupMeta: metaOf(group, groupEnabled),
      // Every timeout said is at least the check interval.
      policyDefaults: {
        ...policyDefaults,
        checkIntervalMs: Math.min(
          policyDefaults.checkIntervalMs,
          job.timeout?.ms ?? Infinity,
          group.timeout?.ms ?? Infinity,
        ),
      },
    }));

  it("round-trips valid settings: the policy holds what the meta says, group winning over job", () => {
    fc.assert(
      fc.property(optedIn, anyMeta, ({ job, group, jobMeta, groupMeta, policyDefaults }, noise) => {
        const policy = policyOf(groupPolicy(jobOf(jobMeta, groupMeta, noise), GROUP, policyDefaults));
        expect(policy).toMatchObject({
          timeoutMs: group.timeout?.ms ?? job.timeout?.ms ?? policyDefaults.timeoutMs,
          thresholdBytes: group.threshold?.n ?? job.threshold?.n ?? policyDefaults.thresholdBytes,
          action: group.action ?? job.action ?? "stop",
        });
      }),
    );
  });

  const badEntry = fc.oneof(
    fc.tuple(
      fc.constant(ENABLED),
      anyValue.filter((value) => value !== "true" && value !== "false"),
    ),
    fc.tuple(
      fc.constant(TIMEOUT),
      fc.oneof(durationLikeText, goDurationText, fc.constantFrom("0", "0s", "1ns", "15", "soon")),
    ),
    fc.tuple(
      fc.constant(THRESHOLD),
      fc.oneof(anyValue, fc.constantFrom("9007199254740992", " 5", "5.0", "+5", "٥")),
    ),
    fc.tuple(fc.constant(ACTION), anyValue),
    fc.tuple(fc.constantFrom(...KEYS).chain(caseVariant), anyValue),
    fc.tuple(
      fc.string().map((rest) => `idle-monitor.${rest}`),
      anyValue,
    ),
  );

  it("reports one invalid entry in either scope, naming its scope, key and value, and acts on nothing", () => {
    fc.assert(
      fc.property(optedIn, badEntry, fc.constantFrom<Scope>("job", "group"), (opted, [key, value], scope) => {
        const { jobMeta, groupMeta, policyDefaults } = opted;
        fc.pre(!isValid(key, value, policyDefaults.checkIntervalMs));
        const meta = { job: { ...jobMeta }, group: { ...groupMeta } };
        meta[scope][key] = value;
        const result = groupPolicy(jobOf(meta.job, meta.group, {}), GROUP, policyDefaults);
        expect(result.kind).toBe("invalid");
        expect(result.kind === "invalid" && result.problems).toContainEqual(
          expect.objectContaining({ scope, key, value }),
        );
      }),
    );
  });
});

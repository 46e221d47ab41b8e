import { describe, expect, it } from "vitest";
import type { JobMeta } from "../src/model/meta.js";
import { type GroupPolicyResult, groupPolicy, ignoredTaskKeys } from "../src/policy.js";

const defaults = { timeoutMs: 900_000, thresholdBytes: 500, checkIntervalMs: 60_000, timezone: "UTC" };

function job(
  jobMeta: Record<string, string> | null,
  groupMeta: Record<string, string> | null = null,
): JobMeta {
  return { Meta: jobMeta, TaskGroups: [{ Name: "web", Meta: groupMeta, Tasks: null }] };
}

function optedIn(policy: Partial<{ timeoutMs: number; thresholdBytes: number; action: string }>) {
  return {
    kind: "opted-in",
    policy: expect.objectContaining({ timeoutMs: 900_000, thresholdBytes: 500, action: "stop", ...policy }),
  };
}

function invalidKeys(result: GroupPolicyResult): string[] {
  return result.kind === "invalid" ? result.problems.map((problem) => `${problem.scope}:${problem.key}`) : [];
}

describe("groupPolicy: opting in", () => {
  const cases: Array<{ name: string; job: JobMeta; expected: unknown }> = [
    { name: "nothing set", job: job(null), expected: { kind: "not-opted-in" } },
    {
      name: "job and groups without meta at all",
      job: { Meta: null, TaskGroups: null },
      expected: { kind: "not-opted-in" },
    },
    { name: "job opts in", job: job({ "idle-monitor.enabled": "true" }), expected: optedIn({}) },
    { name: "group opts in", job: job(null, { "idle-monitor.enabled": "true" }), expected: optedIn({}) },
    {
      name: "group opts out of an opted-in job",
      job: job({ "idle-monitor.enabled": "true" }, { "idle-monitor.enabled": "false" }),
      expected: { kind: "not-opted-in" },
    },
    {
      name: "job says false",
      job: job({ "idle-monitor.enabled": "false" }),
      expected: { kind: "not-opted-in" },
    },
    {
      name: "group opts in although the job says false",
      job: job({ "idle-monitor.enabled": "false" }, { "idle-monitor.enabled": "true" }),
      expected: optedIn({}),
    },
    {
      name: "settings without enabled do not opt in, even invalid ones",
      job: job({ "idle-monitor.timeout": "soon" }, { "idle-monitor.timout": "5m" }),
      expected: { kind: "not-opted-in" },
    },
    {
      name: "group opted out ignores problems elsewhere",
      job: job(
        { "idle-monitor.enabled": "yes" },
        { "idle-monitor.enabled": "false", "idle-monitor.timeout": "x" },
      ),
      expected: { kind: "not-opted-in" },
    },
    {
      name: "task meta does not opt in",
      job: {
        Meta: null,
        TaskGroups: [{ Name: "web", Tasks: [{ Name: "app", Meta: { "idle-monitor.enabled": "true" } }] }],
      },
      expected: { kind: "not-opted-in" },
    },
    {
      name: "a group that is not in the job reads the job's meta",
      job: { Meta: { "idle-monitor.enabled": "true" }, TaskGroups: [] },
      expected: optedIn({}),
    },
  ];
  it.each(cases)("$name", ({ job, expected }) => {
    expect(groupPolicy(job, "web", defaults)).toEqual(expected);
  });

  it("an enabled value other than true/false is reported, even when the other scope opts in", () => {
    const cases: Array<[Record<string, string> | null, Record<string, string> | null, string]> = [
      [{ "idle-monitor.enabled": "yes" }, null, "job:idle-monitor.enabled"],
      [{ "idle-monitor.enabled": "true" }, { "idle-monitor.enabled": "TRUE" }, "group:idle-monitor.enabled"],
      [{ "idle-monitor.enabled": "1" }, { "idle-monitor.enabled": "true" }, "job:idle-monitor.enabled"],
      [{ "idle-monitor.enabled": "false" }, { "idle-monitor.enabled": "on" }, "group:idle-monitor.enabled"],
    ];
    for (const [jobMeta, groupMeta, problem] of cases) {
      const result = groupPolicy(job(jobMeta, groupMeta), "web", defaults);
      expect(invalidKeys(result), JSON.stringify([jobMeta, groupMeta])).toEqual([problem]);
    }
  });
});

describe("groupPolicy: settings", () => {
  const on = { "idle-monitor.enabled": "true" };
  const cases: Array<{
    name: string;
    jobMeta: Record<string, string>;
    groupMeta?: Record<string, string>;
    expected: unknown;
  }> = [
    { name: "defaults", jobMeta: on, expected: optedIn({}) },
    {
      name: "job settings",
      jobMeta: {
        ...on,
        "idle-monitor.timeout": "1h30m",
        "idle-monitor.threshold": "2048",
        "idle-monitor.action": "scale-to-zero",
      },
      expected: optedIn({ timeoutMs: 5_400_000, thresholdBytes: 2048, action: "scale-to-zero" }),
    },
    {
      name: "group wins over job per key",
      jobMeta: { ...on, "idle-monitor.timeout": "30m", "idle-monitor.threshold": "100" },
      groupMeta: { "idle-monitor.timeout": "90s", "idle-monitor.action": "scale-to-zero" },
      expected: optedIn({ timeoutMs: 90_000, thresholdBytes: 100, action: "scale-to-zero" }),
    },
    {
      name: "timeout equal to the check interval",
      jobMeta: { ...on, "idle-monitor.timeout": "60s" },
      expected: optedIn({ timeoutMs: 60_000 }),
    },
    {
      name: "threshold zero: any byte is activity",
      jobMeta: { ...on, "idle-monitor.threshold": "0" },
      expected: optedIn({ thresholdBytes: 0 }),
    },
    { name: "explicit stop", jobMeta: { ...on, "idle-monitor.action": "stop" }, expected: optedIn({}) },
    {
      name: "schedule and signal keys are the policy's too",
      jobMeta: { ...on, "idle-monitor.stop-at": "0 20 * * 1-5", "idle-monitor.timezone": "Europe/Berlin" },
      groupMeta: { "idle-monitor.cpu": "10%", "idle-monitor.connections": "22" },
      expected: {
        kind: "opted-in",
        policy: expect.objectContaining({
          schedule: expect.objectContaining({ timezone: "Europe/Berlin" }),
          signals: { cpuPercent: 10, connections: { kind: "ports", ports: [22] }, ignoreChecks: true },
        }),
      },
    },
    {
      name: "other meta keys are not ours",
      jobMeta: { ...on, owner: "team-a", "idle-monitor": "x", "idle_monitor.timeout": "x" },
      expected: optedIn({}),
    },
  ];
  it.each(cases)("$name", ({ jobMeta, groupMeta, expected }) => {
    expect(groupPolicy(job(jobMeta, groupMeta ?? null), "web", defaults)).toEqual(expected);
  });
});

describe("groupPolicy: invalid values are never acted on", () => {
  const invalid: Array<{ key: string; value: string; expected: RegExp }> = [
    {
      key: "idle-monitor.timeout",
      value: "soon",
      expected: /Go\/Nomad duration.*at least the check interval \(1m\)/,
    },
    { key: "idle-monitor.timeout", value: "0", expected: /at least the check interval/ },
    { key: "idle-monitor.timeout", value: "0s", expected: /at least the check interval/ },
    { key: "idle-monitor.timeout", value: "-5m", expected: /duration/ },
    { key: "idle-monitor.timeout", value: "30s", expected: /at least the check interval \(1m\)/ },
    { key: "idle-monitor.timeout", value: "15", expected: /duration/ },
    { key: "idle-monitor.threshold", value: "1e3", expected: /whole number of bytes/ },
    { key: "idle-monitor.threshold", value: "500B", expected: /digits only/ },
    { key: "idle-monitor.threshold", value: "-1", expected: /whole number/ },
    { key: "idle-monitor.threshold", value: "1.5", expected: /whole number/ },
    { key: "idle-monitor.threshold", value: " 500", expected: /whole number/ },
    { key: "idle-monitor.threshold", value: "", expected: /whole number/ },
    { key: "idle-monitor.threshold", value: "99999999999999999999", expected: /whole number/ },
    { key: "idle-monitor.action", value: "Stop", expected: /"stop" or "scale-to-zero"/ },
    { key: "idle-monitor.action", value: "scale", expected: /"stop" or "scale-to-zero"/ },
    {
      key: "idle-monitor.timout",
      value: "5m",
      expected: /one of the keys idle-monitor\.enabled, idle-monitor\.timeout/,
    },
    { key: "Idle-Monitor.Timeout", value: "5m", expected: /one of the keys/ },
    { key: "idle-monitor.keep-alive", value: "* 25 * * *", expected: /cron expressions/ },
    { key: "idle-monitor.stop-at", value: "0 20 * * 1-5, 0 22 * * 6", expected: /separated by ";"/ },
    { key: "idle-monitor.timezone", value: "Mars/Olympus", expected: /IANA time zone/ },
    { key: "idle-monitor.exclude-until", value: "friday", expected: /RFC 3339/ },
    { key: "idle-monitor.warn-before", value: "soon", expected: /"0" for no warning/ },
    { key: "idle-monitor.cpu", value: "5", expected: /followed by "%"/ },
    { key: "idle-monitor.connections", value: "ssh", expected: /list of ports/ },
    { key: "idle-monitor.ignore-checks", value: "yes", expected: /"true" or "false"/ },
  ];
  it.each(invalid)("$key = '$value' in the group", ({ key, value, expected }) => {
    const result = groupPolicy(job({ "idle-monitor.enabled": "true" }, { [key]: value }), "web", defaults);
    expect(result).toEqual({
      kind: "invalid",
      problems: [{ scope: "group", key, value, expected: expect.stringMatching(expected) }],
    });
  });

  it("reports every problem of both scopes, job first", () => {
    const result = groupPolicy(
      job(
        { "idle-monitor.enabled": "true", "idle-monitor.threshold": "lots" },
        { "idle-monitor.timeout": "soon", "idle-monitor.action": "delete" },
      ),
      "web",
      defaults,
    );
    expect(invalidKeys(result)).toEqual([
      "job:idle-monitor.threshold",
      "group:idle-monitor.timeout",
      "group:idle-monitor.action",
    ]);
  });

  // Decision: a job-level value the group overrides is still the operator's mistake; it is reported for
  // every opted-in group rather than only for the groups it happens to reach.
  it("an invalid job value is reported even when the group overrides it with a valid one", () => {
    const result = groupPolicy(
      job(
        { "idle-monitor.enabled": "true", "idle-monitor.timeout": "soon" },
        { "idle-monitor.timeout": "10m" },
      ),
      "web",
      defaults,
    );
    expect(result).toEqual({
      kind: "invalid",
      problems: [
        {
          scope: "job",
          key: "idle-monitor.timeout",
          value: "soon",
          expected: expect.stringContaining("duration"),
        },
      ],
    });
  });

  it("the check interval in the message follows the configured one", () => {
    const result = groupPolicy(job({ "idle-monitor.enabled": "true", "idle-monitor.timeout": "2m" }), "web", {
      ...defaults,
      checkIntervalMs: 300_000,
    });
    expect(result.kind === "invalid" && result.problems[0]?.expected).toMatch(
      /at least the check interval \(5m\)/,
    );
  });
});

describe("ignoredTaskKeys", () => {
  it("lists idle-monitor keys set on tasks, and nothing else", () => {
    const withTasks: JobMeta = {
      Meta: { "idle-monitor.enabled": "true" },
      TaskGroups: [
        {
          Name: "web",
          Meta: { "idle-monitor.timeout": "5m" },
          Tasks: [
            {
              Name: "app",
              Meta: { "idle-monitor.timeout": "5m", version: "2", "Idle-Monitor.Action": "stop" },
            },
            { Name: "sidecar", Meta: null },
          ],
        },
        { Name: "db", Meta: null, Tasks: [{ Name: "pg", Meta: { "idle-monitor.enabled": "false" } }] },
        { Name: "empty", Tasks: null },
      ],
    };
    expect(ignoredTaskKeys(withTasks)).toEqual([
      { group: "web", task: "app", key: "idle-monitor.timeout" },
      { group: "web", task: "app", key: "Idle-Monitor.Action" },
      { group: "db", task: "pg", key: "idle-monitor.enabled" },
    ]);
  });

  it("is empty for a job without task meta", () => {
    expect(ignoredTaskKeys({ Meta: null, TaskGroups: null })).toEqual([]);
    expect(ignoredTaskKeys(job({ "idle-monitor.enabled": "true" }))).toEqual([]);
  });
});

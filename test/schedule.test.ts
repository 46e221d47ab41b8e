import { describe, expect, it } from "vitest";
import { type Intent, missedFiringGraceMs, monitorTimezone, type Schedule } from "../src/schedule.js";
import {
  DEFAULT_WARN_BEFORE_MS,
  readScheduleMeta,
  SCHEDULE_KEYS,
  type ScheduleResult,
} from "../src/schedule-meta.js";

type Meta = Record<string, string>;
const defaults = { timezone: "UTC" };
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function schedule(jobMeta: Meta | null, groupMeta: Meta | null = null, zone = "UTC"): Schedule {
  const result = readScheduleMeta(jobMeta, groupMeta, { timezone: zone });
  if (result.kind !== "ok") throw new Error(JSON.stringify(result.problems));
  return result.schedule;
}

function problemsOf(result: ScheduleResult): string[] {
  return result.kind === "invalid" ? result.problems.map((problem) => `${problem.scope}:${problem.key}`) : [];
}

describe("readScheduleMeta: values", () => {
  it("no schedule keys: an empty schedule in the default zone, warning 10m before", () => {
    const s = schedule({ "idle-monitor.enabled": "true", owner: "x" }, null, "Europe/Berlin");
    expect(s.timezone).toBe("Europe/Berlin");
    expect(s.warnBeforeMs).toBe(DEFAULT_WARN_BEFORE_MS);
    expect(s.excludeUntil).toBeUndefined();
    expect(s.expressions("keep-alive")).toEqual([]);
    expect(s.nextFiring("stop-at", at("2026-06-01T00:00:00Z"))).toBeUndefined();
    expect(s.keepAlive(at("2026-06-01T10:00:00Z"))).toBe(false);
  });

  const cases: Array<{
    name: string;
    job: Meta | null;
    group?: Meta;
    check: (s: Schedule) => unknown;
    expected: unknown;
  }> = [
    {
      name: "several expressions separated by ';', spaces trimmed",
      job: { "idle-monitor.stop-at": " 0 20 * * 1-5 ;0 14 * * 6,0 " },
      check: (s) => s.expressions("stop-at"),
      expected: ["0 20 * * 1-5", "0 14 * * 6,0"],
    },
    {
      name: "group wins over job per key",
      job: { "idle-monitor.stop-at": "0 20 * * *", "idle-monitor.start-at": "0 8 * * *" },
      group: { "idle-monitor.stop-at": "0 22 * * *" },
      check: (s) => [s.expressions("stop-at"), s.expressions("start-at")],
      expected: [["0 22 * * *"], ["0 8 * * *"]],
    },
    {
      name: "the group's zone applies to the job's expressions",
      job: { "idle-monitor.stop-at": "0 20 * * *", "idle-monitor.timezone": "America/New_York" },
      group: { "idle-monitor.timezone": "Asia/Tokyo" },
      check: (s) => [s.timezone, iso(s.nextFiring("stop-at", at("2026-06-01T00:00:00Z")))],
      expected: ["Asia/Tokyo", "2026-06-01T11:00:00.000Z"],
    },
    {
      name: "warn-before: a Go duration",
      job: { "idle-monitor.warn-before": "1h30m" },
      check: (s) => s.warnBeforeMs,
      expected: 5_400_000,
    },
    {
      name: "warn-before 0 is off",
      job: { "idle-monitor.warn-before": "0" },
      check: (s) => s.warnBeforeMs,
      expected: 0,
    },
    {
      name: "croner nicknames and extensions: @daily, last day of month, second Friday",
      job: { "idle-monitor.stop-at": "@daily; 0 18 L * *; 0 12 * * 5#2" },
      check: (s) => iso(s.nextFiring("stop-at", at("2026-01-01T00:00:00Z"))),
      expected: "2026-01-02T00:00:00.000Z",
    },
    {
      name: "day names",
      job: { "idle-monitor.stop-at": "0 8 * * MON-FRI" },
      check: (s) => iso(s.nextFiring("stop-at", at("2026-01-03T00:00:00Z"))), // a Saturday
      expected: "2026-01-05T08:00:00.000Z",
    },
  ];
  it.each(cases)("$name", ({ job, group, check, expected }) => {
    expect(check(schedule(job, group ?? null))).toEqual(expected);
  });
});

describe("readScheduleMeta: invalid values are reported, naming scope, key and value", () => {
  const invalid: Array<{ key: string; value: string; expected: RegExp }> = [
    {
      key: "idle-monitor.keep-alive",
      value: "61 * * * *",
      expected: /cron.*\("61 \* \* \* \*": Invalid value for minute: 61\)/,
    },
    { key: "idle-monitor.keep-alive", value: "* 8-18 * *", expected: /5-field cron/ },
    { key: "idle-monitor.stop-at", value: "0 0 0 * * *", expected: /requires exactly 5 parts/ },
    { key: "idle-monitor.stop-at", value: "", expected: /an empty expression/ },
    { key: "idle-monitor.stop-at", value: "0 20 * * *;", expected: /an empty expression/ },
    { key: "idle-monitor.stop-at", value: "0 20 * * *;; 0 8 * * *", expected: /an empty expression/ },
    { key: "idle-monitor.start-at", value: "0 8 * * 1-5, 0 9 * * 6", expected: /cron/ },
    { key: "idle-monitor.start-at", value: "0 0 30 2 *", expected: /never matches/ },
    { key: "idle-monitor.start-at", value: "@reboot", expected: /@reboot/ },
    { key: "idle-monitor.start-at", value: "*/0 * * * *", expected: /stepping/ },
    { key: "idle-monitor.timezone", value: "Mars/Olympus_Mons", expected: /IANA time zone/ },
    { key: "idle-monitor.timezone", value: "", expected: /IANA time zone/ },
    { key: "idle-monitor.timezone", value: " UTC", expected: /IANA time zone/ },
    { key: "idle-monitor.timezone", value: "CET-1CEST", expected: /IANA time zone/ },
    { key: "idle-monitor.exclude-until", value: "2026-02-30", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "2026-12-24T18:00:00", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "2026-12-24T24:00:00Z", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "24.12.2026", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "0000-01-01", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "0000-01-01T00:00:00Z", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "2026-12-24T18:00:00+24:00", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "tomorrow", expected: /RFC 3339/ },
    { key: "idle-monitor.exclude-until", value: "2026-12-24T18:00:00+1:00", expected: /RFC 3339/ },
    { key: "idle-monitor.warn-before", value: "soon", expected: /Go\/Nomad duration.*"0" for no warning/ },
    { key: "idle-monitor.warn-before", value: "-5m", expected: /duration/ },
    { key: "idle-monitor.warn-before", value: "10", expected: /duration/ },
  ];
  it.each(invalid)("$key = '$value' in the group", ({ key, value, expected }) => {
    expect(readScheduleMeta({ "idle-monitor.enabled": "true" }, { [key]: value }, defaults)).toEqual({
      kind: "invalid",
      problems: [{ scope: "group", key, value, expected: expect.stringMatching(expected) }],
    });
  });

  it("reports every problem of both scopes, job first, even a job value the group overrides", () => {
    const result = readScheduleMeta(
      { "idle-monitor.warn-before": "x", "idle-monitor.stop-at": "nope", "idle-monitor.timezone": "Nowhere" },
      { "idle-monitor.stop-at": "0 20 * * *", "idle-monitor.exclude-until": "soon" },
      defaults,
    );
    expect(problemsOf(result)).toEqual([
      "job:idle-monitor.stop-at",
      "job:idle-monitor.timezone",
      "job:idle-monitor.warn-before",
      "group:idle-monitor.exclude-until",
    ]);
  });

  it("reads only its own keys: other idle-monitor keys and inherited names are policy.ts's business", () => {
    const meta = Object.assign(Object.create({ "idle-monitor.stop-at": "bad" }) as Meta, {
      "idle-monitor.timeout": "soon",
      "Idle-Monitor.Stop-At": "bad",
    });
    expect(readScheduleMeta(meta, null, defaults).kind).toBe("ok");
    expect(SCHEDULE_KEYS).toEqual([
      "idle-monitor.keep-alive",
      "idle-monitor.stop-at",
      "idle-monitor.start-at",
      "idle-monitor.timezone",
      "idle-monitor.exclude-until",
      "idle-monitor.warn-before",
    ]);
  });
});

describe("monitorTimezone: the default zone", () => {
  it.each([
    { tz: undefined, expected: "UTC" },
    { tz: "", expected: "UTC" },
    { tz: "Europe/Berlin", expected: "Europe/Berlin" },
    { tz: ":Europe/Berlin", expected: "Europe/Berlin" },
    { tz: "CET-1CEST,M3.5.0,M10.5.0/3", expected: "UTC" },
    { tz: "Not/AZone", expected: "UTC" },
  ])("TZ=$tz → $expected", ({ tz, expected }) => {
    expect(monitorTimezone(tz)).toBe(expected);
  });

  it("an invalid default given to the reader falls back to UTC", () => {
    expect(schedule(null, null, "Not/AZone").timezone).toBe("UTC");
  });
});

describe("keep-alive windows: minute resolution, in the zone", () => {
  const weekdays = { "idle-monitor.keep-alive": "* 8-18 * * 1-5", "idle-monitor.timezone": "Europe/Berlin" };
  const cases: Array<{ name: string; meta: Meta; now: string; expected: boolean }> = [
    {
      name: "before the window (07:59:59 CET)",
      meta: weekdays,
      now: "2026-12-01T06:59:59.999Z",
      expected: false,
    },
    { name: "first minute (08:00 CET)", meta: weekdays, now: "2026-12-01T07:00:00Z", expected: true },
    { name: "mid-minute", meta: weekdays, now: "2026-12-01T12:34:56.789Z", expected: true },
    {
      name: "8-18 lasts until 18:59:59 CET",
      meta: weekdays,
      now: "2026-12-01T17:59:59.999Z",
      expected: true,
    },
    { name: "19:00 CET is outside", meta: weekdays, now: "2026-12-01T18:00:00Z", expected: false },
    {
      name: "summer time: 08:00 CEST is 06:00Z",
      meta: weekdays,
      now: "2026-07-01T06:00:00Z",
      expected: true,
    },
    { name: "Saturday", meta: weekdays, now: "2026-12-05T10:00:00Z", expected: false },
    {
      name: "the same window in UTC",
      meta: { "idle-monitor.keep-alive": "* 8-18 * * 1-5" },
      now: "2026-12-01T18:30:00Z",
      expected: true,
    },
    {
      name: "several windows: the second one matches",
      meta: { "idle-monitor.keep-alive": "* 8-12 * * *; 30-59 13 * * *" },
      now: "2026-12-01T13:45:00Z",
      expected: true,
    },
    {
      name: "several windows: the gap between them",
      meta: { "idle-monitor.keep-alive": "* 8-12 * * *; 30-59 13 * * *" },
      now: "2026-12-01T13:15:00Z",
      expected: false,
    },
    {
      name: "a window over midnight in Tokyo",
      meta: { "idle-monitor.keep-alive": "* 22-23,0-1 * * *", "idle-monitor.timezone": "Asia/Tokyo" },
      now: "2026-12-01T16:30:00Z", // 01:30 JST
      expected: true,
    },
  ];
  it.each(cases)("$name", ({ meta, now, expected }) => {
    expect(schedule(meta).keepAlive(at(now))).toBe(expected);
  });
});

describe("firings: next and last, several expressions, zones", () => {
  const s = schedule({
    "idle-monitor.stop-at": "0 20 * * 1-5; 0 14 * * 6",
    "idle-monitor.timezone": "America/New_York",
  });
  const cases: Array<{ name: string; value: () => number | undefined; expected: string | undefined }> = [
    {
      name: "next: Friday 20:00 EST",
      value: () => s.nextFiring("stop-at", at("2026-12-04T12:00:00Z")),
      expected: "2026-12-05T01:00:00.000Z",
    },
    {
      name: "next: strictly after a firing",
      value: () => s.nextFiring("stop-at", at("2026-12-05T01:00:00Z")),
      expected: "2026-12-05T19:00:00.000Z",
    },
    {
      name: "last: in (after, now], a firing exactly at now included",
      value: () => s.lastFiring("stop-at", at("2026-12-05T00:00:00Z"), at("2026-12-05T01:00:00Z")),
      expected: "2026-12-05T01:00:00.000Z",
    },
    {
      name: "last: a firing exactly at after excluded",
      value: () => s.lastFiring("stop-at", at("2026-12-05T01:00:00Z"), at("2026-12-05T02:00:00Z")),
      expected: undefined,
    },
    {
      name: "last: the latest of several after a long downtime (Saturday 14:00 after Friday 20:00)",
      value: () => s.lastFiring("stop-at", at("2026-12-04T00:00:00Z"), at("2026-12-06T00:00:00Z")),
      expected: "2026-12-05T19:00:00.000Z",
    },
    {
      name: "last: nothing when now is not after after",
      value: () => s.lastFiring("stop-at", at("2026-12-06T00:00:00Z"), at("2026-12-06T00:00:00Z")),
      expected: undefined,
    },
    {
      name: "no start-at expressions: no firing",
      value: () => s.nextFiring("start-at", at("2026-12-04T12:00:00Z")),
      expected: undefined,
    },
  ];
  it.each(cases)("$name", ({ value, expected }) => {
    expect(iso(value())).toBe(expected);
  });
});

// croner's DST rules, as the module's doc comment states them for docs/schedules.md.
describe("daylight saving time in Europe/Berlin (2026-03-29 02:00→03:00, 2026-10-25 03:00→02:00)", () => {
  const berlin = (meta: Meta) => schedule({ ...meta, "idle-monitor.timezone": "Europe/Berlin" });
  const fixed = berlin({ "idle-monitor.stop-at": "30 2 * * *" });
  const interval = berlin({ "idle-monitor.stop-at": "0,30 * * * *" });
  const window = berlin({ "idle-monitor.keep-alive": "* 2 * * *" });
  const cases: Array<{ name: string; value: () => unknown; expected: unknown }> = [
    {
      name: "spring: 30 2 * * * fires once at 03:00 CEST, the first valid time after the gap",
      value: () => [fixed.nextFiring("stop-at", at("2026-03-28T12:00:00Z"))].map(iso),
      expected: ["2026-03-29T01:00:00.000Z"],
    },
    {
      name: "spring: the firing after that is 02:30 CEST next day",
      value: () => iso(fixed.nextFiring("stop-at", at("2026-03-29T01:00:00Z"))),
      expected: "2026-03-30T00:30:00.000Z",
    },
    {
      name: "spring: lastFiring sees the shifted firing too",
      value: () => iso(fixed.lastFiring("stop-at", at("2026-03-28T12:00:00Z"), at("2026-03-29T01:05:00Z"))),
      expected: "2026-03-29T01:00:00.000Z",
    },
    {
      name: "autumn: 30 2 * * * fires once, at the first 02:30 (CEST, 00:30Z)",
      value: () => iso(fixed.nextFiring("stop-at", at("2026-10-24T12:00:00Z"))),
      expected: "2026-10-25T00:30:00.000Z",
    },
    {
      name: "autumn: not again at the second 02:30 (CET, 01:30Z)",
      value: () => iso(fixed.nextFiring("stop-at", at("2026-10-25T00:30:00Z"))),
      expected: "2026-10-26T01:30:00.000Z",
    },
    {
      name: "autumn: lastFiring over the night returns the one firing",
      value: () => iso(fixed.lastFiring("stop-at", at("2026-10-24T12:00:00Z"), at("2026-10-25T12:00:00Z"))),
      expected: "2026-10-25T00:30:00.000Z",
    },
    {
      name: "spring: an interval skips the minutes in the gap (01:30 CET, then 03:00 CEST)",
      value: () => interval.nextFiring("stop-at", at("2026-03-29T00:30:00Z")),
      expected: at("2026-03-29T01:00:00Z"),
    },
    {
      name: "spring: a list of hours is an interval too, 0 2,14 * * * skips 02:00 that night",
      value: () =>
        iso(
          berlin({ "idle-monitor.stop-at": "0 2,14 * * *" }).nextFiring(
            "stop-at",
            at("2026-03-28T14:00:00Z"),
          ),
        ),
      expected: "2026-03-29T12:00:00.000Z",
    },
    {
      name: "autumn: an interval fires on both occurrences of 02:30",
      value: () =>
        [at("2026-10-25T00:00:00Z"), at("2026-10-25T00:30:00Z"), at("2026-10-25T01:00:00Z")].map((from) =>
          iso(interval.nextFiring("stop-at", from)),
        ),
      expected: ["2026-10-25T00:30:00.000Z", "2026-10-25T01:00:00.000Z", "2026-10-25T01:30:00.000Z"],
    },
    {
      name: "spring: a window over 02:xx is empty that night",
      value: () =>
        [at("2026-03-29T00:59:00Z"), at("2026-03-29T01:00:00Z"), at("2026-03-29T01:30:00Z")].map((now) =>
          window.keepAlive(now),
        ),
      expected: [false, false, false],
    },
    {
      name: "autumn: a window over 02:xx lasts both 02:xx hours",
      value: () =>
        ["2026-10-24T23:59:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:59:00Z", "2026-10-25T02:00:00Z"].map(
          (now) => window.keepAlive(at(now)),
        ),
      expected: [false, true, true, false],
    },
  ];
  it.each(cases)("$name", ({ value, expected }) => {
    expect(value()).toEqual(expected);
  });
});

describe("exclude-until", () => {
  const cases: Array<{ name: string; meta: Meta; zone?: string; until: string }> = [
    {
      name: "RFC 3339 time in UTC",
      meta: { "idle-monitor.exclude-until": "2026-12-24T18:00:00Z" },
      until: "2026-12-24T18:00:00.000Z",
    },
    {
      name: "RFC 3339 time with an offset and fraction",
      meta: { "idle-monitor.exclude-until": "2026-12-24T18:00:00.25+01:00" },
      until: "2026-12-24T17:00:00.250Z",
    },
    {
      name: "RFC 3339 lower-case t and z",
      meta: { "idle-monitor.exclude-until": "2026-12-24t18:00:00z" },
      until: "2026-12-24T18:00:00.000Z",
    },
    {
      name: "a bare date: the end of that day in UTC",
      meta: { "idle-monitor.exclude-until": "2026-12-24" },
      until: "2026-12-25T00:00:00.000Z",
    },
    {
      name: "a bare date: the end of that day in the job's zone",
      meta: { "idle-monitor.exclude-until": "2026-12-24", "idle-monitor.timezone": "Europe/Berlin" },
      until: "2026-12-24T23:00:00.000Z",
    },
    {
      name: "a bare date in a zone east of +12",
      meta: { "idle-monitor.exclude-until": "2026-12-24", "idle-monitor.timezone": "Pacific/Kiritimati" },
      until: "2026-12-24T10:00:00.000Z",
    },
    {
      name: "a bare date in a zone west of UTC, on a leap day",
      meta: { "idle-monitor.exclude-until": "2028-02-29", "idle-monitor.timezone": "America/Los_Angeles" },
      until: "2028-03-01T08:00:00.000Z",
    },
    {
      name: "a bare date: the default (monitor's) zone",
      meta: { "idle-monitor.exclude-until": "2026-07-01" },
      zone: "Europe/Berlin",
      until: "2026-07-01T22:00:00.000Z",
    },
    {
      name: "a bare date whose midnight is moved back an hour (Asuncion, 2024-03-24 00:00 → 23:00) lasts 25 hours",
      meta: { "idle-monitor.exclude-until": "2024-03-23", "idle-monitor.timezone": "America/Asuncion" },
      until: "2024-03-24T04:00:00.000Z",
    },
    {
      name: "the last date there is",
      meta: { "idle-monitor.exclude-until": "9999-12-31", "idle-monitor.timezone": "America/Los_Angeles" },
      until: "+010000-01-01T08:00:00.000Z",
    },
    {
      name: "a bare date on the day clocks move forward is 23 hours long",
      meta: { "idle-monitor.exclude-until": "2026-03-29", "idle-monitor.timezone": "Europe/Berlin" },
      until: "2026-03-29T22:00:00.000Z",
    },
  ];
  it.each(cases)("$name", ({ meta, zone, until }) => {
    const s = schedule(meta, null, zone ?? "UTC");
    expect(iso(s.excludeUntil)).toBe(until);
    expect(s.excluded(at(until) - 1)).toBe(true);
    expect(s.excluded(at(until))).toBe(false);
  });

  it("the group's exclude-until wins, even an earlier one", () => {
    const s = schedule(
      { "idle-monitor.exclude-until": "2027-01-01" },
      { "idle-monitor.exclude-until": "2026-01-01" },
    );
    expect(iso(s.excludeUntil)).toBe("2026-01-02T00:00:00.000Z");
  });
});

describe("precedence", () => {
  // exclude-until blocks everything; keep-alive blocks idle stops only; stop-at acts whatever the activity;
  // start-at only brings back what this monitor stopped or scaled.
  const s = schedule({
    "idle-monitor.keep-alive": "* 8-18 * * *",
    "idle-monitor.exclude-until": "2026-12-24",
  });
  const instants = {
    "excluded, in the window": at("2026-12-24T10:00:00Z"),
    "excluded, outside the window": at("2026-12-24T20:00:00Z"),
    "in the window": at("2026-12-28T10:00:00Z"),
    "outside the window": at("2026-12-28T20:00:00Z"),
  };
  type When = keyof typeof instants;
  const table: Array<[Intent, When, boolean, unknown]> = [
    // intent      when                             stopped by monitor  verdict
    ["idle-stop", "excluded, in the window", false, { act: false, because: "excluded" }],
    ["idle-stop", "excluded, outside the window", false, { act: false, because: "excluded" }],
    ["idle-stop", "in the window", false, { act: false, because: "keep-alive" }],
    ["idle-stop", "outside the window", false, { act: true }],
    ["stop-at", "excluded, in the window", false, { act: false, because: "excluded" }],
    ["stop-at", "excluded, outside the window", false, { act: false, because: "excluded" }],
    ["stop-at", "in the window", false, { act: true }],
    ["stop-at", "outside the window", false, { act: true }],
    ["start-at", "excluded, outside the window", true, { act: false, because: "excluded" }],
    ["start-at", "in the window", false, { act: false, because: "not-ours" }],
    ["start-at", "outside the window", false, { act: false, because: "not-ours" }],
    ["start-at", "in the window", true, { act: true }],
    ["start-at", "outside the window", true, { act: true }],
  ];
  it.each(table)("%s, %s, stopped by this monitor: %s → %j", (intent, when, stoppedByMonitor, verdict) => {
    expect(s.allows(intent, instants[when], stoppedByMonitor)).toEqual(verdict);
  });
});

describe("missed firings and the grace", () => {
  const s = schedule({ "idle-monitor.stop-at": "0 20 * * *", "idle-monitor.start-at": "0 8 * * *" });
  const grace = missedFiringGraceMs(60_000);
  const cases: Array<{ name: string; last: string | undefined; now: string; expected: unknown }> = [
    {
      name: "nothing fired since the last cycle",
      last: "2026-12-01T19:58:00Z",
      now: "2026-12-01T19:59:00Z",
      expected: undefined,
    },
    {
      name: "fired between two cycles: due, a few seconds late",
      last: "2026-12-01T19:59:30Z",
      now: "2026-12-01T20:00:30Z",
      expected: { kind: "due", firing: "2026-12-01T20:00:00.000Z", lateByMs: 30_000 },
    },
    {
      name: "missed by exactly the grace: carried out late",
      last: "2026-12-01T19:00:00Z",
      now: "2026-12-01T20:05:00Z",
      expected: { kind: "due", firing: "2026-12-01T20:00:00.000Z", lateByMs: 300_000 },
    },
    {
      name: "missed by more than the grace: skipped",
      last: "2026-12-01T19:00:00Z",
      now: "2026-12-01T20:05:01Z",
      expected: { kind: "skipped", firing: "2026-12-01T20:00:00.000Z", lateByMs: 301_000 },
    },
    {
      name: "days of downtime: only the latest firing counts, and it is skipped",
      last: "2026-11-20T00:00:00Z",
      now: "2026-12-01T21:00:00Z",
      expected: { kind: "skipped", firing: "2026-12-01T20:00:00.000Z", lateByMs: 3_600_000 },
    },
    {
      name: "no record: a firing within the grace is due",
      last: undefined,
      now: "2026-12-01T20:02:00Z",
      expected: { kind: "due", firing: "2026-12-01T20:00:00.000Z", lateByMs: 120_000 },
    },
    {
      name: "no record: an older firing is neither due nor reported",
      last: undefined,
      now: "2026-12-01T21:00:00Z",
      expected: undefined,
    },
  ];
  it.each(cases)("$name", ({ last, now, expected }) => {
    const due = s.dueFiring("stop-at", last === undefined ? undefined : at(last), at(now), grace);
    expect(due && { ...due, firing: iso(due.firing) }).toEqual(expected);
  });

  it("the grace: two check intervals, at least five minutes", () => {
    expect([missedFiringGraceMs(60_000), missedFiringGraceMs(10 * 60_000), missedFiringGraceMs(100)]).toEqual(
      [300_000, 1_200_000, 300_000],
    );
  });

  it("start-at firings are due on their own", () => {
    expect(s.dueFiring("start-at", at("2026-12-02T07:59:00Z"), at("2026-12-02T08:00:10Z"), grace)).toEqual({
      kind: "due",
      firing: at("2026-12-02T08:00:00Z"),
      lateByMs: 10_000,
    });
  });
});

describe("warnings", () => {
  const meta = { "idle-monitor.stop-at": "0 20 * * *" };
  const cases: Array<{ name: string; meta: Meta; now: string; expected: string | undefined }> = [
    {
      name: "10 minutes before by default",
      meta,
      now: "2026-12-01T19:50:00Z",
      expected: "2026-12-01T20:00:00.000Z",
    },
    { name: "not earlier", meta, now: "2026-12-01T19:49:59Z", expected: undefined },
    {
      name: "warn-before set",
      meta: { ...meta, "idle-monitor.warn-before": "1h" },
      now: "2026-12-01T19:00:00Z",
      expected: "2026-12-01T20:00:00.000Z",
    },
    {
      name: "warn-before 0: never",
      meta: { ...meta, "idle-monitor.warn-before": "0" },
      now: "2026-12-01T19:59:00Z",
      expected: undefined,
    },
    {
      name: "no warning for a firing that exclude-until blocks",
      meta: { ...meta, "idle-monitor.exclude-until": "2026-12-01T20:00:01Z" },
      now: "2026-12-01T19:55:00Z",
      expected: undefined,
    },
    {
      name: "a warning for a firing just after exclude-until ends",
      meta: { ...meta, "idle-monitor.exclude-until": "2026-12-01T20:00:00Z" },
      now: "2026-12-01T19:55:00Z",
      expected: "2026-12-01T20:00:00.000Z",
    },
  ];
  it.each(cases)("$name", ({ meta, now, expected }) => {
    expect(iso(schedule(meta).warning("stop-at", at(now)))).toBe(expected);
  });
});

describe("Schedule.describe: what the watching line says", () => {
  it.each([
    [{}, ""],
    [{ "idle-monitor.keep-alive": "* 8-18 * * 1-5" }, '; keep-alive "* 8-18 * * 1-5" (UTC)'],
    [
      {
        "idle-monitor.stop-at": "0 20 * * 1-5; 0 22 * * 6",
        "idle-monitor.start-at": "30 7 * * 1-5",
        "idle-monitor.timezone": "Europe/Berlin",
        "idle-monitor.exclude-until": "2027-01-06",
      },
      '; stop-at "0 20 * * 1-5"; "0 22 * * 6", start-at "30 7 * * 1-5" (Europe/Berlin), excluded until 2027-01-07 00:00 Europe/Berlin',
    ],
  ])("%j", (meta, line) => {
    const result = readScheduleMeta(meta, null, { timezone: "UTC" });
    expect(result.kind === "ok" && result.schedule.describe()).toBe(line);
  });
});

import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/duration.js";
import type { Schedule } from "../../src/schedule.js";
import { readScheduleMeta, SCHEDULE_KEYS } from "../../src/schedule-meta.js";
import { fc } from "./fc.js";
import { durationLikeText, expectedMs, goDurationText } from "./go-duration.js";

type Meta = Record<string, string>;
const [KEEP_ALIVE, STOP_AT, START_AT, TIMEZONE, EXCLUDE_UNTIL, WARN_BEFORE] = SCHEDULE_KEYS as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const CRON_KEYS = [KEEP_ALIVE, STOP_AT, START_AT];
const ZONES = [
  "UTC",
  "Europe/Berlin",
  "America/New_York",
  "Asia/Kolkata",
  "Pacific/Kiritimati",
  "Australia/Lord_Howe",
];

// The spec of each value (issue 11), written apart from the code under test. Cron syntax is croner's, so
// croner is the oracle for one expression; splitting, zones, dates and durations are decided here.
function validCron(value: string): boolean {
  return value.split(";").every((part) => {
    const text = part.trim();
    if (text === "") return false;
    try {
      return new Cron(text, { mode: "5-part" }).nextRun(new Date(Date.UTC(2000, 0, 1))) !== null;
    } catch {
      return false;
    }
  });
}

function validZone(value: string): boolean {
  if (value === "" || /^\s|\s$/.test(value)) return false;
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: value }).resolvedOptions().timeZone !== "";
  } catch {
    return false;
  }
}

/** A real calendar day of years 0001–9999, as "YYYY-MM-DD". */
function calendarDay(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || text.startsWith("0000")) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

/** RFC 3339 date-time (offset required) or a bare date; the instant it stands for in UTC. */
function excludeUntilUtc(value: string): number | undefined {
  if (calendarDay(value)) return Date.parse(`${value}T00:00:00Z`) + 86_400_000;
  const match =
    /^(\d{4}-\d{2}-\d{2})[Tt ]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/.exec(
      value,
    );
  if (!match || !calendarDay(match[1] as string)) return undefined;
  return Date.parse(
    `${match[1]}T${match[2]}:${match[3]}:${match[4]}${match[5] ?? ""}${(match[6] as string).toUpperCase()}`,
  );
}

function valid(key: string, value: string): boolean {
  if (CRON_KEYS.includes(key)) return validCron(value);
  if (key === TIMEZONE) return validZone(value);
  if (key === EXCLUDE_UNTIL) return excludeUntilUtc(value) !== undefined;
  if (key === WARN_BEFORE) return expectedMs(value) !== undefined;
  return true; // not ours
}

const cronField = fc.constantFrom(
  "*",
  "*/5",
  "0",
  "8-18",
  "1-5",
  "MON-FRI",
  "L",
  "5#2",
  "?",
  "61",
  "*/0",
  "a",
  "",
  "1,2",
  "30",
);
const cronLike = fc.oneof(
  fc.array(cronField, { minLength: 4, maxLength: 7 }).map((fields) => fields.join(" ")),
  fc.constantFrom("@daily", "@weekly", "@reboot", "@never", "0 0 30 2 *", "0 0 31 4 *"),
  fc.string({ maxLength: 20 }),
);
const cronValue = fc.oneof(
  cronLike,
  fc
    .tuple(fc.array(cronLike, { minLength: 1, maxLength: 3 }), fc.constantFrom(";", " ; ", ";;", ","))
    .map(([parts, sep]) => parts.join(sep)),
);
const zoneValue = fc.oneof(
  fc.constantFrom(
    ...ZONES,
    "utc",
    "EST",
    "Mars/Olympus",
    "",
    " UTC",
    "+01:00",
    "CET-1CEST",
    "Europe/berlin",
    "Etc/GMT+5",
  ),
  fc.string({ maxLength: 16 }),
);
const twoDigits = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, "0"));
const dateValue = fc
  .tuple(fc.integer({ min: 0, max: 9999 }), twoDigits, twoDigits)
  .map(([y, m, d]) => `${String(y).padStart(4, "0")}-${m}-${d}`);
const untilValue = fc.oneof(
  dateValue,
  fc
    .tuple(
      dateValue,
      fc.constantFrom("T", "t", " ", "_"),
      twoDigits,
      twoDigits,
      twoDigits,
      fc.constantFrom("", ".5", ".123456", "."),
      fc.constantFrom("Z", "z", "", "+01:00", "-23:59", "+24:00", "+1:00", "+05:30"),
    )
    .map(([date, t, h, m, s, fraction, zone]) => `${date}${t}${h}:${m}:${s}${fraction}${zone}`),
  fc.string({ maxLength: 24 }),
);
const warnValue = fc.oneof(goDurationText, durationLikeText, fc.constantFrom("0", "10m", "-1m", "", "0s"));
const valueFor = (key: string) =>
  CRON_KEYS.includes(key)
    ? cronValue
    : key === TIMEZONE
      ? zoneValue
      : key === EXCLUDE_UNTIL
        ? untilValue
        : key === WARN_BEFORE
          ? warnValue
          : fc.string();
const anyEntry = fc.oneof(
  fc
    .constantFrom(...SCHEDULE_KEYS)
    .chain((key) => fc.tuple(fc.constant(key), fc.oneof(valueFor(key), fc.string()))),
  fc.tuple(
    fc.constantFrom("idle-monitor.timeout", "owner", "__proto__", "Idle-Monitor.Stop-At"),
    fc.string(),
  ),
);
const anyMeta = fc.array(anyEntry, { maxLength: 5 }).map((entries) => Object.fromEntries(entries) as Meta);
const defaultZone = fc.constantFrom(...ZONES, "Not/AZone");

/** "scope:key" of every invalid schedule entry, job first. */
function problemKeys(jobMeta: Meta, groupMeta: Meta): string[] {
  const entries = [
    ...Object.entries(jobMeta).map(([key, value]) => ({ scope: "job", key, value })),
    ...Object.entries(groupMeta).map(([key, value]) => ({ scope: "group", key, value })),
  ];
  return entries.filter(({ key, value }) => !valid(key, value)).map(({ scope, key }) => `${scope}:${key}`);
}

describe("readScheduleMeta, properties", () => {
  it("never throws; a schedule only when every schedule value of both scopes is valid, else each bad one named", () => {
    fc.assert(
      fc.property(anyMeta, anyMeta, defaultZone, (jobMeta, groupMeta, zone) => {
        const result = readScheduleMeta(jobMeta, groupMeta, { timezone: zone });
        const expected = problemKeys(jobMeta, groupMeta);
        if (result.kind === "ok") {
          expect(expected).toEqual([]);
          const said = (key: string) => groupMeta[key] ?? jobMeta[key];
          for (const key of CRON_KEYS) {
            const kind = key === KEEP_ALIVE ? "keep-alive" : key === STOP_AT ? "stop-at" : "start-at";
            expect(result.schedule.expressions(kind)).toEqual(
              said(key)
                ?.split(";")
                .map((part) => part.trim()) ?? [],
            );
          }
          const warn = said(WARN_BEFORE);
          expect(result.schedule.warnBeforeMs).toBe(warn === undefined ? 600_000 : parseDuration(warn));
        } else {
          expect(result.problems.map((problem) => `${problem.scope}:${problem.key}`).sort()).toEqual(
            [...expected].sort(),
          );
          for (const problem of result.problems) {
            expect(problem.value).toBe((problem.scope === "job" ? jobMeta : groupMeta)[problem.key]);
            expect(problem.expected).not.toBe("");
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it("arbitrary strings as any schedule value: no throw, and no schedule from an invalid one", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SCHEDULE_KEYS),
        fc.string({ unit: "binary", maxLength: 40 }),
        fc.constantFrom("job", "group"),
        (key, value, scope) => {
          const meta = { [key]: value };
          const result = readScheduleMeta(scope === "job" ? meta : null, scope === "group" ? meta : null, {
            timezone: "UTC",
          });
          expect(result.kind).toBe(valid(key, value) ? "ok" : "invalid");
        },
      ),
    );
  });

  it("exclude-until in UTC is the instant the spec names; a bare date the next midnight", () => {
    fc.assert(
      fc.property(untilValue, (value) => {
        const result = readScheduleMeta({ [EXCLUDE_UNTIL]: value }, null, { timezone: "UTC" });
        const expected = excludeUntilUtc(value);
        expect(result.kind === "ok" ? result.schedule.excludeUntil : undefined).toBe(expected);
      }),
    );
  });
});

describe("Schedule, properties", () => {
  const minute = fc.constantFrom("0", "*/15", "30", "0,30", "*");
  const hour = fc.constantFrom("*", "2", "8-18", "0", "23", "1-3");
  const dow = fc.constantFrom("*", "1-5", "0", "6");
  const validExpression = fc.tuple(minute, hour, dow).map(([m, h, d]) => `${m} ${h} * * ${d}`);
  const schedules = fc
    .tuple(fc.array(validExpression, { minLength: 1, maxLength: 3 }), fc.constantFrom(...ZONES))
    .map(([expressions, zone]) => {
      const result = readScheduleMeta(
        { [STOP_AT]: expressions.join(";"), [KEEP_ALIVE]: expressions.join(";"), [TIMEZONE]: zone },
        null,
        { timezone: "UTC" },
      );
      if (result.kind !== "ok") throw new Error(JSON.stringify(result.problems));
      return result.schedule;
    });
  // 2024–2028: DST nights of every zone above included.
  const instant = fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2028, 11, 31) });

  it("firings: next is after now, last is in (after, now] with nothing between it and now", () => {
    fc.assert(
      fc.property(
        schedules,
        instant,
        fc.integer({ min: 1, max: 3 * 86_400_000 }),
        (s: Schedule, now, span) => {
          const next = s.nextFiring("stop-at", now);
          expect(next).toBeDefined();
          expect(next as number).toBeGreaterThan(now);
          expect((next as number) % 60_000).toBe(0);
          const last = s.lastFiring("stop-at", now - span, now);
          if (last !== undefined) {
            expect(last).toBeGreaterThan(now - span);
            expect(last).toBeLessThanOrEqual(now);
            const after = s.nextFiring("stop-at", last);
            expect(after as number).toBeGreaterThan(now);
          } else {
            expect(s.nextFiring("stop-at", now - span) as number).toBeGreaterThan(now);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("dueFiring: the last firing, due within the grace, skipped beyond it", () => {
    fc.assert(
      fc.property(
        schedules,
        instant,
        fc.integer({ min: 1, max: 86_400_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
        (s, now, span, grace) => {
          const due = s.dueFiring("stop-at", now - span, now, grace);
          const last = s.lastFiring("stop-at", now - span, now);
          if (last === undefined) expect(due).toBeUndefined();
          else
            expect(due).toEqual({
              kind: now - last <= grace ? "due" : "skipped",
              firing: last,
              lateByMs: now - last,
            });
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a firing minute of a minute-precise expression is a keep-alive minute of the same expression", () => {
    fc.assert(
      fc.property(schedules, instant, (s, now) => {
        const next = s.nextFiring("stop-at", now) as number;
        // A fixed-time firing (single minute and hour) moved out of a DST gap is not a wall-clock match; every
        // other firing is, and so is every firing where there is no DST.
        const anyFixed = s.expressions("stop-at").some((text) => /^\d+ \d+ /.test(text));
        if (!anyFixed || s.timezone === "UTC") expect(s.keepAlive(next)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

import { Cron } from "croner";
import { DURATION_FORM, parseDuration } from "./duration.js";
import type { MetaProblem } from "./model/meta.js";
import { Expressions, isTimezone, memoized, monitorTimezone, NEVER_REFERENCE, Schedule } from "./schedule.js";

/**
 * The schedule meta keys of issue 11, read into a {@link Schedule} (schedule.ts).
 *
 * Meta keys (job or group, group wins per key; every entry of both scopes must be valid, like the keys of
 * policy.ts, or the group is left alone):
 * - `idle-monitor.keep-alive`: cron windows; while the current minute matches one, the group is not stopped
 *   for idleness. `* 8-18 * * 1-5` lasts from 08:00 to 18:59 on weekdays.
 * - `idle-monitor.stop-at`: cron expressions at which the job is stopped (or the group scaled to zero)
 *   whatever its activity.
 * - `idle-monitor.start-at`: cron expressions at which what this monitor stopped or scaled is brought back.
 * - `idle-monitor.timezone`: IANA zone of the expressions and of a bare `exclude-until` date; default the
 *   monitor's `TZ`, else UTC (see {@link monitorTimezone}).
 * - `idle-monitor.exclude-until`: RFC 3339 time (`2026-12-24T18:00:00+01:00`) or date (`2026-12-24`, meaning
 *   the end of that day in the zone); before it the job is never acted on.
 * - `idle-monitor.warn-before`: Go duration, default 10m, `0` = no warning.
 * Several expressions in one value are separated by `;` (a comma belongs to cron syntax).
 */

export const KEEP_ALIVE = "idle-monitor.keep-alive";
export const STOP_AT = "idle-monitor.stop-at";
export const START_AT = "idle-monitor.start-at";
export const TIMEZONE = "idle-monitor.timezone";
export const EXCLUDE_UNTIL = "idle-monitor.exclude-until";
export const WARN_BEFORE = "idle-monitor.warn-before";
/** The keys this module reads; policy.ts must accept them as known keys. */
export const SCHEDULE_KEYS: readonly string[] = [
  KEEP_ALIVE,
  STOP_AT,
  START_AT,
  TIMEZONE,
  EXCLUDE_UNTIL,
  WARN_BEFORE,
];

export const DEFAULT_WARN_BEFORE_MS = 600_000;

const CRON_FORM =
  'one or more 5-field cron expressions separated by ";", each matching some minute, e.g. "* 8-18 * * 1-5"';
const TIMEZONE_FORM = 'an IANA time zone such as "Europe/Berlin" or "UTC"';
const EXCLUDE_UNTIL_FORM =
  'an RFC 3339 time such as "2026-12-24T18:00:00+01:00" or a date such as "2026-12-24" (the end of that day in idle-monitor.timezone)';
const WARN_BEFORE_FORM = `${DURATION_FORM}, or "0" for no warning`;

export interface ScheduleDefaults {
  /** Zone when neither scope sets one: the monitor's, from {@link monitorTimezone}. */
  timezone: string;
  /** warn-before when neither scope sets one; {@link DEFAULT_WARN_BEFORE_MS} when left out. */
  warnBeforeMs?: number;
}

export type ScheduleResult =
  | { kind: "ok"; schedule: Schedule }
  | { kind: "invalid"; problems: MetaProblem[] };

type Meta = Record<string, string> | null | undefined;

const MINUTE_MS = 60_000;

/**
 * The schedule of one group from job and group meta. Reads only the keys in {@link SCHEDULE_KEYS}; every one
 * of them in either scope must be valid (a job value the group overrides included), else the problems, job
 * first. Never throws.
 */
export function readScheduleMeta(jobMeta: Meta, groupMeta: Meta, defaults: ScheduleDefaults): ScheduleResult {
  const job = jobMeta ?? {};
  const group = groupMeta ?? {};
  const problems: MetaProblem[] = [];
  const said = (key: string): { scope: MetaProblem["scope"]; value: string } | undefined => {
    const value = own(group, key);
    if (value !== undefined) return { scope: "group", value };
    const jobValue = own(job, key);
    return jobValue === undefined ? undefined : { scope: "job", value: jobValue };
  };

  // The zone first: the expressions and a bare date are read in it.
  for (const [scope, meta] of scopes(job, group)) {
    const value = own(meta, TIMEZONE);
    if (value !== undefined && !isTimezone(value))
      problems.push({ scope, key: TIMEZONE, value, expected: TIMEZONE_FORM });
  }
  const zoneSaid = said(TIMEZONE)?.value;
  const timezone =
    zoneSaid !== undefined && isTimezone(zoneSaid) ? zoneSaid : monitorTimezone(defaults.timezone);

  const compiled: Partial<Record<string, Expressions>> = {};
  let excludeUntil: number | undefined;
  let warnBeforeMs = defaults.warnBeforeMs ?? DEFAULT_WARN_BEFORE_MS;
  for (const [scope, meta] of scopes(job, group)) {
    for (const key of [KEEP_ALIVE, STOP_AT, START_AT]) {
      const value = own(meta, key);
      if (value === undefined) continue;
      const result = compileExpressions(value, timezone);
      if (typeof result === "string")
        problems.push({ scope, key, value, expected: `${CRON_FORM} (${result})` });
      else if (said(key)?.scope === scope) compiled[key] = result;
    }
    const until = own(meta, EXCLUDE_UNTIL);
    if (until !== undefined) {
      const instant = parseExcludeUntil(until, timezone);
      if (instant === undefined)
        problems.push({ scope, key: EXCLUDE_UNTIL, value: until, expected: EXCLUDE_UNTIL_FORM });
      else if (said(EXCLUDE_UNTIL)?.scope === scope) excludeUntil = instant;
    }
    const warn = own(meta, WARN_BEFORE);
    if (warn !== undefined) {
      const ms = parseDuration(warn);
      if (ms === undefined)
        problems.push({ scope, key: WARN_BEFORE, value: warn, expected: WARN_BEFORE_FORM });
      else if (said(WARN_BEFORE)?.scope === scope) warnBeforeMs = ms;
    }
  }
  if (problems.length > 0) return { kind: "invalid", problems: ordered(problems) };
  const none = new Expressions([], []);
  return {
    kind: "ok",
    schedule: new Schedule(
      timezone,
      compiled[KEEP_ALIVE] ?? none,
      { "stop-at": compiled[STOP_AT] ?? none, "start-at": compiled[START_AT] ?? none },
      excludeUntil,
      warnBeforeMs,
    ),
  };
}

function scopes(job: Record<string, string>, group: Record<string, string>) {
  return [
    ["job", job],
    ["group", group],
  ] as const;
}

/** Job problems before group problems, each scope in key order of {@link SCHEDULE_KEYS}. */
function ordered(problems: MetaProblem[]): MetaProblem[] {
  const rank = (problem: MetaProblem) =>
    (problem.scope === "job" ? 0 : SCHEDULE_KEYS.length) + SCHEDULE_KEYS.indexOf(problem.key);
  return [...problems].sort((a, b) => rank(a) - rank(b));
}

/** A meta value that is the map's own (not `__proto__` or `constructor` from the prototype). */
function own(meta: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(meta, key) && typeof meta[key] === "string" ? meta[key] : undefined;
}

/** The expressions of one value, or why one of them is not valid. */
const compileExpressions = memoized(compileValue);

function compileValue(value: string, timezone: string): Expressions | string {
  const texts = value.split(";").map((part) => part.trim());
  const crons: Cron[] = [];
  for (const text of texts) {
    if (text === "") return "an empty expression";
    let cron: Cron;
    try {
      cron = new Cron(text, { timezone, mode: "5-part" });
    } catch (error) {
      return `${JSON.stringify(text)}: ${String(error instanceof Error ? error.message : error).replace(/^CronPattern: /, "")}`;
    }
    // A pattern such as "0 0 30 2 *" parses but never fires.
    if (cron.nextRun(new Date(NEVER_REFERENCE)) === null) return `${JSON.stringify(text)} never matches`;
    crons.push(cron);
  }
  return new Expressions(texts, crons);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant `exclude-until` names: an RFC 3339 date-time with its offset, or for a bare date the end of
 * that day in `timezone` (the instant its last minute ends, which is the next local midnight but on a day
 * whose midnight falls in a DST change). Years 0001–9999. Undefined for anything else, an impossible date
 * included.
 */
type Six = [number, number, number, number, number, number];

const parseExcludeUntil = memoized(excludeUntilInstant);

function excludeUntilInstant(value: string, timezone: string): number | undefined {
  const date = DATE.exec(value);
  if (date) {
    const [y, m, d] = date.slice(1).map(Number) as [number, number, number];
    if (!isCalendarDate(y, m, d)) return undefined;
    // The day's last minute in the zone, plus a minute: croner does the zone arithmetic. Any minute of the day
    // is an interval pattern, so a minute that happens twice counts at its second occurrence, and a day
    // that ends in a gap ends where the gap begins.
    const dayMinutes = new Cron(`0 * * ${d} ${m} * ${y}`, { timezone, mode: "7-part" });
    const lastMinute = dayMinutes.previousRuns(1, new Date(fullYearUtc(y, m, d + 3, 0, 0, 0)))[0];
    return lastMinute === undefined ? undefined : lastMinute.getTime() + MINUTE_MS;
  }
  const time = DATE_TIME.exec(value);
  if (!time) return undefined;
  const [y, mo, d, h, mi, s] = time.slice(1, 7).map(Number) as Six;
  const [fraction, zulu, sign, offsetH, offsetM] = time.slice(7);
  if (!isCalendarDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return undefined;
  const offsetMinutes = zulu ? 0 : (sign === "-" ? -1 : 1) * (Number(offsetH) * 60 + Number(offsetM));
  if (!zulu && (Number(offsetH) > 23 || Number(offsetM) > 59)) return undefined;
  const ms = Number(`${(fraction ?? ".").slice(1)}000`.slice(0, 3));
  return fullYearUtc(y, mo, d, h, mi, s) + ms - offsetMinutes * MINUTE_MS;
}

function isCalendarDate(y: number, m: number, d: number): boolean {
  const date = new Date(fullYearUtc(y, m, d, 0, 0, 0));
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1;
}

/** Date.UTC, without its mapping of years 0–99 to 1900–1999. */
function fullYearUtc(y: number, m: number, d: number, h: number, mi: number, s: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}

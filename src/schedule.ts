import { Cron } from "croner";
import { DURATION_FORM, parseDuration } from "./duration.js";
import type { MetaProblem } from "./model/meta.js";

/**
 * Schedules of issue 11, evaluated without I/O: every function takes the instant (`now`, ms since the epoch)
 * as a parameter, so the monitor's fake clock drives it. Cron expressions are parsed and evaluated by croner
 * (5-field patterns, minute resolution); nothing here parses cron.
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
 *
 * Precedence ({@link Schedule.allows}):
 * | intended action      | excluded (now < exclude-until) | in a keep-alive window | stopped/scaled by this monitor | verdict          |
 * | -------------------- | ------------------------------ | ---------------------- | ------------------------------ | ---------------- |
 * | stop for idleness    | yes                            | any                    | any                            | no: excluded     |
 * | stop for idleness    | no                             | yes                    | any                            | no: keep-alive   |
 * | stop for idleness    | no                             | no                     | any                            | act              |
 * | stop-at firing       | yes                            | any                    | any                            | no: excluded     |
 * | stop-at firing       | no                             | any                    | any                            | act              |
 * | start-at firing      | yes                            | any                    | any                            | no: excluded     |
 * | start-at firing      | no                             | any                    | no                             | no: not-ours     |
 * | start-at firing      | no                             | any                    | yes                            | act              |
 *
 * Daylight saving time (croner's rules, tested in test/schedule.test.ts with Europe/Berlin):
 * - A firing with a single minute and hour (`30 2 * * *`) is fixed-time. On the night clocks move forward
 *   (2026-03-29, 02:00 → 03:00) its 02:30 does not exist: it fires once at 03:00 CEST, the first valid time
 *   after the gap. On the night clocks move back (2026-10-25, 03:00 → 02:00) 02:30 happens twice: it fires
 *   once, at the first 02:30 (CEST).
 * - Any other firing (`0,30 * * * *`, `0 2,14 * * *`, `30 1-3 * * *`) is an interval: the minutes in the
 *   gap are skipped, and a repeated minute fires on both occurrences.
 * - A keep-alive window compares wall-clock minutes: a window over 02:xx is empty on the spring night and lasts
 *   both 02:xx hours on the autumn night; `* 8-18 * * *` is unaffected.
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

export type FiringKind = "stop-at" | "start-at";
export type Intent = "idle-stop" | FiringKind;
export type Verdict = { act: true } | { act: false; because: "excluded" | "keep-alive" | "not-ours" };
export type DueFiring =
  | { kind: "due"; firing: number; lateByMs: number }
  | { kind: "skipped"; firing: number; lateByMs: number };

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
const KEEP_ALIVE_HORIZON_MS = 8 * 24 * 60 * MINUTE_MS;

/** A compiled set of expressions of one key, and what was written. */
class Expressions {
  constructor(
    readonly text: readonly string[],
    private readonly crons: readonly Cron[],
  ) {}

  /** Whether the minute holding `now` matches one of them (wall clock in the zone). */
  matches(now: number): boolean {
    const minute = new Date(now - mod(now, MINUTE_MS));
    return this.crons.some((cron) => cron.match(minute));
  }

  /** The first firing strictly after `from`. */
  next(from: number): number | undefined {
    return earliest(this.crons.map((cron) => cron.nextRun(new Date(from))?.getTime()));
  }

  /** The latest firing at or before `at`. */
  previous(at: number): number | undefined {
    // previousRuns excludes its reference: 1 ms later includes a firing exactly at `at`.
    const runs = this.crons.map((cron) => cron.previousRuns(1, new Date(at + 1))[0]?.getTime());
    return latest(runs);
  }
}

/**
 * The schedule of one task group. Built only by {@link readScheduleMeta}; every method is pure in `now`.
 */
export class Schedule {
  /** @internal */
  constructor(
    readonly timezone: string,
    private readonly windows: Expressions,
    private readonly firings: Readonly<Record<FiringKind, Expressions>>,
    /** Instant before which nothing is done (exclusive), or undefined. */
    readonly excludeUntil: number | undefined,
    /** How long before an action its warning is due; 0 = no warning. */
    readonly warnBeforeMs: number,
  ) {}

  /** What was written, for comparing two versions of a job's policy. */
  toJSON(): object {
    return {
      timezone: this.timezone,
      keepAlive: this.windows.text,
      stopAt: this.firings["stop-at"].text,
      startAt: this.firings["start-at"].text,
      excludeUntil: this.excludeUntil,
      warnBeforeMs: this.warnBeforeMs,
    };
  }

  /** ` keep-alive "* 8-18 * * 1-5", stop-at "0 20 * * *" (Europe/Berlin)`, or "" when nothing is set. */
  describe(): string {
    const crons = (["keep-alive", "stop-at", "start-at"] as const)
      .filter((kind) => this.expressions(kind).length > 0)
      .map((kind) => `${kind} ${quoted(this.expressions(kind))}`);
    const parts = [
      ...(crons.length > 0 ? [`${crons.join(", ")} (${this.timezone})`] : []),
      ...(this.excludeUntil === undefined
        ? []
        : [`excluded until ${describeInstant(this.excludeUntil, this.timezone)}`]),
    ];
    return parts.length === 0 ? "" : `; ${parts.join(", ")}`;
  }

  /** Whether any firing of `kind` is set. */
  has(kind: FiringKind): boolean {
    return this.firings[kind].text.length > 0;
  }

  /** The expressions as written, per kind. */
  expressions(kind: FiringKind | "keep-alive"): readonly string[] {
    return kind === "keep-alive" ? this.windows.text : this.firings[kind].text;
  }

  /** Whether `exclude-until` still holds at `now`. */
  excluded(now: number): boolean {
    return this.excludeUntil !== undefined && now < this.excludeUntil;
  }

  /** Whether the minute holding `now` is in a keep-alive window. */
  keepAlive(now: number): boolean {
    return this.windows.matches(now);
  }

  /**
   * When the keep-alive window holding `now` ends: the start of the first minute outside every window,
   * looked for up to 8 days ahead; undefined when `now` is outside every window or none ends that soon.
   */
  keepAliveUntil(now: number): number | undefined {
    if (!this.keepAlive(now)) return undefined;
    const start = now - mod(now, MINUTE_MS);
    for (let minute = start + MINUTE_MS; minute <= start + KEEP_ALIVE_HORIZON_MS; minute += MINUTE_MS) {
      if (!this.windows.matches(minute)) return minute;
    }
    return undefined;
  }

  /** The first firing of `kind` strictly after `now`, or undefined when there is none. */
  nextFiring(kind: FiringKind, now: number): number | undefined {
    return this.firings[kind].next(now);
  }

  /** The latest firing of `kind` in (after, now], or undefined: what came due since the last evaluation. */
  lastFiring(kind: FiringKind, after: number, now: number): number | undefined {
    if (now <= after) return undefined;
    const firing = this.firings[kind].previous(now);
    return firing !== undefined && firing > after ? firing : undefined;
  }

  /**
   * The firing of `kind` to carry out at `now`, given that firings up to `lastEvaluatedAt` were dealt with
   * (undefined when nothing was recorded: then only the grace window counts, and nothing is reported skipped).
   * The latest firing in (lastEvaluatedAt, now] is `due` when it is at most `graceMs` old, else `skipped`
   * (missed while no monitor ran: log it, do not replay it). Older missed firings are subsumed by the latest.
   * See {@link missedFiringGraceMs} for the grace.
   */
  dueFiring(
    kind: FiringKind,
    lastEvaluatedAt: number | undefined,
    now: number,
    graceMs: number,
  ): DueFiring | undefined {
    const after = lastEvaluatedAt ?? now - graceMs;
    const firing = this.lastFiring(kind, after, now);
    if (firing === undefined) return undefined;
    const lateByMs = now - firing;
    return { kind: lateByMs <= graceMs ? "due" : "skipped", firing, lateByMs };
  }

  /**
   * The next firing of `kind` when its warning is due at `now`: within (now, now + warn-before] and not
   * excluded at that time. Undefined otherwise, and always when warn-before is 0.
   */
  warning(kind: FiringKind, now: number): number | undefined {
    if (this.warnBeforeMs <= 0) return undefined;
    const firing = this.nextFiring(kind, now);
    if (firing === undefined || firing - now > this.warnBeforeMs || this.excluded(firing)) return undefined;
    return firing;
  }

  /**
   * Whether an intended action may be carried out at `now` (the precedence table above). `stoppedByMonitor`
   * says whether this monitor stopped the job or scaled the group (it matters to start-at only).
   */
  allows(intent: Intent, now: number, stoppedByMonitor: boolean): Verdict {
    if (this.excluded(now)) return { act: false, because: "excluded" };
    if (intent === "idle-stop" && this.keepAlive(now)) return { act: false, because: "keep-alive" };
    if (intent === "start-at" && !stoppedByMonitor) return { act: false, because: "not-ours" };
    return { act: true };
  }
}

/** "2026-12-01 20:00 Europe/Berlin": an instant as the people who wrote the schedule read it. */
export function describeInstant(at: number, timezone: string): string {
  const text = zonedFormat(timezone, "").format(new Date(at));
  return `${text} ${timezone}`;
}

const zonedFormat = memoized(
  (timezone: string): Intl.DateTimeFormat =>
    new Intl.DateTimeFormat("sv-SE", {
      timeZone: timezone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }),
);

/**
 * The grace for missed firings: a firing missed by at most this long is carried out late, an older one is
 * skipped. Two check intervals (one cycle may run long) and at least 5 minutes (a monitor restart).
 */
export function missedFiringGraceMs(checkIntervalMs: number): number {
  return Math.max(2 * checkIntervalMs, 5 * MINUTE_MS);
}

/**
 * The default zone from the monitor's `TZ` (glibc's leading ":" allowed): that zone when it is an IANA zone
 * this runtime knows, else UTC (a POSIX rule such as "CET-1CEST" is not one).
 */
export function monitorTimezone(tz: string | undefined): string {
  const name = tz?.replace(/^:/, "");
  return name !== undefined && isTimezone(name) ? name : "UTC";
}

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
      const result = compile(value, timezone);
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

/**
 * Results of deterministic functions, kept because croner is not cheap (building a pattern or an Intl zone
 * formatter costs around a millisecond) and the same meta is read every cycle. Bounded: emptied when full.
 */
function memoized<R>(fn: (value: string, timezone: string) => R): (value: string, timezone: string) => R {
  const cache = new Map<string, R>();
  return (value, timezone) => {
    const key = JSON.stringify([value, timezone]);
    if (cache.has(key)) return cache.get(key) as R;
    if (cache.size >= MEMO_SIZE) cache.clear();
    const result = fn(value, timezone);
    cache.set(key, result);
    return result;
  };
}

const MEMO_SIZE = 1_000;

/** The expressions of one value, or why one of them is not valid. */
const compile = memoized(compileExpressions);

function compileExpressions(value: string, timezone: string): Expressions | string {
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
    // A pattern such as "0 0 30 2 *" parses but never fires; from a fixed instant, to stay pure.
    if (cron.nextRun(new Date(NEVER_REFERENCE)) === null) return `${JSON.stringify(text)} never matches`;
    crons.push(cron);
  }
  return new Expressions(texts, crons);
}

const NEVER_REFERENCE = Date.UTC(2000, 0, 1);

const isTimezone = (name: string): boolean => knownZone(name, "");
const knownZone = memoized((name: string): boolean => {
  if (name.trim() === "" || name !== name.trim()) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    // croner resolves the zone through Intl as well; a pattern in it proves it evaluates.
    new Cron("* * * * *", { timezone: name, mode: "5-part" }).nextRun(new Date(NEVER_REFERENCE));
    return true;
  } catch {
    return false;
  }
});

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

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

function quoted(texts: readonly string[]): string {
  return texts.map((text) => `"${text}"`).join("; ");
}

function earliest(times: Array<number | undefined>): number | undefined {
  const defined = times.filter((time): time is number => time !== undefined);
  return defined.length > 0 ? Math.min(...defined) : undefined;
}

function latest(times: Array<number | undefined>): number | undefined {
  const defined = times.filter((time): time is number => time !== undefined);
  return defined.length > 0 ? Math.max(...defined) : undefined;
}

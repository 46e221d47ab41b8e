import { Cron } from "croner";

/**
 * Schedules of issue 11, evaluated without I/O: every method takes the instant (`now`, ms since the epoch)
 * as a parameter, so the monitor's fake clock drives it. Cron expressions are parsed and evaluated by croner
 * (5-field patterns, minute resolution); nothing here parses cron. The meta keys are read in schedule-meta.ts.
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

export type FiringKind = "stop-at" | "start-at";
export type Intent = "idle-stop" | FiringKind;
export type Verdict = { act: true } | { act: false; because: "excluded" | "keep-alive" | "not-ours" };
export type DueFiring =
  | { kind: "due"; firing: number; lateByMs: number }
  | { kind: "skipped"; firing: number; lateByMs: number };

const MINUTE_MS = 60_000;
const KEEP_ALIVE_HORIZON_MS = 8 * 24 * 60 * MINUTE_MS;

/** A compiled set of expressions of one key, and what was written. */
export class Expressions {
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
 * The schedule of one task group. Built by readScheduleMeta (schedule-meta.ts); every method is pure in `now`.
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
 * Results of deterministic functions, kept because croner is not cheap (building a pattern or an Intl zone
 * formatter costs around a millisecond) and the same meta is read every cycle. Bounded: emptied when full.
 */
export function memoized<R>(
  fn: (value: string, timezone: string) => R,
): (value: string, timezone: string) => R {
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

/** A fixed instant to ask "does it ever fire?" from, so that the answer stays pure. */
export const NEVER_REFERENCE = Date.UTC(2000, 0, 1);

export const isTimezone = (name: string): boolean => knownZone(name, "");
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

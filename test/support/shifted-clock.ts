import { type Clock, systemClock } from "../../src/clock.js";

/**
 * Real timers with the wall clock moved: `now()` starts at the given instant and runs at real speed, and
 * `jumpTo` moves it forward — so that a monitor meets a cron firing a few seconds into a test.
 */
export class ShiftedClock implements Clock {
  private offsetMs: number;

  constructor(startAt: number) {
    this.offsetMs = startAt - Date.now();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  jumpTo(at: number): void {
    if (at < this.now()) throw new Error("a shifted clock only moves forward");
    this.offsetMs = at - Date.now();
  }

  sleep = systemClock.sleep;
  after = systemClock.after;
  every = systemClock.every;
}

/** The same time as read on a machine whose clock is `offsetMs` off (a Nomad server's, for skew tests). */
export function offsetClock(clock: Clock, offsetMs: number): Clock {
  return {
    now: () => clock.now() + offsetMs,
    sleep: (ms, signal) => clock.sleep(ms, signal),
    after: (ms, fn) => clock.after(ms, fn),
    every: (ms, fn) => clock.every(ms, fn),
  };
}

import { type Clock, systemClock } from "../../src/clock.js";

/**
 * Real timers, and a `now()` that stands still until the test moves it: times and ages read from it are
 * exact, however long the test took to get there.
 */
export class HeldClock implements Clock {
  constructor(private at: number) {}

  now(): number {
    return this.at;
  }

  advance(ms: number): void {
    this.at += ms;
  }

  sleep = systemClock.sleep;
  after = systemClock.after;
  every = systemClock.every;
}

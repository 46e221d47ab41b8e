import { setTimeout as delay } from "node:timers/promises";

/** Cancels a timer; calling it twice is harmless. */
export type Cancel = () => void;

/**
 * Time and timers, injected so that every rule — decisions, backoff, deadlines, watchdogs — can be
 * tested on fake time. Times are milliseconds since the epoch.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when the signal aborts (the caller checks the signal). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Cancel;
  /** Calls `fn` every `ms`. */
  every(ms: number, fn: () => void): Cancel;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};

import type { Cancel, Clock } from "../../src/clock.js";

interface Timer {
  at: number;
  fn: () => void;
  repeatMs: number | undefined;
}

/** Lets pending promise callbacks and I/O callbacks of the current turn run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Time that moves only when the test says so; timers fire in order as it advances. */
export class FakeClock implements Clock {
  #now: number;
  readonly #timers = new Set<Timer>();

  constructor(start = Date.UTC(2026, 11, 1, 9, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Cancel {
    return this.#add({ at: this.#now + Math.max(0, ms), fn, repeatMs: undefined });
  }

  every(ms: number, fn: () => void): Cancel {
    return this.#add({ at: this.#now + ms, fn, repeatMs: ms });
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const cancel = this.after(ms, resolve);
      signal?.addEventListener(
        "abort",
        () => {
          cancel();
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, each at its own time. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      const due = [...this.#timers].filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      if (due.repeatMs === undefined) this.#timers.delete(due);
      else due.at += due.repeatMs;
      due.fn();
    }
    this.#now = target;
    await settle();
  }

  #add(timer: Timer): Cancel {
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }
}

import type { Cancel, Clock } from "../../src/clock.js";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  repeatMs: number | undefined;
  cancelled: boolean;
}

/** Lets the promise callbacks and I/O callbacks of the current turn run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Fake time for thousands of monitors in one process: timers in a binary heap (test/support/fake-clock.ts
 * sorts every timer at every step, which is fine for a test and too slow for 1,000 monitor loops).
 */
export class HeapClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #heap: Timer[] = [];

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Cancel {
    return this.#add(Math.max(0, ms), fn, undefined);
  }

  every(ms: number, fn: () => void): Cancel {
    return this.#add(ms, fn, ms);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      // The signal lives as long as the monitors: a listener left on it per sleep would pile up.
      const aborted = () => {
        cancel();
        resolve();
      };
      const cancel = this.after(ms, () => {
        signal?.removeEventListener("abort", aborted);
        resolve();
      });
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }

  /**
   * Moves time to `target`, firing each timer at its own time; after each instant's timers, lets what they
   * started run (`turns` rounds of the event loop), so that a cycle's requests complete at that instant.
   */
  async advanceTo(target: number, turns = 3): Promise<void> {
    for (;;) {
      for (let turn = 0; turn < turns; turn++) await settle();
      const next = this.#heap[0];
      if (!next || next.at > target) break;
      this.#now = next.at;
      while (this.#heap[0] && this.#heap[0].at === this.#now) {
        const due = this.#pop();
        if (due.cancelled) continue;
        if (due.repeatMs !== undefined) {
          due.at += due.repeatMs;
          due.seq = this.#seq++;
          this.#push(due);
        }
        due.fn();
      }
    }
    this.#now = target;
  }

  #add(ms: number, fn: () => void, repeatMs: number | undefined): Cancel {
    const timer: Timer = { at: this.#now + ms, seq: this.#seq++, fn, repeatMs, cancelled: false };
    this.#push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(heap[index] as Timer, heap[parent] as Timer)) break;
      [heap[index], heap[parent]] = [heap[parent] as Timer, heap[index] as Timer];
      index = parent;
    }
  }

  #pop(): Timer {
    const heap = this.#heap;
    const top = heap[0] as Timer;
    const last = heap.pop() as Timer;
    if (heap.length > 0) {
      heap[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < heap.length && before(heap[left] as Timer, heap[smallest] as Timer)) smallest = left;
        if (right < heap.length && before(heap[right] as Timer, heap[smallest] as Timer)) smallest = right;
        if (smallest === index) break;
        [heap[index], heap[smallest]] = [heap[smallest] as Timer, heap[index] as Timer];
        index = smallest;
      }
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

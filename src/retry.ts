export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Capped exponential backoff with full jitter: attempt 0 waits up to initialMs, doubling up to maxMs. */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves after `ms`, or at once when the signal aborts (the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Says something at most once per `intervalMs` per key, so a dependency that stays down for an hour
 * yields a handful of lines instead of thousands.
 */
export class RateLimitedNotice {
  private readonly lastSaid = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  shouldSay(key: string): boolean {
    const last = this.lastSaid.get(key);
    const now = this.now();
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.lastSaid.set(key, now);
    return true;
  }

  clear(key: string): boolean {
    return this.lastSaid.delete(key);
  }
}

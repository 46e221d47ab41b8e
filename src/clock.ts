/** Wall-clock time in milliseconds since the epoch; injected so decisions can be tested with a fake clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

import type { Clock } from "../../src/clock.js";

/** Which requests a fault applies to; every request when empty. */
export interface RequestMatch {
  method?: string;
  /** A path prefix (`/v1/job/`) or a pattern tested against the path. */
  path?: string | RegExp;
}

/** How long a fault lasts: `count` requests, `forMs` milliseconds, or until `clear()` when neither is given. */
export interface FaultDuration {
  count?: number;
  forMs?: number;
}

export interface FailRequests extends RequestMatch, FaultDuration {
  status: number;
  /** Plain-text body; `No cluster leader` (a real Nomad 500) by default. */
  body?: string;
}

export interface SlowRequests extends RequestMatch, FaultDuration {
  delayMs: number;
}

/** The faults tests inject into the simulated Nomad API. */
export interface SimulatorFaults {
  failRequests(fault: FailRequests): void;
  slowRequests(fault: SlowRequests): void;
  /** Destroys the sockets of every open event stream at once (a crashed server or a broken link). */
  cutStreams(): void;
  /** Open event streams stay connected but receive nothing more, not even heartbeats (a half-open link). */
  stallStreams(): void;
  /** Ends the request faults (failing and slow); cut or stalled streams stay as they are. */
  clear(): void;
}

export interface StreamControl {
  cutAll(): void;
  stallAll(): void;
}

export interface RequestFate {
  delayMs: number;
  failure?: { status: number; body: string };
}

interface Rule extends RequestMatch {
  remaining: number | undefined;
  until: number | undefined;
  effect: { delayMs: number } | { status: number; body: string };
}

export class Faults implements SimulatorFaults {
  #rules: Rule[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly streams: StreamControl,
  ) {}

  failRequests(fault: FailRequests): void {
    this.#add(fault, { status: fault.status, body: fault.body ?? "No cluster leader" });
  }

  slowRequests(fault: SlowRequests): void {
    this.#add(fault, { delayMs: fault.delayMs });
  }

  cutStreams(): void {
    this.streams.cutAll();
  }

  stallStreams(): void {
    this.streams.stallAll();
  }

  clear(): void {
    this.#rules = [];
  }

  /** What happens to this request: the delays of every matching slow fault, and the first matching failure. */
  fateOf(method: string, path: string): RequestFate {
    const now = this.clock.now();
    this.#rules = this.#rules.filter(
      (rule) => rule.remaining !== 0 && (rule.until === undefined || now < rule.until),
    );
    const fate: RequestFate = { delayMs: 0 };
    for (const rule of this.#rules) {
      if (!matches(rule, method, path)) continue;
      if ("delayMs" in rule.effect) fate.delayMs += rule.effect.delayMs;
      else if (fate.failure) continue;
      else fate.failure = rule.effect;
      if (rule.remaining !== undefined) rule.remaining--;
    }
    return fate;
  }

  #add(fault: RequestMatch & FaultDuration, effect: Rule["effect"]): void {
    this.#rules.push({
      method: fault.method,
      path: fault.path,
      remaining: fault.count,
      until: fault.forMs === undefined ? undefined : this.clock.now() + fault.forMs,
      effect,
    });
  }
}

function matches(match: RequestMatch, method: string, path: string): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === "string" ? path.startsWith(match.path) : match.path.test(path);
}

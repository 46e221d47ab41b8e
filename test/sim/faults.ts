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

/** What the client agent answers while it cannot reach a Nomad server (recorded from Nomad 1.6.5). */
export const OUTAGE_ANSWERS = {
  /** `server-outage-node-allocations.http`: every endpoint but the stream, plain text. */
  dial: "rpc error: failed to get conn: dial tcp 127.0.0.1:4647: connect: connection refused",
  /** `server-outage-stream-subscribe.http`: a stream subscription, labelled `application/json`. */
  streamDial: "dial tcp 127.0.0.1:4647: connect: connection refused",
  /** Seen in the monitor's log in the same outage: the agent could not resolve the token. */
  authenticating: "Server error authenticating request",
  /** `server-outage-stream-end.txt`: the plain-text last line of a stream open when the server went away. */
  streamEnd: "EOF",
} as const;

export interface ServerOutage extends FaultDuration {
  /**
   * Which 500 the requests get: `dial` (the default) the recorded dial errors, `authenticating`
   * `Server error authenticating request` (on the stream labelled `application/json`, as every
   * refused subscription is).
   */
  answer?: "dial" | "authenticating";
  /** End the streams open when the outage starts with the last line `EOF` (the default), or leave them. */
  endStreams?: boolean;
}

/** The faults tests inject into the simulated Nomad API. */
export interface SimulatorFaults {
  failRequests(fault: FailRequests): void;
  slowRequests(fault: SlowRequests): void;
  /** Destroys the sockets of every open event stream at once (a crashed server or a broken link). */
  cutStreams(): void;
  /** Open event streams stay connected but receive nothing more, not even heartbeats (a half-open link). */
  stallStreams(): void;
  /** Destroys the connections of every held blocking query (a crashed server or a broken link). */
  cutWatches(): void;
  /**
   * Blocking queries, held and new, are never answered any more — not at a change, not after their wait
   * (a half-open link). Until the simulator closes.
   */
  stallWatches(): void;
  /**
   * The Nomad servers go away while the client agent the monitor talks to stays up, as recorded
   * from Nomad 1.6.5 (test/fixtures/nomad-1.6.5/server-outage-*):
   * - every request answers **500**: by default the dial error, plain text
   *   (`rpc error: failed to get conn: dial tcp 127.0.0.1:4647: connect: connection refused`),
   *   and on `GET /v1/event/stream` `dial tcp 127.0.0.1:4647: connect: connection refused`
   *   labelled `application/json` (not JSON); with `answer: "authenticating"` every request
   *   answers `Server error authenticating request` instead (a server problem, not a bad token;
   *   only the plain-text dial errors were recorded, this one was seen in the monitor's log);
   * - every stream open when it starts ends with the plain-text last line `EOF` (no newline),
   *   unless `endStreams: false`.
   *
   * It lasts `forMs` milliseconds, `count` requests, or until `clear()`. Nothing of the cluster's
   * state changes: once it is over, requests and new subscriptions work as before. Faults added
   * with `failRequests` still win over it for the requests they match; slow requests still apply.
   */
  serverOutage(outage?: ServerOutage): void;
  /** Ends every open event stream with the plain-text last line `EOF`, as when the server went away. */
  endStreamsWithEof(): void;
  /** Ends the request faults (failing, slow, outage); cut, stalled or ended streams stay as they are. */
  clear(): void;
}

export interface StreamControl {
  cutAll(): void;
  stallAll(): void;
  /** Ends every open stream with this plain-text last line. */
  endAll(lastLine: string): void;
}

export interface WatchControl {
  cutAll(): void;
  stallAll(): void;
}

export interface Failure {
  status: number;
  body: string;
  /** Nomad's headers of this answer when they are not plain text's (the event stream's). */
  headers?: Record<string, string>;
}

export interface RequestFate {
  delayMs: number;
  failure?: Failure;
}

const EVENT_STREAM = "/v1/event/stream";
// The event stream sets these before it subscribes, so its errors carry them (err-stream-no-capability.http).
export const EVENT_STREAM_HEADERS = { "Content-Type": "application/json", "Cache-Control": "no-cache" };

type Effect = { delayMs: number } | Failure | { outage: NonNullable<ServerOutage["answer"]> };

interface Rule extends RequestMatch {
  remaining: number | undefined;
  until: number | undefined;
  effect: Effect;
}

export class Faults implements SimulatorFaults {
  #rules: Rule[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly streams: StreamControl,
    private readonly watches: WatchControl,
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

  cutWatches(): void {
    this.watches.cutAll();
  }

  stallWatches(): void {
    this.watches.stallAll();
  }

  serverOutage(outage: ServerOutage = {}): void {
    // Matched last, so failures asked for explicitly (whenever added) win over the outage.
    this.#add(outage, { outage: outage.answer ?? "dial" });
    if (outage.endStreams ?? true) this.endStreamsWithEof();
  }

  endStreamsWithEof(): void {
    this.streams.endAll(OUTAGE_ANSWERS.streamEnd);
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
    let outage: Failure | undefined;
    for (const rule of this.#rules) {
      if (!matches(rule, method, path)) continue;
      if ("delayMs" in rule.effect) fate.delayMs += rule.effect.delayMs;
      else if ("outage" in rule.effect) {
        if (outage) continue;
        outage = outageAnswer(rule.effect.outage, path);
      } else if (fate.failure) continue;
      else fate.failure = rule.effect;
      if (rule.remaining !== undefined) rule.remaining--;
    }
    fate.failure ??= outage;
    return fate;
  }

  #add(fault: RequestMatch & FaultDuration, effect: Effect): void {
    this.#rules.push({
      method: fault.method,
      path: fault.path,
      remaining: fault.count,
      until: fault.forMs === undefined ? undefined : this.clock.now() + fault.forMs,
      effect,
    });
  }
}

function outageAnswer(answer: NonNullable<ServerOutage["answer"]>, path: string): Failure {
  const stream = path === EVENT_STREAM;
  const body =
    answer === "authenticating"
      ? OUTAGE_ANSWERS.authenticating
      : stream
        ? OUTAGE_ANSWERS.streamDial
        : OUTAGE_ANSWERS.dial;
  return stream ? { status: 500, body, headers: EVENT_STREAM_HEADERS } : { status: 500, body };
}

function matches(match: RequestMatch, method: string, path: string): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === "string" ? path.startsWith(match.path) : match.path.test(path);
}

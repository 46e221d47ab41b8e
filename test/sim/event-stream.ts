import type { ServerResponse } from "node:http";
import { createGzip, type Gzip } from "node:zlib";
import { type Grants, PERMISSION_DENIED, type TokenStore } from "./acl.js";
import { ALL, type EventBroker } from "./event-broker.js";
import { EVENT_STREAM_HEADERS } from "./faults.js";
import { GZIP_MIN_SIZE, HttpError, type RequestContext, type Route } from "./http-server.js";
import type { EventBatch } from "./model.js";
import type { NomadVersion } from "./simulator.js";
import { type WireFormat, wireFormat } from "./wire-format.js";

const HEARTBEAT = "{}\n";
const NAMESPACED_TOPICS = new Set(["Allocation", "Job", "Deployment", "Evaluation", "Service"]);

/** The open event streams, so faults can cut or stall them all at once. */
export class OpenStreams {
  readonly #streams = new Set<StreamConnection>();

  add(stream: StreamConnection): void {
    this.#streams.add(stream);
  }

  delete(stream: StreamConnection): void {
    this.#streams.delete(stream);
  }

  cutAll(): void {
    for (const stream of [...this.#streams]) stream.cut();
  }

  stallAll(): void {
    for (const stream of this.#streams) stream.stall();
  }

  endAll(lastLine?: string): void {
    for (const stream of [...this.#streams]) stream.end(lastLine);
  }
}

/** `GET /v1/event/stream` (nomad-api-notes.md "Event stream"). */
export function eventStreamRoute(deps: {
  broker: EventBroker;
  tokens: TokenStore;
  streams: OpenStreams;
  heartbeatIntervalMs: number;
  version: NomadVersion;
}): Route {
  const wire = wireFormat(deps.version);
  return {
    methods: ["GET"],
    pattern: /^\/v1\/event\/stream$/,
    handle(context) {
      const index = parseIndex(context.query.get("index"));
      const topics = parseTopics(context.query.getAll("topic"));
      const resolution = deps.tokens.resolve(context.token);
      const refusal =
        "error" in resolution
          ? resolution.error
          : [...topics.keys()].every((topic) => mayRead(resolution.grants, topic, context.namespace))
            ? undefined
            : PERMISSION_DENIED;
      if (refusal !== undefined) {
        // Nomad 1.6.5 answers refused subscriptions with 500, not 403, labelled as JSON (its headers are
        // set before it subscribes) though the body is plain text; Nomad 2.0.5 answers 200 with those
        // headers and then nothing at all (err-stream-no-capability.http of each).
        if (deps.version === "1.6.5") throw new HttpError(500, refusal, undefined, EVENT_STREAM_HEADERS);
        new StreamConnection(context, deps.streams, { silent: true, heartbeatIntervalMs: 0, wire });
        return { streaming: true };
      }

      const connection = new StreamConnection(context, deps.streams, {
        silent: false,
        heartbeatIntervalMs: deps.heartbeatIntervalMs,
        wire,
      });
      const subscription = deps.broker.subscribe(
        { topics, namespace: context.namespace, index, token: context.token },
        { deliver: (batch) => connection.send(batch), end: (lastLine) => connection.end(lastLine) },
      );
      connection.onClose(() => subscription.unsubscribe());
      return { streaming: true };
    },
  };
}

/**
 * One subscriber's HTTP response: a heartbeat right away and then every interval, a line per batch —
 * or, `silent`, the headers and then nothing (Nomad 2.0.5's refusal). Asked for gzip, it behaves as
 * Nomad's gzip handler does: nothing (not even the status line) goes out before 1400 bytes have piled
 * up, which is why clients must not ask for gzip here.
 */
class StreamConnection {
  readonly #response: ServerResponse;
  readonly #heartbeat: NodeJS.Timeout | undefined;
  readonly #wire: WireFormat;
  #gzip: Gzip | undefined;
  #heldBack: Buffer[] | undefined;
  #stalled = false;
  #closed = false;
  readonly #onClose: Array<() => void> = [];

  constructor(
    context: RequestContext,
    private readonly registry: OpenStreams,
    options: { silent: boolean; heartbeatIntervalMs: number; wire: WireFormat },
  ) {
    this.#response = context.response;
    this.#wire = options.wire;
    for (const [name, value] of Object.entries(EVENT_STREAM_HEADERS)) this.#response.setHeader(name, value);
    if (context.acceptsGzip && !options.silent) {
      this.#heldBack = [];
    } else {
      this.#response.writeHead(200);
      this.#response.flushHeaders();
    }
    registry.add(this);
    this.#response.once("close", () => this.#closeDown());
    if (options.silent) {
      this.#stalled = true;
      return;
    }
    this.#heartbeat = setInterval(() => this.#write(HEARTBEAT), options.heartbeatIntervalMs);
    this.#write(HEARTBEAT);
  }

  onClose(listener: () => void): void {
    this.#onClose.push(listener);
  }

  send(batch: EventBatch): void {
    this.#write(`${JSON.stringify(this.#wire.batch(batch))}\n`);
  }

  /** The server ends the stream, with a plain-text last line when one is given. */
  end(lastLine?: string): void {
    if (this.#closed) return;
    if (lastLine !== undefined) this.#write(lastLine);
    this.#closeDown();
    if (this.#gzip) {
      this.#gzip.end();
      return;
    }
    // Too little for gzip: the gzip handler sends what it held back as it is.
    if (!this.#response.headersSent) this.#response.writeHead(200);
    this.#response.end(this.#heldBack ? Buffer.concat(this.#heldBack) : undefined);
  }

  cut(): void {
    this.#closeDown();
    this.#response.socket?.resetAndDestroy();
  }

  stall(): void {
    this.#stalled = true;
  }

  #write(text: string): void {
    if (this.#closed || this.#stalled) return;
    const chunk = Buffer.from(text);
    if (this.#gzip) {
      this.#gzip.write(chunk);
      this.#gzip.flush();
      return;
    }
    if (!this.#heldBack) {
      this.#response.write(chunk);
      return;
    }
    this.#heldBack.push(chunk);
    if (this.#heldBack.reduce((sum, part) => sum + part.length, 0) < GZIP_MIN_SIZE) return;
    this.#response.setHeader("Content-Encoding", "gzip");
    this.#response.setHeader("Vary", "Accept-Encoding");
    this.#response.writeHead(200);
    this.#gzip = createGzip();
    this.#gzip.pipe(this.#response);
    this.#gzip.write(Buffer.concat(this.#heldBack));
    this.#gzip.flush();
    this.#heldBack = undefined;
  }

  #closeDown(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.registry.delete(this);
    for (const listener of this.#onClose) listener();
  }
}

// Nomad's per-topic ACL check for subscriptions; no topic at all (`*`) needs a management token.
function mayRead(grants: Grants, topic: string, namespace: string): boolean {
  if (NAMESPACED_TOPICS.has(topic)) return grants.allowsNamespace(namespace, "read-job");
  if (topic === "Node") return grants.allowsNodeRead;
  return grants.isManagement;
}

function parseIndex(value: string | null): number {
  if (value === null || value === "") return 0;
  if (!/^-?\d+$/.test(value)) {
    throw new HttpError(400, `Unable to parse index: strconv.Atoi: parsing "${value}": invalid syntax`);
  }
  return Number(value);
}

function parseTopics(values: string[]): Map<string, string[]> {
  if (values.length === 0) return new Map([[ALL, [ALL]]]);
  const topics = new Map<string, string[]>();
  for (const value of values) {
    const parts = value.split(":");
    if (parts.length > 2) {
      throw new HttpError(
        400,
        `Invalid topic query: error parsing topics: Invalid key value pair for topic, topic: ${value}`,
      );
    }
    const [topic = "", key = ALL] = parts;
    topics.set(topic, [...(topics.get(topic) ?? []), key]);
  }
  return topics;
}

// A loopback proxy in front of the Docker Engine's socket that counts every request by endpoint, so that
// what a client asks of Docker is measured from outside the client. Used by the bench and the tests;
// the tests also hold, stall or cut it, to play an engine whose event stream lags or whose connections drop.
//
// It relays bytes and reads only the request heads: an HTTP proxy that parsed every request and response
// and encoded them again cost ~0.8 ms of CPU per request here, as much as the sampler's own work per
// inspect, and made the bench's first cycle at 1,000 containers ~1.6 s longer than the sampler's own.
import net, { type AddressInfo, type Socket } from "node:net";
import type { DockerEndpoint } from "../src/docker/engine-client.js";

export interface CountingProxy {
  /** Where clients connect instead of the engine. */
  endpoint: DockerEndpoint;
  /** Requests so far as "GET /containers/{id}/json", versions and IDs folded; a copy. */
  requests(): string[];
  /** Requests so far as "GET /containers/<full id>/json": versions folded, IDs kept; a copy. */
  paths(): string[];
  /** Requests per endpoint so far. */
  byEndpoint(): Record<string, number>;
  /** Holds back what the open event streams carry until `releaseEvents()`: a stream that lags. */
  holdEvents(): void;
  releaseEvents(): void;
  /** Drops every open connection and refuses new ones until `restore()`: the engine went away. */
  cut(): void;
  /**
   * The open event streams stay open but carry nothing more, ever (what they would have carried is
   * lost), and until `restore()` every request's connection is dropped: an engine that hangs, or a
   * connection that died without a word, which only a request of the client's own can notice.
   */
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

/** One client connection and its own connection to the engine. */
interface Relay {
  client: Socket;
  engine: Socket;
  /** Its last request was `GET /events`: what the engine sends from then on is the event stream. */
  events: boolean;
  /** Event stream bytes held back while the stream lags. */
  held: Buffer[] | undefined;
  silenced: boolean;
}

const HEAD_END = "\r\n\r\n";

export async function countingProxy(upstream: DockerEndpoint): Promise<CountingProxy> {
  const requests: string[] = [];
  const paths: string[] = [];
  const relays = new Set<Relay>();
  let refusing = false;
  let stalled = false;

  const drop = (relay: Relay) => {
    relays.delete(relay);
    relay.client.destroy();
    relay.engine.destroy();
  };
  const eventStreams = () => [...relays].filter((relay) => relay.events);

  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const engine =
      "socketPath" in upstream ? net.connect(upstream.socketPath) : net.connect(upstream.port, upstream.host);
    const relay: Relay = { client, engine, events: false, held: undefined, silenced: false };
    relays.add(relay);
    client.on("error", () => drop(relay));
    engine.on("error", () => drop(relay));
    client.on("close", () => drop(relay));
    // What the engine sent before it closed still reaches the client.
    engine.on("close", () => {
      relays.delete(relay);
      client.end();
    });

    // Request heads, and the bodies that a Content-Length announces (skipped, not read).
    let pending = "";
    let bodyLeft = 0;
    client.on("data", (chunk: Buffer) => {
      pending += chunk.toString("latin1");
      for (;;) {
        if (bodyLeft > 0) {
          const skipped = Math.min(bodyLeft, pending.length);
          pending = pending.slice(skipped);
          bodyLeft -= skipped;
          if (bodyLeft > 0) break;
        }
        const end = pending.indexOf(HEAD_END);
        if (end === -1) break;
        const head = pending.slice(0, end);
        pending = pending.slice(end + HEAD_END.length);
        bodyLeft = Number(head.match(/\r\ncontent-length:\s*(\d+)/i)?.[1] ?? 0);
        const lineEnd = head.indexOf("\r\n");
        const [method = "GET", url = "/"] = (lineEnd === -1 ? head : head.slice(0, lineEnd)).split(" ");
        const endpoint = endpointOf(method, url);
        requests.push(endpoint);
        paths.push(`${method} ${pathOf(url)}`);
        if (stalled) {
          drop(relay);
          return;
        }
        relay.events = endpoint === "GET /events";
      }
      engine.write(chunk);
    });
    engine.on("data", (chunk: Buffer) => {
      if (relay.silenced) return;
      if (relay.held) relay.held.push(chunk);
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    endpoint: { host: "127.0.0.1", port: (server.address() as AddressInfo).port, protocol: "http" },
    requests: () => [...requests],
    paths: () => [...paths],
    byEndpoint: () => {
      const counts: Record<string, number> = {};
      for (const request of requests) counts[request] = (counts[request] ?? 0) + 1;
      return counts;
    },
    holdEvents: () => {
      for (const relay of eventStreams()) relay.held ??= [];
    },
    releaseEvents: () => {
      for (const relay of eventStreams()) {
        for (const chunk of relay.held ?? []) relay.client.write(chunk);
        relay.held = undefined;
      }
    },
    cut: () => {
      refusing = true;
      for (const relay of [...relays]) drop(relay);
    },
    stall: () => {
      stalled = true;
      for (const relay of eventStreams()) relay.silenced = true;
    },
    restore: () => {
      refusing = false;
      stalled = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const relay of [...relays]) drop(relay);
        server.close(() => resolve());
      }),
  };
}

/** "GET /containers/{id}/json": the API version prefix and the query dropped, container IDs folded. */
export function endpointOf(method: string, url: string): string {
  return `${method} ${pathOf(url).replace(/^\/containers\/(?!json$)[^/]+/, "/containers/{id}")}`;
}

function pathOf(url: string): string {
  return new URL(url, "http://engine").pathname.replace(/^\/v[\d.]+\//, "/");
}

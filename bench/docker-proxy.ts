// A loopback HTTP proxy in front of the Docker Engine's socket that counts every request by endpoint, so
// that what a client asks of Docker is measured from outside the client. Used by the bench and the tests;
// the tests also cut it, to play an engine whose connections drop.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
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
  /** Holds back what the event streams carry until `releaseEvents()`: a stream that lags. */
  holdEvents(): void;
  releaseEvents(): void;
  /** Drops every open connection and refuses new ones until `restore()`: the engine went away. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function countingProxy(upstream: DockerEndpoint): Promise<CountingProxy> {
  const requests: string[] = [];
  const paths: string[] = [];
  const sockets = new Set<Socket>();
  const heldStreams = new Set<{ flush(): void }>();
  let holding = false;
  let refusing = false;
  const target =
    "socketPath" in upstream
      ? { socketPath: upstream.socketPath }
      : { host: upstream.host, port: upstream.port };

  const server = http.createServer((request, response) => {
    const endpoint = endpointOf(request.method ?? "GET", request.url ?? "/");
    requests.push(endpoint);
    paths.push(`${request.method} ${pathOf(request.url ?? "/")}`);
    const forwarded = http.request(
      { ...target, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!endpoint.endsWith(" /events")) {
          answer.pipe(response);
          return;
        }
        response.flushHeaders();
        const held: Buffer[] = [];
        const stream = {
          flush: () => {
            for (const chunk of held.splice(0)) response.write(chunk);
          },
        };
        heldStreams.add(stream);
        answer.on("data", (chunk: Buffer) => {
          if (holding) held.push(chunk);
          else response.write(chunk);
        });
        answer.on("end", () => response.end());
        response.on("close", () => {
          heldStreams.delete(stream);
          answer.destroy();
        });
      },
    );
    forwarded.on("error", (error) => response.destroy(error));
    response.on("close", () => forwarded.destroy());
    request.pipe(forwarded);
  });
  server.on("connection", (socket: Socket) => {
    if (refusing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
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
      holding = true;
    },
    releaseEvents: () => {
      holding = false;
      for (const stream of heldStreams) stream.flush();
    },
    cut: () => {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      refusing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
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

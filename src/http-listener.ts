import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { MonitorMetrics } from "./metrics.js";

/** What the probes answer: alive (the loop runs) and ready (it can see and act), with what is missing. */
export interface Health {
  alive: boolean;
  ready: boolean;
  problems: string[];
}

export interface HttpListenerOptions {
  listen: { host: string; port: number };
  metrics: MonitorMetrics;
  health: () => Health;
  /** This node's view, as JSON, for dashboards. */
  status: () => unknown;
  /** When set, /metrics and /v1/status want `Authorization: Bearer <it>`, and /readyz says why only to it. */
  bearerToken: () => string | undefined;
  log: Logger;
}

export interface HttpListener {
  address: { host: string; port: number };
  close(): Promise<void>;
}

// A scrape or a probe is small and quick; a client that dawdles is cut off.
const REQUEST_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 5_000;

/**
 * The monitor's operator surface: `/metrics` (Prometheus text, or OpenMetrics when asked for),
 * `/healthz`, `/readyz` and `/v1/status`. Answers GET and HEAD only, and says nothing it need not.
 */
export async function startHttpListener(options: HttpListenerOptions): Promise<HttpListener> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      options.log.warn(`the HTTP listener could not answer ${request.url}: ${(error as Error).message}`);
      if (!response.headersSent) reply(response, 500, "internal error\n");
      else response.destroy();
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.keepAliveTimeout = HEADERS_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(options: HttpListenerOptions, request: IncomingMessage, response: ServerResponse) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    return reply(response, 405, "method not allowed\n");
  }
  const path = new URL(request.url ?? "/", "http://listener").pathname;
  if (path === "/healthz") {
    const { alive, problems } = options.health();
    return reply(response, alive ? 200 : 503, alive ? "ok\n" : `not alive: ${problems.join("; ")}\n`);
  }
  const allowed = authorized(request, options.bearerToken());
  if (path === "/readyz") {
    // Nomad's check cannot present the token (a check's headers are fixed in the job file): without
    // it, the answer is the status alone; with it, what is missing too.
    const { ready, problems } = options.health();
    const details = allowed && !ready ? `: ${problems.join("; ")}` : "";
    return reply(response, ready ? 200 : 503, ready ? "ready\n" : `not ready${details}\n`);
  }
  if (path !== "/metrics" && path !== "/v1/status") return reply(response, 404, "not found\n");
  if (!allowed) {
    response.setHeader("WWW-Authenticate", 'Bearer realm="nomad-idle-monitor"');
    return reply(response, 401, "unauthorized\n");
  }
  if (path === "/v1/status") {
    return reply(response, 200, `${JSON.stringify(options.status())}\n`, "application/json");
  }
  const { body, contentType } = await options.metrics.exposition(request.headers.accept);
  return reply(response, 200, body, contentType);
}

function authorized(request: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const presented = /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")?.[1] ?? "";
  const [a, b] = [Buffer.from(presented), Buffer.from(token)];
  return a.length === b.length && timingSafeEqual(a, b);
}

function reply(
  response: ServerResponse,
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
) {
  response.writeHead(status, { "Content-Type": contentType, "Cache-Control": "no-store" });
  response.end(response.req.method === "HEAD" ? undefined : body);
}

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import type { Clock } from "../../src/clock.js";
import type { Faults } from "./faults.js";

/** One request as the simulator saw it, for assertions; never holds the token. */
export interface CallRecord {
  method: string;
  path: string;
  query: URLSearchParams;
  status: number;
  at: number;
}

export interface RequestContext {
  method: string;
  /** The decoded URL path, as Go's `URL.Path` gives it to Nomad's handlers. */
  path: string;
  query: URLSearchParams;
  /** `X-Nomad-Token`, else `Authorization: Bearer`. */
  token: string | undefined;
  /** `?namespace=`, `default` when absent. */
  namespace: string;
  acceptsGzip: boolean;
  readJson(): Promise<unknown>;
  request: IncomingMessage;
  response: ServerResponse;
}

/**
 * A Nomad error: a plain-text body with a status code (nomad-api-notes.md "Conventions"); `headers`
 * replace plain text's where Nomad had set others before failing (the event stream's).
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly index?: number,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

export type Reply =
  | { json: unknown; status?: number; index?: number; contentType?: string }
  | { empty: true; status: number; index?: number }
  /** The handler answered by itself (the event stream). */
  | { streaming: true };

export interface Route {
  methods: readonly string[];
  /** Matched against the raw (still percent-encoded) path; groups are decoded before the handler sees them. */
  pattern: RegExp;
  handle(context: RequestContext, params: string[]): Promise<Reply> | Reply;
}

// github.com/NYTimes/gziphandler's default: smaller bodies go out uncompressed.
export const GZIP_MIN_SIZE = 1400;
const PLAIN_TEXT = "text/plain; charset=utf-8";

/** The simulator's HTTP front: routing, tokens, faults, gzip, Nomad's headers and the call record. */
export class NomadHttpServer {
  private constructor(
    private readonly server: http.Server,
    readonly address: string,
  ) {}

  static async listen(
    routes: readonly Route[],
    options: { faults: Faults; clock: Clock; record(call: CallRecord): void },
  ): Promise<NomadHttpServer> {
    const server = http.createServer((request, response) => {
      void serve(routes, options, request, response);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new NomadHttpServer(server, `http://127.0.0.1:${port}`);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

async function serve(
  routes: readonly Route[],
  options: { faults: Faults; clock: Clock; record(call: CallRecord): void },
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  // As Nomad's agent: its own clock, which the CLI measures ages against.
  response.setHeader("Date", new Date(options.clock.now()).toUTCString());
  const url = new URL(request.url ?? "/", "http://simulator");
  const method = request.method ?? "GET";
  const path = safeDecode(url.pathname);
  const record = (status: number) =>
    options.record({
      method,
      path,
      query: new URLSearchParams(url.searchParams),
      status,
      at: options.clock.now(),
    });

  const fate = options.faults.fateOf(method, path);
  if (fate.delayMs > 0) await sleep(fate.delayMs);
  if (fate.failure) {
    const { status, body, headers } = fate.failure;
    sendError(response, new HttpError(status, body, undefined, headers));
    record(fate.failure.status);
    return;
  }

  const found = findRoute(routes, method, url.pathname);
  if (found === "no-route") {
    response.writeHead(404).end();
    record(404);
    return;
  }
  if (found === "wrong-method") {
    sendError(response, new HttpError(405, "Invalid method"));
    record(405);
    return;
  }

  const context: RequestContext = {
    method,
    path,
    query: url.searchParams,
    token: tokenOf(request),
    namespace: url.searchParams.get("namespace") || "default",
    acceptsGzip: /\bgzip\b/.test(request.headers["accept-encoding"] ?? ""),
    readJson: () => readJson(request),
    request,
    response,
  };
  try {
    const reply = await found.route.handle(context, found.params);
    if ("streaming" in reply) {
      record(200);
      return;
    }
    const status = sendReply(context, reply);
    record(status);
  } catch (error) {
    const httpError = error instanceof HttpError ? error : new HttpError(500, String(error));
    if (response.headersSent) response.destroy();
    else sendError(response, httpError);
    record(httpError.status);
  }
}

function findRoute(
  routes: readonly Route[],
  method: string,
  rawPath: string,
): { route: Route; params: string[] } | "no-route" | "wrong-method" {
  let pathKnown = false;
  for (const route of routes) {
    const match = route.pattern.exec(rawPath);
    if (!match) continue;
    pathKnown = true;
    if (route.methods.includes(method))
      return { route, params: match.slice(1).map((part) => safeDecode(part ?? "")) };
  }
  return pathKnown ? "wrong-method" : "no-route";
}

function sendReply(context: RequestContext, reply: Exclude<Reply, { streaming: true }>): number {
  const { response } = context;
  if (reply.index !== undefined) setIndexHeaders(response, reply.index);
  if ("empty" in reply) {
    response.writeHead(reply.status).end();
    return reply.status;
  }
  const status = reply.status ?? 200;
  const body = Buffer.from(JSON.stringify(reply.json));
  response.setHeader("Content-Type", reply.contentType ?? "application/json");
  if (context.acceptsGzip && body.length >= GZIP_MIN_SIZE) {
    response.setHeader("Content-Encoding", "gzip");
    response.setHeader("Vary", "Accept-Encoding");
    response.writeHead(status).end(gzipSync(body));
  } else {
    response.writeHead(status).end(body);
  }
  return status;
}

export function setIndexHeaders(response: ServerResponse, index: number): void {
  response.setHeader("X-Nomad-Index", String(index));
  response.setHeader("X-Nomad-KnownLeader", "true");
  response.setHeader("X-Nomad-LastContact", "0");
}

function sendError(response: ServerResponse, error: HttpError): void {
  if (error.index !== undefined) setIndexHeaders(response, error.index);
  response.setHeader("Content-Type", PLAIN_TEXT);
  for (const [name, value] of Object.entries(error.headers ?? {})) response.setHeader(name, value);
  response.writeHead(error.status).end(error.message);
}

function tokenOf(request: IncomingMessage): string | undefined {
  const header = request.headers["x-nomad-token"];
  if (typeof header === "string" && header !== "") return header;
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "");
  return bearer?.[1];
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text === "") throw new HttpError(400, "Request body is empty");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

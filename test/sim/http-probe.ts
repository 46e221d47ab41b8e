import http, { type IncomingHttpHeaders } from "node:http";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";

// A bare node:http client for the contract tests, so they see exactly what goes over the wire.

export interface ProbeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ProbeOptions {
  token?: string;
  /** Send the token as `Authorization: Bearer` instead of `X-Nomad-Token`. */
  bearer?: boolean;
  body?: unknown;
  headers?: Record<string, string>;
}

export function send(
  address: string,
  method: string,
  path: string,
  options: ProbeOptions = {},
): Promise<ProbeResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL(path, address),
      { method, headers: { ...headersOf(options), ...(payload && { "Content-Type": "application/json" }) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

/** An open `GET /v1/event/stream`, read line by line. */
export class StreamProbe {
  readonly #lines: string[] = [];
  readonly #waiters: Array<() => void> = [];
  #ended: { error?: Error; trailing: string } | undefined;

  private constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    private readonly request: http.ClientRequest,
  ) {}

  /** Resolves once the response head arrived (the status line). */
  static open(address: string, path: string, options: ProbeOptions = {}): Promise<StreamProbe> {
    return new Promise((resolve, reject) => {
      const request = http.get(
        new URL(path, address),
        { headers: { "Accept-Encoding": "identity", ...headersOf(options) } },
        (response) => {
          const probe = new StreamProbe(response.statusCode ?? 0, response.headers, request);
          const text = new StringDecoder("utf8");
          let partial = "";
          response.on("data", (chunk: Buffer) => {
            partial += text.write(chunk);
            for (let newline = partial.indexOf("\n"); newline !== -1; newline = partial.indexOf("\n")) {
              probe.#push(partial.slice(0, newline));
              partial = partial.slice(newline + 1);
            }
          });
          response.on("end", () => probe.#end({ trailing: partial + text.end() }));
          response.on("error", (error) => probe.#end({ error, trailing: partial }));
          response.on("aborted", () => probe.#end({ error: new Error("aborted"), trailing: partial }));
          resolve(probe);
        },
      );
      request.on("error", reject);
    });
  }

  /** The next complete line, heartbeats included; rejects when the stream ends first. */
  async nextLine(): Promise<string> {
    while (this.#lines.length === 0) {
      if (this.#ended) throw new Error(`stream ended (${this.#ended.error?.message ?? "cleanly"})`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.#lines.shift() as string;
  }

  /** The next line that is not a heartbeat, parsed. */
  async nextBatch<T = { Index: number; Events: Array<Record<string, unknown>> }>(): Promise<T> {
    for (;;) {
      const line = await this.nextLine();
      if (line !== "{}") return JSON.parse(line) as T;
    }
  }

  /** Lines received within `ms`, for asserting that nothing (else) arrives. */
  async linesWithin(ms: number): Promise<string[]> {
    await sleep(ms);
    return this.#lines.splice(0);
  }

  /** How the stream ended: the text after the last newline (Nomad's plain-text last line) and any socket error. */
  async ended(): Promise<{ error?: Error; trailing: string }> {
    while (!this.#ended) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.#ended;
  }

  close(): void {
    this.request.destroy();
  }

  #push(line: string): void {
    this.#lines.push(line);
    this.#wake();
  }

  #end(outcome: { error?: Error; trailing: string }): void {
    this.#ended ??= outcome;
    this.#wake();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

function headersOf(options: ProbeOptions): Record<string, string> {
  const headers = { ...options.headers };
  if (options.token !== undefined) {
    if (options.bearer) headers.Authorization = `Bearer ${options.token}`;
    else headers["X-Nomad-Token"] = options.token;
  }
  return headers;
}

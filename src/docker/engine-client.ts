import http, { type IncomingMessage } from "node:http";
import https from "node:https";

/**
 * The four Docker Engine calls the sampler makes (list, inspect, events, ping) over plain `node:http`.
 * dockerode would do the same with ~28 MB more RSS (measured: node alone 41 MB, with dockerode loaded 69 MB).
 * No API version is pinned: unversioned paths answer at the engine's own version, so dockerd 20.10
 * (API 1.41) and Docker 29 (≥ 1.44) both work (nomad-api-notes.md, "Docker Engine API").
 */
export type DockerEndpoint =
  | { socketPath: string }
  | { host: string; port: number; protocol: "http" | "https" };

/** `unix:///var/run/docker.sock`, `tcp://host:port`, `http(s)://host:port` (DOCKER_HOST). */
export function dockerEndpoint(dockerHost: string): DockerEndpoint {
  if (dockerHost.startsWith("unix://")) return { socketPath: dockerHost.slice("unix://".length) };
  const url = new URL(dockerHost.replace(/^tcp:/, "http:"));
  const protocol = url.protocol === "https:" ? "https" : "http";
  return { host: url.hostname, port: Number(url.port || (protocol === "https" ? 443 : 2375)), protocol };
}

/** Labels and the fields the sampler reads, as `GET /containers/json` answers. */
export interface ListedContainer {
  Id: string;
  Names: string[];
  Labels: Record<string, string>;
  HostConfig?: { NetworkMode?: string };
}

/** What the sampler reads of `GET /containers/{id}/json`. */
export interface InspectedContainer {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number };
  Config: { Labels: Record<string, string> | null };
  HostConfig: { NetworkMode?: string };
}

/** One line of `GET /events` (type container). */
export interface ContainerEvent {
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

export type ContainerFilters = Record<string, string[]>;

/** Calls `apply` with each event of an event stream (newline-separated JSON objects) until it ends. */
export function eachEvent(events: IncomingMessage, apply: (event: ContainerEvent) => void): void {
  let rest = "";
  events.setEncoding("utf8");
  events.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      let event: ContainerEvent;
      try {
        event = JSON.parse(line) as ContainerEvent;
      } catch {
        continue; // not an event: nothing to apply
      }
      apply(event);
    }
  });
}

export class DockerEngineError extends Error {
  override name = "DockerEngineError";
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

export class DockerEngineClient {
  readonly endpoint: DockerEndpoint;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;

  constructor(endpoint: DockerEndpoint, { timeoutMs = DEFAULT_TIMEOUT_MS }: { timeoutMs?: number } = {}) {
    this.endpoint = endpoint;
    this.#timeoutMs = timeoutMs;
    // One kept-alive connection serves the pings and inspects; the event stream holds its own.
    const agentOptions = { keepAlive: true, maxFreeSockets: 4 };
    this.#agent =
      "protocol" in endpoint && endpoint.protocol === "https"
        ? new https.Agent(agentOptions)
        : new http.Agent(agentOptions);
  }

  listContainers(filters: ContainerFilters): Promise<ListedContainer[]> {
    return this.#json(`/containers/json?filters=${encodeURIComponent(JSON.stringify(filters))}`);
  }

  inspectContainer(id: string): Promise<InspectedContainer> {
    return this.#json(`/containers/${encodeURIComponent(id)}/json`);
  }

  async ping(): Promise<void> {
    await this.#body(await this.#request("/_ping"));
  }

  /** The open event stream; the caller reads it until it ends, or aborts `signal`. */
  events(filters: ContainerFilters, signal: AbortSignal): Promise<IncomingMessage> {
    return this.#request(`/events?filters=${encodeURIComponent(JSON.stringify(filters))}`, {
      signal,
      stream: true,
    });
  }

  /** Closes the idle kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  async #json<T>(path: string): Promise<T> {
    return JSON.parse(await this.#body(await this.#request(path))) as T;
  }

  #request(
    path: string,
    { signal, stream = false }: { signal?: AbortSignal; stream?: boolean } = {},
  ): Promise<IncomingMessage> {
    const endpoint = this.endpoint;
    const transport = "protocol" in endpoint && endpoint.protocol === "https" ? https : http;
    const target =
      "socketPath" in endpoint
        ? { socketPath: endpoint.socketPath }
        : { host: endpoint.host, port: endpoint.port };
    return new Promise((resolve, reject) => {
      const request = transport.get(
        { ...target, path, agent: this.#agent, signal, headers: { Host: "docker" } },
        (response) => {
          // A stream has no deadline once its headers came: Docker writes only when something happens.
          if (stream) request.setTimeout(0);
          if ((response.statusCode ?? 0) >= 400) {
            this.#body(response).then(
              (text) =>
                reject(
                  new DockerEngineError(
                    `GET ${path}: HTTP ${response.statusCode} ${errorText(text)}`,
                    response.statusCode,
                  ),
                ),
              reject,
            );
            return;
          }
          resolve(response);
        },
      );
      request.setTimeout(this.#timeoutMs, () =>
        request.destroy(new DockerEngineError(`GET ${path}: no answer within ${this.#timeoutMs / 1000} s`)),
      );
      request.on("error", reject);
    });
  }

  #body(response: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      response.on("error", reject);
      response.on("aborted", () => reject(new DockerEngineError("the Docker Engine closed the connection")));
    });
  }
}

function errorText(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body.trim();
  } catch {
    return body.trim();
  }
}

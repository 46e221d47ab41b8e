import { readFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import { AxiosError, type AxiosResponse } from "axios";
import type { Config } from "../config.js";
import { type MonitorMetrics, statusClass } from "../metrics.js";
import { nomadError, withReadableBody } from "./errors.js";
import { createClient } from "./generated/client/index.js";

const REQUEST_TIMEOUT_MS = 30_000;

export interface NomadHttpOptions {
  config: Pick<Config, "nomadAddr" | "nomadRegion" | "tls">;
  /** The action token, read on every call so a rotated token is used at once. */
  token: () => string | undefined;
  metrics?: MonitorMetrics;
}

/**
 * The generated client for one Nomad address (HTTP, HTTPS with the cluster's TLS settings, or the task API
 * socket), and what every call shares: the region, a count per route and status class, and errors turned
 * into NomadErrors.
 */
export class NomadHttp {
  readonly client;
  readonly #region: string | undefined;
  readonly #metrics: MonitorMetrics | undefined;

  constructor(options: NomadHttpOptions) {
    const { nomadAddr, nomadRegion, tls } = options.config;
    const socketPath = nomadAddr.startsWith("unix://") ? nomadAddr.slice("unix://".length) : undefined;
    this.#region = nomadRegion;
    this.#metrics = options.metrics;
    this.client = createClient({
      baseURL: socketPath ? "http://localhost" : nomadAddr,
      socketPath,
      timeout: REQUEST_TIMEOUT_MS,
      httpsAgent: nomadAddr.startsWith("https://") ? tlsAgent(tls) : undefined,
      auth: () => options.token(),
      throwOnError: true,
    });
  }

  /** The query parameters every request carries: its namespace, and the region when one is set. */
  query(namespace?: string) {
    return {
      ...(namespace === undefined ? {} : { namespace }),
      ...(this.#region ? { region: this.#region } : {}),
    };
  }

  /** `route`: the endpoint's template, the only form of a path that reaches a metric label. */
  async call<T extends AxiosResponse>(route: string, what: string, request: () => Promise<T>): Promise<T> {
    try {
      const response = await request();
      this.count(route, response.status);
      return response;
    } catch (error) {
      this.count(route, error instanceof AxiosError ? error.response?.status : undefined);
      throw nomadError(await withReadableBody(error), what);
    }
  }

  count(route: string, status: number | undefined): void {
    this.#metrics?.nomadRequests.inc({ endpoint: route, status_class: statusClass(status) });
  }
}

/** The raft index an answer was served at (`X-Nomad-Index`), 0 when it carries none. */
export function raftIndex(response: AxiosResponse): number {
  const index = Number(response.headers["x-nomad-index"]);
  return Number.isSafeInteger(index) ? index : 0;
}

function tlsAgent(tls: Config["tls"]): HttpsAgent {
  return new HttpsAgent({
    keepAlive: true,
    ca: tls.caCert ? readFileSync(tls.caCert) : undefined,
    cert: tls.clientCert ? readFileSync(tls.clientCert) : undefined,
    key: tls.clientKey ? readFileSync(tls.clientKey) : undefined,
    servername: tls.serverName,
  });
}

import { readFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import type { Readable } from "node:stream";
import { AxiosError, type AxiosResponse } from "axios";
import type { Config } from "../config.js";
import { type MonitorMetrics, statusClass } from "../metrics.js";
import { type Job, NomadError } from "../model/nomad.js";
import type { NomadApi, ScaleRequest, StoredVariable, VariableStore, VariableWrite } from "../ports.js";
import { createClient } from "./generated/client/index.js";
import {
  deleteVariable,
  getAllocation,
  getJob,
  listJobAllocations,
  listNodeAllocations,
  listVariables,
  readVariable,
  registerJob,
  scaleTaskGroup,
  stopJob,
  streamEvents,
  writeVariable,
} from "./generated/sdk.gen.js";

// nomad-api-notes.md: permission failures come as 403, and as 500 on the event stream.
const AUTH_BODY = /permission denied|acl token|token not found/i;
// Recorded from Nomad 1.6.5: a Variable too large, or a bad path, answers 500 — and will never pass.
const PERMANENT_500_BODY = /limited to 64KiB|invalid path/i;
const REQUEST_TIMEOUT_MS = 30_000;

function classify(error: unknown, what: string): NomadError {
  if (error instanceof NomadError) return error;
  if (!(error instanceof AxiosError)) {
    return new NomadError(
      "unavailable",
      undefined,
      `${what}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const status = error.response?.status;
  if (status === undefined) {
    return new NomadError(
      "unavailable",
      undefined,
      `${what}: ${error.code ?? "network error"} (${error.message})`,
    );
  }
  const body = bodyText(error.response?.data);
  const message = `${what}: HTTP ${status}${body ? ` ${body}` : ""}`;
  if (status === 401 || status === 403 || AUTH_BODY.test(body))
    return new NomadError("auth", status, message);
  if (status === 404) return new NomadError("not-found", status, message);
  if (PERMANENT_500_BODY.test(body)) return new NomadError("rejected", status, message);
  if (status >= 500 || status === 429) return new NomadError("unavailable", status, message);
  return new NomadError("rejected", status, message);
}

/** Nomad's errors are plain text; a JSON body (a lost CAS race) is shown as JSON. */
function bodyText(data: unknown): string {
  if (data === undefined || data === null) return "";
  const text = typeof data === "string" ? data : JSON.stringify(data);
  return text.trim().slice(0, 300);
}

export interface NomadHttpApiOptions {
  config: Pick<Config, "nomadAddr" | "nomadRegion" | "tls">;
  /** The action token, read on every call so a rotated token is used at once. */
  token: () => string | undefined;
  metrics?: MonitorMetrics;
}

export class NomadHttpApi implements NomadApi {
  private readonly client;
  private readonly region: string | undefined;
  private readonly metrics: MonitorMetrics | undefined;

  constructor(options: NomadHttpApiOptions) {
    const { nomadAddr, nomadRegion, tls } = options.config;
    const socketPath = nomadAddr.startsWith("unix://") ? nomadAddr.slice("unix://".length) : undefined;
    this.region = nomadRegion;
    this.metrics = options.metrics;
    this.client = createClient({
      baseURL: socketPath ? "http://localhost" : nomadAddr,
      socketPath,
      timeout: REQUEST_TIMEOUT_MS,
      httpsAgent: nomadAddr.startsWith("https://") ? tlsAgent(tls) : undefined,
      auth: () => options.token(),
      throwOnError: true,
    });
  }

  async nodeAllocations(nodeId: string, signal?: AbortSignal) {
    const response = await this.call(
      "GET /v1/node/:node_id/allocations",
      `list allocations of node ${nodeId}`,
      () =>
        listNodeAllocations({ client: this.client, path: { node_id: nodeId }, query: this.query(), signal }),
    );
    return { allocations: response.data ?? [], index: raftIndex(response) };
  }

  async allocation(allocId: string) {
    const response = await this.call("GET /v1/allocation/:alloc_id", `read allocation ${allocId}`, () =>
      getAllocation({ client: this.client, path: { alloc_id: allocId }, query: this.query() }),
    );
    return response.data;
  }

  async job(namespace: string, jobId: string, signal?: AbortSignal) {
    try {
      const response = await this.call(
        "GET /v1/job/:job_id",
        `read job ${jobId} in namespace ${namespace}`,
        () => getJob({ client: this.client, path: { job_id: jobId }, query: this.query(namespace), signal }),
      );
      return response.data;
    } catch (error) {
      if (error instanceof NomadError && error.kind === "not-found") return undefined;
      throw error;
    }
  }

  async jobAllocations(namespace: string, jobId: string, signal?: AbortSignal) {
    const response = await this.call(
      "GET /v1/job/:job_id/allocations",
      `list allocations of job ${jobId} in namespace ${namespace}`,
      () =>
        listJobAllocations({
          client: this.client,
          path: { job_id: jobId },
          query: this.query(namespace),
          signal,
        }),
    );
    return response.data ?? [];
  }

  async stopJob(namespace: string, jobId: string) {
    const response = await this.call(
      "DELETE /v1/job/:job_id",
      `stop job ${jobId} in namespace ${namespace}`,
      () =>
        stopJob({
          client: this.client,
          path: { job_id: jobId },
          query: { ...this.query(namespace), purge: false },
        }),
    );
    return response.data.EvalID;
  }

  async scaleGroup(request: ScaleRequest) {
    const { namespace, jobId, group, count, message, meta } = request;
    const response = await this.call(
      "POST /v1/job/:job_id/scale",
      `scale group ${group} of job ${jobId} in namespace ${namespace}`,
      () =>
        scaleTaskGroup({
          client: this.client,
          path: { job_id: jobId },
          query: this.query(namespace),
          body: { Count: count, Target: { Group: group }, Message: message, Meta: meta, Error: false },
        }),
    );
    return response.data.EvalID;
  }

  /** Registers the job as given (`nomad job run`); returns the evaluation ID. Used by `wake` only. */
  async registerJob(job: Job): Promise<string> {
    const response = await this.call(
      "POST /v1/jobs",
      `register job ${job.ID} in namespace ${job.Namespace}`,
      () => registerJob({ client: this.client, query: this.query(job.Namespace), body: { Job: job } }),
    );
    return response.data.EvalID;
  }

  async readVariable(namespace: string, path: string, token: string | undefined) {
    try {
      const response = await this.call(
        "GET /v1/var/:path",
        `read variable ${path} in namespace ${namespace}`,
        () =>
          readVariable({
            client: this.client,
            auth: token,
            path: { var_path: path },
            query: this.query(namespace),
          }),
      );
      return response.data.Items ?? {};
    } catch (error) {
      if (error instanceof NomadError && error.kind === "not-found") return undefined;
      throw error;
    }
  }

  async openEventStream(topics: readonly string[], index: number, signal: AbortSignal) {
    const response = await this.call("GET /v1/event/stream", "subscribe to the event stream", () =>
      streamEvents({
        client: this.client,
        query: { ...this.query("*"), topic: [...topics], index },
        // nomad-api-notes.md: never gzip the stream, and never time out a body that is meant to stay open.
        headers: { "Accept-Encoding": "identity" },
        responseType: "stream",
        timeout: 0,
        signal,
      }),
    );
    return response.data as unknown as Readable;
  }

  /**
   * The Variables of one namespace, read and written with `token` (the task's workload identity, whose
   * job-attached policy allows the monitor's own subtree) rather than the action token.
   */
  variables(namespace: string, token: string | undefined): VariableStore {
    const base = { client: this.client, auth: token };
    const query = (extra: { cas?: number; prefix?: string } = {}) => ({ ...this.query(namespace), ...extra });
    return {
      list: async (prefix) => {
        const response = await this.call("GET /v1/vars", `list variables under ${prefix}`, () =>
          listVariables({ ...base, query: query({ prefix }) }),
        );
        const entries = (response.data ?? []).map((entry) => ({
          path: entry.Path,
          modifyIndex: entry.ModifyIndex,
        }));
        return { entries, index: raftIndex(response) };
      },
      read: async (path) => {
        try {
          const response = await this.call("GET /v1/var/:path", `read variable ${path}`, () =>
            readVariable({ ...base, path: { var_path: path }, query: query() }),
          );
          return { items: response.data.Items ?? {}, modifyIndex: response.data.ModifyIndex };
        } catch (error) {
          if (error instanceof NomadError && error.kind === "not-found") return undefined;
          throw error;
        }
      },
      write: (path, items, cas) =>
        this.checkAndSet("PUT /v1/var/:path", `write variable ${path}`, async () => {
          const response = await writeVariable({
            ...base,
            path: { var_path: path },
            query: query({ cas }),
            body: { Namespace: namespace, Path: path, Items: items },
          });
          return { kind: "written", modifyIndex: response.data.ModifyIndex };
        }),
      delete: async (path, cas) => {
        const result = await this.checkAndSet("DELETE /v1/var/:path", `delete variable ${path}`, async () => {
          await deleteVariable({ ...base, path: { var_path: path }, query: query({ cas }) });
          return { kind: "written", modifyIndex: 0 };
        });
        return result.kind === "written" ? "deleted" : "conflict";
      },
    };
  }

  /** A lost check-and-set race answers 409 with the current Variable as JSON (recorded from Nomad 1.6.5). */
  private async checkAndSet(
    route: string,
    what: string,
    request: () => Promise<VariableWrite>,
  ): Promise<VariableWrite> {
    try {
      const result = await request();
      this.count(route, 200);
      return result;
    } catch (error) {
      this.count(route, error instanceof AxiosError ? error.response?.status : undefined);
      const conflict =
        error instanceof AxiosError && error.response?.status === 409
          ? currentVariable(error.response.data)
          : undefined;
      if (conflict) return { kind: "conflict", current: conflict };
      throw classify(await withReadableBody(error), what);
    }
  }

  private query(namespace?: string) {
    return {
      ...(namespace === undefined ? {} : { namespace }),
      ...(this.region ? { region: this.region } : {}),
    };
  }

  /** `route`: the endpoint's template, the only form of a path that reaches a metric label. */
  private async call<T extends AxiosResponse>(
    route: string,
    what: string,
    request: () => Promise<T>,
  ): Promise<T> {
    try {
      const response = await request();
      this.count(route, response.status);
      return response;
    } catch (error) {
      this.count(route, error instanceof AxiosError ? error.response?.status : undefined);
      throw classify(await withReadableBody(error), what);
    }
  }

  private count(route: string, status: number | undefined): void {
    this.metrics?.nomadRequests.inc({ endpoint: route, status_class: statusClass(status) });
  }
}

/** Error bodies of stream requests arrive as streams; read a little so the error says what Nomad said. */
async function withReadableBody(error: unknown): Promise<unknown> {
  const response = error instanceof AxiosError ? error.response : undefined;
  const data: unknown = response?.data;
  if (!response || !data || typeof data !== "object" || !(Symbol.asyncIterator in data)) return error;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      chunks.push(Buffer.from(chunk));
      size += chunk.length;
      if (size > 4096) break;
    }
  } catch {
    // A body cut short still says enough.
  }
  response.data = Buffer.concat(chunks).toString("utf8");
  return error;
}

function currentVariable(data: unknown): StoredVariable | undefined {
  const parsed: unknown = typeof data === "string" ? safeJson(data) : data;
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { Items, ModifyIndex } = parsed as { Items?: Record<string, string> | null; ModifyIndex?: unknown };
  return typeof ModifyIndex === "number" ? { items: Items ?? {}, modifyIndex: ModifyIndex } : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function raftIndex(response: AxiosResponse): number {
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

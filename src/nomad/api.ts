import { type Job, NomadError, type Registered } from "../model/nomad.js";
import type { BlockingQuery, NomadApi, ScaleRequest, VariableStore } from "../ports.js";
import {
  getAllocation,
  getJob,
  listJobAllocations,
  listNodeAllocations,
  readVariable,
  registerJob,
  scaleTaskGroup,
  stopJob,
} from "./generated/sdk.gen.js";
import { NomadHttp, type NomadHttpOptions, raftIndex } from "./http.js";
import { variableStore } from "./variables.js";

const ENFORCE_INDEX = /Enforcing job modify index/;

/** The monitor's NomadApi over the generated client (http.ts): every call it makes to Nomad but the Variables' (variables.ts). */
export class NomadHttpApi implements NomadApi {
  readonly #http: NomadHttp;

  constructor(options: NomadHttpOptions) {
    this.#http = new NomadHttp(options);
  }

  async nodeAllocations(nodeId: string, signal?: AbortSignal, blocking?: BlockingQuery) {
    const response = await this.#http.call(
      "GET /v1/node/:node_id/allocations",
      `list allocations of node ${nodeId}`,
      () =>
        listNodeAllocations({
          client: this.#http.client,
          path: { node_id: nodeId },
          query: {
            ...this.#http.query(),
            // Any server may hold the wait (as Nomad's own clients do); the fresh look before acting reads the leader.
            ...(blocking
              ? { index: blocking.index, wait: `${Math.ceil(blocking.waitMs / 1000)}s`, stale: true }
              : {}),
          },
          // Nomad holds the answer up to `wait` plus 1/16 of jitter: only beyond that is the connection dead.
          ...(blocking ? { timeout: blockingTimeoutMs(blocking.waitMs) } : {}),
          signal,
        }),
    );
    return { allocations: response.data ?? [], index: raftIndex(response) };
  }

  async allocation(allocId: string) {
    const response = await this.#http.call("GET /v1/allocation/:alloc_id", `read allocation ${allocId}`, () =>
      getAllocation({ client: this.#http.client, path: { alloc_id: allocId }, query: this.#http.query() }),
    );
    return response.data;
  }

  async job(namespace: string, jobId: string, signal?: AbortSignal) {
    try {
      const response = await this.#http.call(
        "GET /v1/job/:job_id",
        `read job ${jobId} in namespace ${namespace}`,
        () =>
          getJob({
            client: this.#http.client,
            path: { job_id: jobId },
            query: this.#http.query(namespace),
            signal,
          }),
      );
      return response.data;
    } catch (error) {
      if (error instanceof NomadError && error.kind === "not-found") return undefined;
      throw error;
    }
  }

  async jobAllocations(namespace: string, jobId: string, signal?: AbortSignal) {
    const response = await this.#http.call(
      "GET /v1/job/:job_id/allocations",
      `list allocations of job ${jobId} in namespace ${namespace}`,
      () =>
        listJobAllocations({
          client: this.#http.client,
          path: { job_id: jobId },
          query: this.#http.query(namespace),
          signal,
        }),
    );
    return response.data ?? [];
  }

  async stopJob(namespace: string, jobId: string) {
    const response = await this.#http.call(
      "DELETE /v1/job/:job_id",
      `stop job ${jobId} in namespace ${namespace}`,
      () =>
        stopJob({
          client: this.#http.client,
          path: { job_id: jobId },
          query: { ...this.#http.query(namespace), purge: false },
        }),
    );
    return { evalId: response.data.EvalID, jobModifyIndex: response.data.JobModifyIndex };
  }

  async scaleGroup(request: ScaleRequest) {
    const { namespace, jobId, group, count, message, meta } = request;
    const response = await this.#http.call(
      "POST /v1/job/:job_id/scale",
      `scale group ${group} of job ${jobId} in namespace ${namespace}`,
      () =>
        scaleTaskGroup({
          client: this.#http.client,
          path: { job_id: jobId },
          query: this.#http.query(namespace),
          body: { Count: count, Target: { Group: group }, Message: message, Meta: meta, Error: false },
        }),
    );
    // Nomad's Job.Scale answers the JobModifyIndex of the job it wrote (nomad/job_endpoint.go).
    return { evalId: response.data.EvalID, jobModifyIndex: response.data.JobModifyIndex };
  }

  /** Registers the job as given (`nomad job run`) only over `jobModifyIndex` (`EnforceIndex`); used by `wake` and start-at. */
  async registerJob(job: Job, jobModifyIndex: number): Promise<Registered> {
    try {
      const response = await this.#http.call(
        "POST /v1/jobs",
        `register job ${job.ID} in namespace ${job.Namespace}`,
        () =>
          registerJob({
            client: this.#http.client,
            query: this.#http.query(job.Namespace),
            body: { Job: job, EnforceIndex: true, JobModifyIndex: jobModifyIndex },
          }),
      );
      const { EvalID, JobModifyIndex } = response.data;
      return { kind: "registered", evalId: EvalID, jobModifyIndex: JobModifyIndex };
    } catch (error) {
      // Nomad answers a stale index with 500 and this text, and has changed nothing (api/jobs.go).
      if (error instanceof NomadError && ENFORCE_INDEX.test(error.message))
        return { kind: "changed", message: error.message.slice(error.message.search(ENFORCE_INDEX)) };
      throw error;
    }
  }

  async readVariable(namespace: string, path: string, token: string | undefined) {
    try {
      const response = await this.#http.call(
        "GET /v1/var/:path",
        `read variable ${path} in namespace ${namespace}`,
        () =>
          readVariable({
            client: this.#http.client,
            auth: token,
            path: { var_path: path },
            query: this.#http.query(namespace),
          }),
      );
      return response.data.Items ?? {};
    } catch (error) {
      if (error instanceof NomadError && error.kind === "not-found") return undefined;
      throw error;
    }
  }

  /** The Variables of one namespace, read and written with `token` (variables.ts). */
  variables(namespace: string, token: string | undefined): VariableStore {
    return variableStore(this.#http, namespace, token);
  }
}

/**
 * How long a blocking query may take before its connection counts as dead: the wait, Nomad's jitter (up to
 * 1/16 of it), and a margin for the answer's way back (30 s at most).
 */
export function blockingTimeoutMs(waitMs: number): number {
  return waitMs + Math.ceil(waitMs / 16) + Math.min(30_000, waitMs);
}

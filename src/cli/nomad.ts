import { readFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import type { AxiosResponse } from "axios";
import { StatePaths } from "../cluster/paths.js";
import { assembleReport, type ReportItems } from "../cluster/report.js";
import { jobKey } from "../model/allocation.js";
import { NomadError } from "../model/nomad.js";
import { nomadError } from "../nomad/errors.js";
import { createClient } from "../nomad/generated/client/index.js";
import { getJob, listJobAllocations, listVariables, readVariable } from "../nomad/generated/sdk.gen.js";
import type { VariableMetadata } from "../nomad/generated/types.gen.js";
import type { ClaimSeen, JobSeen, PublishedReport } from "../status/types.js";
import { isRefusal } from "../token-reload.js";
import type { Connection } from "./args.js";
import { refusedRead } from "./refused.js";

const REQUEST_TIMEOUT_MS = 30_000;
const NS_PER_MS = 1_000_000;
const JOB_READS_AT_ONCE = 8;

/** Everything `status` shows, as read from Nomad in one go. */
export interface ClusterSnapshot {
  reports: PublishedReport[];
  claims: ClaimSeen[];
  jobs: Map<string, JobSeen>;
  /** The answering agent's clock (its HTTP Date header), or this machine's when it sent none. */
  now: number;
  ageClock: "nomad-agent" | "local";
}

/**
 * The reads of `status`, with the generated client: the Variables' metadata with their ModifyTime and the
 * answer's Date header (which the monitor's own adapter, src/nomad/api.ts, has no use for), the Variables,
 * the jobs and their allocations.
 */
export class StatusReader {
  readonly #client;
  readonly #region: string | undefined;
  readonly #token: string | undefined;

  constructor(connection: Connection) {
    const { address, token, tls, region } = connection;
    const socketPath = address.startsWith("unix://") ? address.slice("unix://".length) : undefined;
    this.#region = region;
    this.#token = token;
    this.#client = createClient({
      baseURL: socketPath ? "http://localhost" : address,
      socketPath,
      timeout: REQUEST_TIMEOUT_MS,
      httpsAgent: address.startsWith("https://") ? httpsAgent(tls) : undefined,
      auth: () => token,
      throwOnError: true,
    });
  }

  /** The monitor's state (reports and claims), then every job the reports name within `namespace`. */
  async snapshot(
    monitor: { namespace: string; job: string },
    only: { namespace: string | undefined; job: string | undefined },
  ): Promise<ClusterSnapshot> {
    const paths = new StatePaths(`nomad/jobs/${monitor.job}`);
    const listed = await this.#call(
      `list variables under ${paths.all} in namespace ${monitor.namespace}`,
      () =>
        listVariables({
          client: this.#client,
          query: { ...this.#query(monitor.namespace), prefix: paths.all },
        }),
    );
    const date = Date.parse(String(listed.headers.date ?? ""));
    const now = Number.isFinite(date) ? date : Date.now();
    const entries = listed.data ?? [];
    if (!entries.some((entry) => paths.parseReportPart(entry.Path)))
      await this.#mayReadReports(paths, monitor.namespace);
    const reports = await this.#reports(paths, monitor.namespace, entries);
    const claims = await this.#claims(paths, monitor.namespace, entries);
    const named = new Map<string, { namespace: string; job: string }>();
    for (const { report } of reports) {
      for (const { namespace, job } of Object.values(report.allocs)) {
        if (namespace === undefined || job === undefined) continue;
        if ((only.namespace ?? namespace) !== namespace || (only.job ?? job) !== job) continue;
        named.set(jobKey(namespace, job), { namespace, job });
      }
    }
    const jobs = new Map<string, JobSeen>();
    const queue = [...named.entries()];
    // A few at a time: a cluster may watch hundreds of jobs, and each costs two reads.
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [key, { namespace, job }] = next;
        jobs.set(key, await this.#job(namespace, job));
      }
    };
    await Promise.all(Array.from({ length: JOB_READS_AT_ONCE }, worker));
    return { reports, claims, jobs, now, ageClock: Number.isFinite(date) ? "nomad-agent" : "local" };
  }

  async #reports(paths: StatePaths, namespace: string, entries: readonly VariableMetadata[]) {
    const byNode = new Map<string, Array<{ part: number; entry: VariableMetadata }>>();
    for (const entry of entries) {
      const part = paths.parseReportPart(entry.Path);
      if (!part) continue;
      byNode.set(part.nodeId, [...(byNode.get(part.nodeId) ?? []), { part: part.part, entry }]);
    }
    const reports: PublishedReport[] = [];
    for (const parts of byNode.values()) {
      parts.sort((a, b) => a.part - b.part);
      const items = await Promise.all(parts.map(({ entry }) => this.#items(namespace, entry.Path)));
      const report = assembleReport(items);
      // A report being rewritten between the list and the reads is skipped; its node shows as not reporting.
      if (!report) continue;
      const writtenAt = Math.max(...parts.map(({ entry }) => entry.ModifyTime / NS_PER_MS));
      reports.push({ report, writtenAt });
    }
    return reports;
  }

  async #claims(paths: StatePaths, namespace: string, entries: readonly VariableMetadata[]) {
    const claims: ClaimSeen[] = [];
    for (const entry of entries.filter((candidate) => paths.isClaim(candidate.Path))) {
      const items = await this.#items(namespace, entry.Path);
      if (!items?.namespace || !items.job || !items.node || !items.action) continue;
      claims.push({
        namespace: items.namespace,
        jobId: items.job,
        node: items.node,
        action: items.action,
        at: entry.ModifyTime / NS_PER_MS,
      });
    }
    return claims;
  }

  /**
   * Throws when the token may not read the reports: Nomad lists them to no such token, nor to a request
   * without one (nomad/variables_endpoint.go, `List`, at v1.6.5 and v2.0.5: 200 and an empty list),
   * while a read is refused (403) before Nomad looks whether the Variable exists.
   */
  async #mayReadReports(paths: StatePaths, namespace: string): Promise<void> {
    try {
      await this.#items(namespace, `${paths.activity}status-probe`);
    } catch (error) {
      if (!isRefusal(error)) throw error;
      const where = `the monitors' reports under ${paths.activity} in namespace "${namespace}"`;
      throw refusedRead(
        error,
        this.#token,
        where,
        "the status policy (nomad/idle-monitor-status-policy.hcl)",
      );
    }
  }

  /** A Variable's items; undefined when it went away since the list. */
  async #items(namespace: string, path: string): Promise<ReportItems | undefined> {
    try {
      const response = await this.#call(`read variable ${path}`, () =>
        readVariable({ client: this.#client, path: { var_path: path }, query: this.#query(namespace) }),
      );
      return response.data.Items ?? {};
    } catch (error) {
      if (error instanceof NomadError && error.kind === "not-found") return undefined;
      throw error;
    }
  }

  async #job(namespace: string, jobId: string): Promise<JobSeen> {
    try {
      const query = this.#query(namespace);
      const path = { job_id: jobId };
      const job = await this.#call(`read job ${jobId} in namespace ${namespace}`, () =>
        getJob({ client: this.#client, path, query }),
      );
      const allocations = await this.#call(`list allocations of job ${jobId} in namespace ${namespace}`, () =>
        listJobAllocations({ client: this.#client, path, query }),
      );
      return { kind: "found", job: job.data, allocations: allocations.data ?? [] };
    } catch (error) {
      if (!(error instanceof NomadError)) throw error;
      if (error.kind === "not-found") return { kind: "not-found" };
      if (error.kind === "auth") return { kind: "unreadable", reason: error.message };
      throw error;
    }
  }

  #query(namespace: string) {
    return { namespace, ...(this.#region ? { region: this.#region } : {}) };
  }

  /** Errors are classified as the monitor's are (nomad/errors.ts), from the response alone. */
  async #call<T extends AxiosResponse>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw nomadError(error, what);
    }
  }
}

function httpsAgent(tls: Connection["tls"]): HttpsAgent {
  return new HttpsAgent({
    ca: tls.caCert ? readFileSync(tls.caCert) : undefined,
    cert: tls.clientCert ? readFileSync(tls.clientCert) : undefined,
    key: tls.clientKey ? readFileSync(tls.clientKey) : undefined,
    servername: tls.serverName,
    rejectUnauthorized: !tls.skipVerify,
  });
}

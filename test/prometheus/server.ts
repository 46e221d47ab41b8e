import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { freeLoopbackPort } from "../world/world.js";

/**
 * The query string Prometheus' nomad_sd_configs sends with both of its catalog requests, for the README's
 * SD config (`namespace: default`, the default region, allow_stale true): hashicorp/nomad/api's
 * setQueryOptions, encoded by Go's url.Values (keys sorted).
 */
export const NOMAD_SD_QUERY = "namespace=default&region=global&stale=";

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Target {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
  health: "up" | "down" | "unknown";
  lastError: string;
}

export interface Targets {
  activeTargets: Target[];
  droppedTargets: Array<{ discoveredLabels: Record<string, string> }>;
}

/** A Prometheus server on loopback, asked through its own HTTP API. */
export interface PrometheusServer {
  /** What it wrote so far, for a test that fails. */
  log(): string;
  /** An instant query (`GET /api/v1/query`): the samples of its vector. */
  query(promql: string): Promise<Sample[]>;
  /** `GET /api/v1/targets?state=any`. */
  targets(): Promise<Targets>;
  /** Ends the process and removes its configuration and data. */
  stop(): Promise<void>;
}

/** Starts `binary` with this configuration (written as prometheus.yml), listening on loopback only. */
export async function startPrometheus(binary: string, config: unknown): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), "nomad-idle-monitor-prometheus-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, stringify(config));
  const address = `127.0.0.1:${await freeLoopbackPort()}`;
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=${address}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    stream.on("data", (chunk: Buffer) => output.push(chunk.toString()));

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`http://${address}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  const server: PrometheusServer = {
    log: () => output.join(""),
    query: async (promql) =>
      (await api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    targets: () => api<Targets>("/api/v1/targets?state=any"),
    stop: async () => {
      await terminate(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await untilReady(address, child);
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\n${server.log()}`);
  }
  return server;
}

async function untilReady(address: string, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Prometheus exited (${child.exitCode}) before it was ready`);
    const ready = await fetch(`http://${address}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return;
    await sleep(100);
  }
  throw new Error(`Prometheus was not ready within ${READY_TIMEOUT_MS / 1000} s`);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

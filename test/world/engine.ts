import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";

export interface Engine {
  docker: Dockerode;
  /** True when this call started dockerd; `stop()` then terminates exactly that dockerd. */
  startedDockerd: boolean;
  stop(): Promise<void>;
}

/** No engine answers and none can be started here: the one failure a test file may turn into a skip. */
export class EngineUnavailableError extends Error {
  override name = "EngineUnavailableError";
}

/** Set by the unit tier (vitest.config.ts): every test file there must run without an engine. */
export const UNIT_TIER_VARIABLE = "NOMAD_IDLE_MONITOR_UNIT_TIER";

const DEFAULT_SOCKET = "/var/run/docker.sock";
// Debian's docker.io installs /usr/sbin/dockerd; other packagings use /usr/bin.
const DOCKERD_PATHS = ["/usr/bin/dockerd", "/usr/sbin/dockerd"];
const INSTALL_HINT =
  "run as root with Debian's Docker Engine installed: apt-get install docker.io busybox-static";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 200;

/**
 * Uses the engine that answers at DOCKER_HOST or /var/run/docker.sock; otherwise, as root with
 * dockerd installed, starts one. No API version is pinned, so dockerd 20.10 (API 1.41) and newer
 * engines both answer at their own version.
 */
export async function ensureEngine(): Promise<Engine> {
  if (process.env[UNIT_TIER_VARIABLE] === "true") {
    // Not an EngineUnavailableError: never a skip, whatever CI says.
    throw new Error(
      "This test needs the Docker Engine, which the unit tier (npm run test:unit) does not reach: name its file *.docker.test.ts",
    );
  }
  const dockerHost = process.env.DOCKER_HOST;
  const docker = dockerHost ? new Dockerode() : new Dockerode({ socketPath: DEFAULT_SOCKET });
  if (await answers(docker)) return { docker, startedDockerd: false, stop: async () => {} };

  if (dockerHost && dockerHost !== `unix://${DEFAULT_SOCKET}`) {
    throw new EngineUnavailableError(
      `No Docker Engine answers at DOCKER_HOST=${dockerHost}; unset DOCKER_HOST to use or start the local engine (${INSTALL_HINT}).`,
    );
  }
  const dockerd = DOCKERD_PATHS.find((path) => existsSync(path));
  if (process.getuid?.() !== 0 || !dockerd) {
    throw new EngineUnavailableError(
      `No Docker Engine answers at ${DEFAULT_SOCKET} and none can be started here (${INSTALL_HINT}).`,
    );
  }
  return startDockerd(dockerd, docker);
}

async function startDockerd(dockerd: string, docker: Dockerode): Promise<Engine> {
  const logPath = join(tmpdir(), `nomad-idle-monitor-dockerd-${process.pid}.log`);
  let flags: string[] = [];
  for (;;) {
    const child = spawnDetached(dockerd, flags, logPath);
    const outcome = await waitUntilAnswering(docker, child);
    if (outcome === "answering") return { docker, startedDockerd: true, stop: () => terminate(child) };
    if (outcome === "answered-by-another") return { docker, startedDockerd: false, stop: async () => {} };

    const log = readFileSync(logPath, "utf8");
    // Inside containers without netfilter rights dockerd cannot set up its NAT chains; the tests only
    // talk from the host to containers, which works without them.
    if (/ip6?tables/i.test(log) && !flags.includes("--iptables=false")) {
      flags = [...flags, "--iptables=false", "--ip6tables=false"];
      continue;
    }
    throw new Error(
      `dockerd ${flags.join(" ")} exited before answering (log: ${logPath}):\n${lastLines(log, 15)}\n(${INSTALL_HINT})`,
    );
  }
}

function spawnDetached(dockerd: string, flags: string[], logPath: string): ChildProcess {
  const log = openSync(logPath, "a");
  try {
    const child = spawn(dockerd, flags, { detached: true, stdio: ["ignore", log, log] });
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

type StartOutcome = "answering" | "answered-by-another" | "exited";

async function waitUntilAnswering(docker: Dockerode, child: ChildProcess): Promise<StartOutcome> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (await answers(docker)) return hasExited(child) ? "answered-by-another" : "answering";
    // A dockerd started at the same moment by another process holds the pid file: wait for it instead.
    if (hasExited(child) && !anotherDockerdStarting()) return "exited";
    await sleep(POLL_MS);
  }
  await terminate(child);
  throw new Error(`dockerd did not answer at ${DEFAULT_SOCKET} within ${START_TIMEOUT_MS / 1000} s`);
}

function anotherDockerdStarting(): boolean {
  try {
    const pid = Number(readFileSync("/var/run/docker.pid", "utf8").trim());
    return pid > 0 && processExists(pid);
  } catch {
    return false;
  }
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function answers(docker: Dockerode): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), 3_000);
  });
  const ping = docker.ping().then(
    () => true,
    () => false,
  );
  const answered = await Promise.race([ping, timeout]);
  clearTimeout(timer);
  return answered;
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

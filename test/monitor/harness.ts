import { randomUUID } from "node:crypto";
import pino from "pino";
import { expect, onTestFailed, onTestFinished } from "vitest";
import type { Clock } from "../../src/clock.js";
import { StatePaths } from "../../src/cluster/paths.js";
import { type Environment, parseConfig } from "../../src/config.js";
import { runDaemon } from "../../src/daemon.js";
import { SAFE_LOG_OPTIONS } from "../../src/log.js";
import type { WatchTiming } from "../../src/nomad/watch.js";
import { simulatorPolicyFromFile } from "../deploy/acl-policy.js";
import { send } from "../sim/http-probe.js";
import {
  dockerWorldRuntime,
  NomadSimulator,
  type NomadVersion,
  type SimJob,
  type SimTaskGroup,
} from "../sim/index.js";
import type { DockerWorld } from "../world/world.js";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Every secret any scenario created, and every log line any monitor wrote: checked against each other. */
export const allSecrets = new Set<string>();
export const allLogLines: string[] = [];

export const STATE_POLICY = new URL("../../nomad/idle-monitor-state-policy.hcl", import.meta.url).pathname;

export const FAST_WATCH: WatchTiming = {
  waitMs: 2_000,
  reconnect: { initialMs: 100, maxMs: 1_000 },
};

export interface Scenario {
  sim: NomadSimulator;
  localNode: string;
  otherNode: string;
  actionToken: string;
  identityToken: string;
  logs: LogLine[];
  /**
   * Starts a monitor in this process against the simulator, with fast timings unless overridden; on the
   * local node unless `node` says otherwise, on the scenario's clock. Returns that monitor's own log lines
   * (every monitor's also go to `logs`).
   */
  startMonitor(env?: Environment, options?: { node?: string }): LogLine[];
}

/**
 * A simulated cluster with one node backed by the real Docker world (`local`) and one without containers
 * (`other`), the action token in the Variable `nomad/jobs/idle-monitor`, and the monitor's workload
 * identity — the same set-up as in production. Closed when the test that made it finishes. `clock`, when
 * given, is the time of the simulated cluster and of every monitor started in it alike, unless
 * `nomadClock` gives the cluster a clock of its own (servers whose clock is off from the nodes');
 * `version` the Nomad the cluster answers as (1.6.5 by default).
 */
export async function scenario(
  world: DockerWorld,
  options: { clock?: Clock; nomadClock?: Clock; version?: NomadVersion } = {},
): Promise<Scenario> {
  const { clock, version } = options;
  const sim = await NomadSimulator.start({
    heartbeatIntervalMs: 500,
    clock: options.nomadClock ?? clock,
    version,
  });
  const localNode = sim.addNode("local", dockerWorldRuntime(world));
  const otherNode = sim.addNode("other");
  const actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
  sim.putVariable("default", "nomad/jobs/idle-monitor", { token: actionToken });
  const identityToken = sim.workloadIdentity("default", "idle-monitor");
  // As the README's deploy steps do: the state policy attached to the monitor's job.
  sim.attachPolicyToJob("default", "idle-monitor", await simulatorPolicyFromFile(STATE_POLICY));
  for (const secret of [actionToken, identityToken, sim.managementToken]) allSecrets.add(secret);

  const logs: LogLine[] = [];
  const stop = new AbortController();
  const running: Array<Promise<void>> = [];

  const current: Scenario = {
    sim,
    localNode,
    otherNode,
    actionToken,
    identityToken,
    logs,
    startMonitor(env = {}, options = {}) {
      const own: LogLine[] = [];
      const parsed = parseConfig({
        NOMAD_ADDR: sim.address,
        NOMAD_TOKEN: identityToken,
        NOMAD_NODE_ID: options.node ?? localNode,
        NOMAD_ALLOC_ID: randomUUID(),
        NOMAD_JOB_ID: "idle-monitor",
        CHECK_INTERVAL: "500ms",
        IDLE_TIMEOUT: "3s",
        ACTION_COOLDOWN: "10s",
        // A free port each: monitors of concurrent tests never collide.
        HTTP_LISTEN: "127.0.0.1:0",
        ...env,
      });
      if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
      const log = pino(
        { level: "debug", base: undefined, ...SAFE_LOG_OPTIONS },
        {
          write(line: string) {
            allLogLines.push(line);
            const parsedLine = JSON.parse(line) as LogLine;
            logs.push(parsedLine);
            own.push(parsedLine);
          },
        },
      );
      running.push(runDaemon({ config: parsed.config, log, watchTiming: FAST_WATCH, clock }, stop.signal));
      return own;
    },
  };
  onTestFinished(async () => {
    stop.abort();
    await Promise.all(running);
    await sim.close();
  });
  return current;
}

/** A service job as `nomad job run -output` prints it, opted in unless meta says otherwise. */
export function serviceJob(
  id: string,
  options: {
    meta?: Record<string, string> | null;
    groups?: Array<{
      name: string;
      count?: number;
      meta?: Record<string, string>;
      bridge?: boolean;
      scalingMin?: number;
      driver?: string;
      taskMeta?: Record<string, string>;
      hostNetwork?: boolean;
      /** The group's `update` block; Nomad's default MinHealthyTime (10 s) holds a scale back that long. */
      update?: SimTaskGroup["Update"];
    }>;
    namespace?: string;
    type?: SimJob["Type"];
  } = {},
): SimJob {
  const groups = options.groups ?? [{ name: "web" }];
  return {
    ID: id,
    Namespace: options.namespace ?? "default",
    Type: options.type ?? "service",
    Meta: options.meta === undefined ? { "idle-monitor.enabled": "true" } : options.meta,
    TaskGroups: groups.map((group) => ({
      Name: group.name,
      Count: group.count ?? 1,
      Meta: group.meta ?? null,
      Networks: group.bridge ? [{ Mode: "bridge" }] : null,
      Scaling: group.scalingMin === undefined ? null : { Min: group.scalingMin, Max: 10, Enabled: true },
      ...(group.update !== undefined && { Update: group.update }),
      Tasks: [
        {
          Name: "server",
          Driver: group.driver ?? "docker",
          Meta: group.taskMeta ?? null,
          Config: group.hostNetwork ? { network_mode: "host" } : null,
        },
      ],
    })),
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A user's load: one small HTTP request every 250 ms to each allocation `targets()` names, until
 * `stop()` (or the end of the test), which answers the bytes received. A request that fails (an
 * allocation stopped meanwhile) counts nothing and the load goes on.
 */
export function userLoad(world: DockerWorld, targets: () => readonly string[]): { stop(): Promise<number> } {
  let sending = true;
  let received = 0;
  const running = (async () => {
    while (sending) {
      for (const allocId of targets()) received += await world.sendTraffic(allocId, 1).catch(() => 0);
      await sleep(250);
    }
  })();
  const stop = async () => {
    sending = false;
    await running;
    return received;
  };
  onTestFinished(async () => {
    await stop();
  });
  return { stop };
}

export function jobStopped(sim: NomadSimulator, jobId: string, namespace = "default"): boolean {
  return sim.job(namespace, jobId)?.Stop === true;
}

/**
 * Waits until the wake record of a job carries the JobModifyIndex Nomad answered to the monitor's action:
 * it is written pending before the action, and confirmed a moment after the action's log line.
 */
export async function wakeRecordConfirmed(sim: NomadSimulator, jobId: string, namespace = "default") {
  const path = `${new StatePaths("nomad/jobs/idle-monitor").wakeRecordOf(namespace, jobId)}0`;
  await waitFor(`the wake record of job ${jobId} to be confirmed`, async () => {
    const read = await send(sim.address, "GET", `/v1/var/${path}`, { token: sim.managementToken });
    return read.status === 200 && read.body.includes("jobModifyIndex");
  });
}

export function actionCalls(sim: NomadSimulator) {
  return sim.calls.filter(
    (call) => (call.method === "DELETE" && call.path.startsWith("/v1/job/")) || call.path.endsWith("/scale"),
  );
}

export function messages(logs: readonly LogLine[], pattern: RegExp): LogLine[] {
  return logs.filter((line) => pattern.test(line.msg));
}

/**
 * Waits for the monitor's own word: Nomad's state changes before the monitor has read the answer, so a
 * line about an action can lag the simulator's view of it.
 */
export function waitForLog(
  logs: readonly LogLine[],
  pattern: RegExp,
  timeoutMs?: number,
): Promise<LogLine[]> {
  return waitFor(
    `a log line matching ${pattern}`,
    () => {
      const found = messages(logs, pattern);
      return found.length > 0 && found;
    },
    timeoutMs,
  );
}

/** Where the monitor serves /metrics and the probes, from its own log line. */
export async function listenerUrl(logs: readonly LogLine[]): Promise<string> {
  const [line] = await waitForLog(logs, /^serving \/metrics.* on /);
  const address = /on (\S+)$/.exec(line?.msg ?? "")?.[1];
  return `http://${address}`;
}

/** No secret reached any log line. */
export function expectNoSecretsInLogs(): void {
  for (const secret of allSecrets) {
    const leaked = allLogLines.filter((line) => line.includes(secret));
    expect(leaked, "a token appeared in a log line").toEqual([]);
  }
}

/** When the test fails: the monitor's info lines and the writes it made to Nomad, to tell why. */
export function explainOnFailure({ logs, sim }: Scenario): void {
  onTestFailed(() => {
    const lines = logs.filter((line) => line.level >= 30).map((line) => line.msg);
    const writes = sim.calls
      .filter((call) => call.method !== "GET" && !call.path.startsWith("/v1/var/"))
      .map((call) => `${call.method} ${call.path} → ${call.status}`);
    console.log(["monitor log (info and above):", ...lines, "writes to Nomad:", ...writes].join("\n"));
  });
}

/** The monitor's own line about an allocation, once per cycle: proof that the cycles waited for ran. */
export function cycleLines(logs: readonly LogLine[], jobId: string): LogLine[] {
  return messages(logs, new RegExp(`^job ${jobId} group web allocation [0-9a-f]{8}: `));
}

/**
 * Waits until the monitor has measured the job `count` more times than it had when called; by default
 * for up to 20 s and a second per cycle more, since a busy machine makes cycles late.
 */
export async function moreCycles(
  logs: readonly LogLine[],
  jobId: string,
  count: number,
  timeoutMs = 20_000 + count * 1_000,
) {
  const seen = cycleLines(logs, jobId).length;
  await waitFor(
    `${count} more cycles of job ${jobId}`,
    () => cycleLines(logs, jobId).length >= seen + count,
    timeoutMs,
  );
}

import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { onTestFinished } from "vitest";
import { simulatorPolicyFromFile } from "../deploy/acl-policy.js";
import { dockerWorldRuntime, NomadSimulator } from "../sim/index.js";
import { entryPoint } from "../support/entry-points.js";
import { faketimeEnv } from "../support/faketime.js";
import type { DockerWorld } from "../world/world.js";
import { allLogLines, allSecrets, type LogLine, STATE_POLICY } from "./harness.js";

/** One node's monitor as a real process (src/main.ts), as a Nomad system job runs one per node. */
export interface MonitorProcess {
  nodeId: string;
  /** Every line it wrote, stdout and stderr, parsed (LOG_FORMAT=json). */
  logs: LogLine[];
  /** Ends it: SIGTERM lets it finish as on an upgrade, SIGKILL as on an OOM kill or a crashed node. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
}

export interface Cluster {
  sim: NomadSimulator;
  nodes: string[];
  /** The action token, in the Variable `nomad/jobs/idle-monitor` (item `token`). */
  actionToken: string;
  identityToken: string;
  /** Starts a monitor process for the node; stopped when the test finishes. */
  startMonitor(nodeId: string, env?: Record<string, string>): MonitorProcess;
}

/**
 * A simulated cluster of `nodeCount` nodes, all backed by the real Docker world, set up as the README's
 * deploy steps say (action token in the Variable, the state policy attached to the monitor's job).
 */
export async function cluster(world: DockerWorld, nodeCount: number): Promise<Cluster> {
  const sim = await NomadSimulator.start({ heartbeatIntervalMs: 500 });
  const nodes = Array.from({ length: nodeCount }, (_, index) =>
    sim.addNode(`node-${String.fromCharCode(97 + index)}`, dockerWorldRuntime(world)),
  );
  const actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
  sim.putVariable("default", "nomad/jobs/idle-monitor", { token: actionToken });
  sim.attachPolicyToJob("default", "idle-monitor", await simulatorPolicyFromFile(STATE_POLICY));
  const identityToken = sim.workloadIdentity("default", "idle-monitor");
  for (const secret of [actionToken, identityToken, sim.managementToken]) allSecrets.add(secret);

  const running = new Set<ChildProcess>();
  onTestFinished(async () => {
    for (const child of running) child.kill("SIGKILL");
    await Promise.all(
      [...running].map((child) => (child.exitCode === null ? once(child, "exit") : undefined)),
    );
    await sim.close();
  });

  return {
    sim,
    nodes,
    actionToken,
    identityToken,
    startMonitor(nodeId, env = {}) {
      const child = spawn(process.execPath, [entryPoint("main")], {
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          PATH: process.env.PATH,
          ...faketimeEnv(),
          NOMAD_ADDR: sim.address,
          NOMAD_TOKEN: identityToken,
          NOMAD_NODE_ID: nodeId,
          NOMAD_ALLOC_ID: randomUUID(),
          NOMAD_JOB_ID: "idle-monitor",
          CHECK_INTERVAL: "500ms",
          IDLE_TIMEOUT: "4s",
          ACTION_COOLDOWN: "30s",
          LOG_FORMAT: "json",
          HTTP_LISTEN: "127.0.0.1:0",
          LOG_LEVEL: "debug",
          ...env,
        },
      });
      running.add(child);
      const logs: LogLine[] = [];
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on("line", (line) => {
          allLogLines.push(line);
          try {
            logs.push(JSON.parse(line) as LogLine);
          } catch {
            logs.push({ level: 60, msg: line });
          }
        });
      }
      const exited = once(child, "exit");
      return {
        nodeId,
        logs,
        async stop(signal = "SIGTERM") {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
          running.delete(child);
        },
      };
    },
  };
}

/** A run of the real entry point, its output collected line by line. */
export interface MainRun {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<{ code: number | null }>;
}

/** Runs the real entry point, as `node dist/main.js` would, with only the given environment. */
export function runMain(env: Record<string, string>): MainRun {
  const child = spawn(process.execPath, [entryPoint("main")], {
    // A free port for the listener: tests run side by side.
    env: { PATH: process.env.PATH ?? "", ...faketimeEnv(), HTTP_LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (sink: string[]) => (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
      sink.push(line);
      allLogLines.push(line);
    }
  };
  child.stdout?.on("data", collect(stdout));
  child.stderr?.on("data", collect(stderr));
  const exit = once(child, "exit").then(([code]) => ({ code: code as number | null }));
  // A test that fails before the child stops leaves no monitor behind.
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, stdout, stderr, exit };
}

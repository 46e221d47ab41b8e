import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatePaths } from "../src/cluster/paths.js";
import { encodeReport } from "../src/cluster/report.js";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import { buildMonitorImage, type MonitorImage } from "./deploy/monitor-image.js";
import { STATE_POLICY, serviceJob } from "./monitor/harness.js";
import { NomadSimulator } from "./sim/index.js";
import { EngineUnavailableError, ensureEngine } from "./world/engine.js";

const BUILD_TIMEOUT_MS = 15 * 60_000;

async function engineForTests() {
  try {
    return await ensureEngine();
  } catch (error) {
    if (!(error instanceof EngineUnavailableError) || process.env.CI === "true") throw error;
    console.warn(`Skipping the image's CLI tests: ${error.message}`);
    return undefined;
  }
}

const engine = await engineForTests();

/** `docker run` of the image's `nomad-idle-monitor`, as `nomad alloc exec` runs it: the task's environment, read-only, no capabilities. */
function inImage(image: string, env: Record<string, string>, args: string[]) {
  const envFlags = Object.entries(env).flatMap(([name, value]) => ["-e", `${name}=${value}`]);
  const flags = [
    "--rm",
    "--network=host",
    "--read-only",
    "--cap-drop=ALL",
    "--label=nomad-idle-monitor.test=1",
  ];
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      "/usr/bin/docker",
      ["run", ...flags, ...envFlags, "--entrypoint=nomad-idle-monitor", image, ...args],
      { timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === "number" ? error.code : error ? -1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.skipIf(!engine)("nomad-idle-monitor in the monitor's image", () => {
  let image: MonitorImage;
  let sim: NomadSimulator;

  beforeAll(async () => {
    image = await buildMonitorImage();
    sim = await NomadSimulator.start();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await sim?.close();
    await engine?.stop();
  });

  it("is on PATH and answers -help", async () => {
    const { code, stdout } = await inImage(image.ref, {}, ["status", "-help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage: nomad-idle-monitor status");
  });

  it("with the task's workload identity (state policy): every watched group from the reports alone, exit 4", async () => {
    const node = sim.addNode("a");
    const { allocIds } = await sim.registerJob(serviceJob("dev"));
    const [allocId = ""] = allocIds;
    sim.attachPolicyToJob("default", "idle-monitor", await simulatorPolicyFromFile(STATE_POLICY));
    const identity = sim.workloadIdentity("default", "idle-monitor");
    const record = { namespace: "default", job: "dev", group: "web", timeoutMs: 900_000, action: "stop" };
    const report = {
      v: 1 as const,
      nodeId: node,
      heartbeatMs: 180_000,
      writtenAt: 0,
      allocs: { [allocId]: { ...record, state: "quiet" as const, quietForMs: 60_000 } },
      cooldowns: {},
    };
    const [items = {}] = encodeReport(report, 1);
    sim.putVariable("default", new StatePaths("nomad/jobs/idle-monitor").reportPart(node, 0), items);

    const { code, stdout, stderr } = await inImage(
      image.ref,
      { NOMAD_ADDR: sim.address, NOMAD_TOKEN: identity },
      ["status"],
    );
    expect(code).toBe(4);
    expect(stdout).toMatch(
      /^default\s+dev\s+web\s+stop\s+\S+\s+waiting\s+1m\d*s?\s+15m\s+waits: job not readable/m,
    );
    expect(stderr).toContain("needs read-job");
    expect(`${stdout}${stderr}`).not.toContain(identity);
  });
});

import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import { dockerCli } from "./deploy/docker-cli.js";
import { jobSpecContainer, startMonitorContainer } from "./deploy/monitor-container.js";
import { buildMonitorImage, type MonitorImage } from "./deploy/monitor-image.js";
import { jobSpec } from "./sim/fixtures.js";
import { dockerWorldRuntime, NomadSimulator } from "./sim/index.js";
import { faketimeForContainer } from "./support/faketime.js";
import { type Engine, EngineUnavailableError, ensureEngine } from "./world/engine.js";
import { DockerWorld } from "./world/world.js";

const TEST_LABEL = "--label=nomad-idle-monitor.test=1";
const BUILD_TIMEOUT_MS = 15 * 60_000;
const POLICY_FILE = new URL("../nomad/idle-monitor-policy.hcl", import.meta.url).pathname;
// What Nomad would put in the monitor task's environment (job "idle-monitor", group and task "monitor").
const MONITOR_JOB = {
  namespace: "default",
  jobId: "idle-monitor",
  group: "monitor",
  task: "monitor",
} as const;
const TOKEN_VARIABLE = `nomad/jobs/${MONITOR_JOB.jobId}`;
const DAY_MS = 24 * 3_600_000;

interface PackageJson {
  version: string;
  license: string;
}
interface PackageLock {
  packages: Record<string, { dev?: boolean }>;
}
const readJson = async <T>(name: string) =>
  JSON.parse(await readFile(new URL(`../${name}`, import.meta.url), "utf8")) as T;
const packageJson = await readJson<PackageJson>("package.json");
const packageLock = await readJson<PackageLock>("package-lock.json");

async function engineForTests(): Promise<Engine | undefined> {
  try {
    return await ensureEngine();
  } catch (error) {
    if (!(error instanceof EngineUnavailableError) || process.env.CI === "true") throw error;
    console.warn(`Skipping the image tests: ${error.message}`);
    return undefined;
  }
}

const engine = await engineForTests();

async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(250);
  }
}

/** Runs a Node script in the monitor image (instead of the monitor) and parses the JSON it prints. */
async function inImage<T>(image: string, script: string, runFlags: readonly string[] = []): Promise<T> {
  const output = await dockerCli([
    "run",
    "--rm",
    TEST_LABEL,
    ...runFlags,
    "--entrypoint=node",
    image,
    "-e",
    script,
  ]);
  return JSON.parse(output) as T;
}

describe.skipIf(!engine)("the monitor's container image", () => {
  let image: MonitorImage;

  beforeAll(async () => {
    image = await buildMonitorImage();
    const built =
      image.buildMs === undefined ? "already built" : `built in ${(image.buildMs / 1000).toFixed(1)} s`;
    console.info(`${image.ref}: ${(image.sizeBytes / 1e6).toFixed(1)} MB, ${built}`);
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await engine?.stop();
  });

  it("starts the monitor under tini, in production mode, with OCI labels", async () => {
    const config = JSON.parse(
      await dockerCli(["image", "inspect", "--format", "{{json .Config}}", image.ref]),
    );
    expect(config.Entrypoint).toEqual(["/usr/bin/tini", "--", "node", "dist/main.js"]);
    expect(config.Env).toContain("NODE_ENV=production");
    expect(config.Labels).toMatchObject({
      "org.opencontainers.image.title": "nomad-idle-monitor",
      "org.opencontainers.image.version": packageJson.version,
      "org.opencontainers.image.licenses": packageJson.license,
      "org.opencontainers.image.base.name": expect.stringContaining("nomad-idle-monitor-test/node-base:"),
    });
  });

  it("holds the compiled monitor and the lockfile's production packages only", async () => {
    // package-lock.json marks every package only dev dependencies need with "dev": true.
    const lockedPaths = Object.keys(packageLock.packages).filter((path) => path !== "");
    const present = await inImage<Record<string, boolean>>(
      image.ref,
      `const { existsSync } = require("node:fs");
       const paths = [...${JSON.stringify(lockedPaths)}, "dist/main.js", "src"];
       console.log(JSON.stringify(Object.fromEntries(paths.map((path) => [path, existsSync(path)]))));`,
    );
    const wrong = lockedPaths.filter((path) => present[path] === (packageLock.packages[path]?.dev === true));
    expect(wrong).toEqual([]);
    expect(lockedPaths.filter((path) => packageLock.packages[path]?.dev === true).length).toBeGreaterThan(0);
    expect(present["dist/main.js"]).toBe(true);
    expect(present.src).toBe(false);
  });

  it("leaves the monitor what it needs under the job spec's mounts and hardening", async () => {
    const spec = await jobSpecContainer();
    const seen = await inImage<{
      dockerApi: number;
      unreadableNetDev: string[];
      rootfsWrite: string;
      capEff: string;
    }>(
      image.ref,
      `const fs = require("node:fs");
       const http = require("node:http");
       const hostPids = fs.readdirSync("/host/proc").filter((name) => /^\\d+$/.test(name));
       const unreadableNetDev = hostPids.filter((pid) => {
         try { fs.readFileSync("/host/proc/" + pid + "/net/dev"); return false; }
         catch (error) { return error.code !== "ENOENT" && error.code !== "ESRCH"; }
       });
       let rootfsWrite = "written";
       try { fs.writeFileSync("/app/probe", "x"); } catch (error) { rootfsWrite = error.code; }
       const capEff = /CapEff:\\s*(\\w+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1];
       http.get({ socketPath: "/var/run/docker.sock", path: "/_ping" }, (response) => {
         response.resume();
         console.log(JSON.stringify({ dockerApi: response.statusCode, unreadableNetDev, rootfsWrite, capEff }));
       });`,
      spec.runFlags,
    );
    // The read-only socket mount still carries every API call: that is why the README calls it root-equivalent.
    expect(seen.dockerApi).toBe(200);
    expect(seen.unreadableNetDev).toEqual([]);
    expect(seen.rootfsWrite).toBe("EROFS");
    expect(seen.capEff).toBe("0000000000000000");
  });

  it("stops an idle opted-in job with the shipped ACL policy, then exits 0 on docker stop", async () => {
    // Under faketime the monitor in its container runs on the test's moved clock too.
    const faketime = faketimeForContainer();
    if (faketime.runFlags.length > 0) {
      const { now } = await inImage<{ now: number }>(
        image.ref,
        "console.log(JSON.stringify({ now: Date.now() }))",
        [
          ...faketime.runFlags,
          ...Object.entries(faketime.env).map(([name, value]) => `--env=${name}=${value}`),
        ],
      );
      expect(Math.abs(now - Date.now()), "the image's libc loads the host's libfaketime").toBeLessThan(
        DAY_MS,
      );
    }
    const world = await DockerWorld.open();
    const sim = await NomadSimulator.start({ heartbeatIntervalMs: 1_000 });
    try {
      const nodeId = sim.addNode("node-1", dockerWorldRuntime(world));
      // The operator's steps from the README: token with the shipped policy, stored in the Variable
      // that the monitor's workload identity may read.
      const actionToken = sim.createToken(await simulatorPolicyFromFile(POLICY_FILE));
      sim.putVariable(MONITOR_JOB.namespace, TOKEN_VARIABLE, { token: actionToken });
      const identity = sim.workloadIdentity(
        MONITOR_JOB.namespace,
        MONITOR_JOB.jobId,
        MONITOR_JOB.group,
        MONITOR_JOB.task,
      );
      await sim.registerJob(
        jobSpec("dev-alice", { meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "3s" } }),
      );
      await sim.registerJob(jobSpec("always-on"));

      const monitor = await startMonitorContainer(
        image.ref,
        {
          // The task API socket needs a real Nomad agent; the simulator listens on loopback.
          NOMAD_ADDR: sim.address,
          NOMAD_TOKEN: identity,
          NOMAD_NODE_ID: nodeId,
          NOMAD_ALLOC_ID: randomUUID(),
          NOMAD_JOB_ID: MONITOR_JOB.jobId,
          NOMAD_NAMESPACE: MONITOR_JOB.namespace,
          TOKEN_VARIABLE,
          CHECK_INTERVAL: "1s",
          ...faketime.env,
        },
        faketime.runFlags,
      );
      try {
        await eventually(
          () => sim.job("default", "dev-alice")?.Stop === true,
          "the idle job is stopped",
          60_000,
        );
        await eventually(
          async () => /stopped job dev-alice/.test(await monitor.logs()),
          "the stop is logged",
          10_000,
        );
        expect(sim.job("default", "always-on")?.Stop).toBe(false);

        const exitCode = await monitor.stop();
        const logs = await monitor.logs();
        expect(exitCode, logs).toBe(0);
        expect(logs).not.toContain(actionToken);
        expect(logs).not.toContain(identity);
      } catch (error) {
        // The monitor's own account is what explains a failure here.
        throw new Error(`${(error as Error).message}\n--- monitor log ---\n${await monitor.logs()}`, {
          cause: error,
        });
      } finally {
        await monitor.remove();
      }
    } finally {
      await sim.close();
      await world.close();
    }
  }, 180_000);
});

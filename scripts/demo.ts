// The quick-start demo: the real monitor process, against the project's Nomad API simulator (no Nomad
// cluster needed) and real containers on the local Docker Engine. One opted-in job gets traffic, the
// other none; the idle one is stopped within a minute, the busy one keeps running.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { simulatorPolicyFromFile } from "../test/deploy/acl-policy.js";
import { dockerWorldRuntime, NomadSimulator, type SimJob } from "../test/sim/index.js";
import { DockerWorld } from "../test/world/world.js";

const CHECK_INTERVAL = "5s";
const IDLE_TIMEOUT = "30s";
const GIVE_UP_MS = 3 * 60_000;

const say = (text: string) => process.stdout.write(`\x1b[1m[demo]\x1b[0m ${text}\n`);

function devJob(id: string): SimJob {
  return {
    ID: id,
    Type: "service",
    Meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": IDLE_TIMEOUT },
    TaskGroups: [{ Name: "web", Count: 1, Tasks: [{ Name: "server", Driver: "docker" }] }],
  };
}

say("nomad-idle-monitor demo");
say("Nomad here is the project's built-in API SIMULATOR, not a real cluster; the containers are real,");
say("on your local Docker Engine. Starting them...");
const world = await DockerWorld.open();
const sim = await NomadSimulator.start();
let monitor: ReturnType<typeof spawn> | undefined;
let finished = false;

async function cleanUp() {
  finished = true;
  if (monitor && monitor.exitCode === null) {
    monitor.kill("SIGTERM");
    await once(monitor, "exit");
  }
  await sim.close();
  await world.close();
}
process.on("SIGINT", () => {
  say("interrupted; cleaning up");
  cleanUp().then(() => process.exit(130));
});

try {
  const node = sim.addNode("demo-node", dockerWorldRuntime(world));
  const actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
  sim.putVariable("default", "nomad/jobs/idle-monitor", { token: actionToken });
  // As the README's deploy steps do: the monitor's identity keeps the shared state and wake records.
  sim.attachPolicyToJob(
    "default",
    "idle-monitor",
    await simulatorPolicyFromFile("nomad/idle-monitor-state-policy.hcl"),
  );
  await sim.registerJob(devJob("dev-idle"));
  await sim.registerJob(devJob("dev-busy"));
  await sim.whenSettled();
  const [busyAlloc] = sim.allocations({ jobId: "dev-busy" });
  if (!busyAlloc) throw new Error("dev-busy was not placed");

  say(`two opted-in jobs, idle timeout ${IDLE_TIMEOUT}, checked every ${CHECK_INTERVAL}:`);
  say("  dev-idle  nobody uses it: expect it to be stopped within a minute");
  say("  dev-busy  the demo sends it an HTTP request every second: it keeps running");
  say("the monitor's own log lines follow, exactly as the Nomad UI would show them.\n");

  monitor = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      PATH: process.env.PATH,
      NOMAD_ADDR: sim.address,
      // The monitor reads its action token from the Variable with its workload identity, as in production.
      NOMAD_TOKEN: sim.workloadIdentity("default", "idle-monitor"),
      NOMAD_NODE_ID: node,
      // Any free port: the monitor's log line says where /metrics is.
      HTTP_LISTEN: "127.0.0.1:0",
      CHECK_INTERVAL,
      IDLE_TIMEOUT,
    },
  });

  let sent = 0;
  const traffic = setInterval(() => {
    world.sendTraffic(busyAlloc.ID, 1).then(
      (bytes) => {
        sent += bytes;
      },
      () => undefined,
    );
  }, 1_000);
  const started = Date.now();
  const status = () => {
    const state = (id: string) => (sim.job("default", id)?.Stop ? "stopped" : "running");
    const seconds = Math.round((Date.now() - started) / 1000);
    say(
      `t+${seconds}s  dev-idle: ${state("dev-idle")}  dev-busy: ${state("dev-busy")} (${Math.round(sent / 1024)} KiB served)`,
    );
  };
  const statusTimer = setInterval(status, 10_000);

  while (!sim.job("default", "dev-idle")?.Stop) {
    if (Date.now() - started > GIVE_UP_MS || finished) throw new Error("dev-idle was not stopped in time");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  status();
  say("dev-idle was stopped by the monitor. Watching 20 s more: dev-busy must keep running...");
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  clearInterval(traffic);
  clearInterval(statusTimer);
  status();
  const busyStopped = sim.job("default", "dev-busy")?.Stop === true;
  await cleanUp();
  if (busyStopped) throw new Error("dev-busy was stopped although it had traffic");
  say("done: the idle job was stopped, the busy one kept running. Containers removed.");
  say(
    "next: run it on a cluster — see 'Deploy on Nomad' in README.md and 'Run against a real cluster' in docs/configuration.md.",
  );
  process.exit(0);
} catch (error) {
  say(`demo failed: ${(error as Error).message}`);
  await cleanUp();
  process.exit(1);
}

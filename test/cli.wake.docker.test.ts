import { afterAll, describe, expect, it } from "vitest";
import { StatePaths } from "../src/cluster/paths.js";
import { encodeParts } from "../src/cluster/report.js";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import {
  actionCalls,
  allSecrets,
  expectNoSecretsInLogs,
  jobStopped,
  scenario,
  serviceJob,
  waitFor,
  waitForLog,
  wakeRecordConfirmed,
} from "./monitor/harness.js";
import { type CliRun, runCli } from "./support/cli.js";
import { openWorldForTests } from "./world/world.js";

const WAKE_POLICY = new URL("../nomad/idle-monitor-wake-policy.hcl", import.meta.url).pathname;
const WAKE_RECORDS = "nomad/jobs/idle-monitor/wake/";
const world = await openWorldForTests();
const outputs: string[] = [];

async function wake(args: string[], env: Record<string, string>): Promise<CliRun> {
  const result = await runCli(["wake", ...args], env);
  outputs.push(result.stdout, result.stderr);
  return result;
}

describe.skipIf(!world)("nomad-idle-monitor wake", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    for (const secret of allSecrets) expect(outputs.filter((output) => output.includes(secret))).toEqual([]);
    await world?.close();
  });

  async function setUp() {
    const current = await scenario(world!);
    const token = current.sim.createToken(await simulatorPolicyFromFile(WAKE_POLICY));
    allSecrets.add(token);
    return { current, env: { NOMAD_ADDR: current.sim.address, NOMAD_TOKEN: token } };
  }

  it("registers a job the monitor stopped again as it was, even after Nomad garbage-collected it", async () => {
    const { current, env } = await setUp();
    const { sim } = current;
    await sim.registerJob(serviceJob("woken", { meta: { "idle-monitor.enabled": "true", owner: "alice" } }));
    await sim.whenSettled();
    // A cooldown longer than the test: the woken job, idle again, is not stopped again meanwhile.
    current.startMonitor({ ACTION_COOLDOWN: "10m" });
    await waitFor("the job to be stopped", () => jobStopped(sim, "woken"), 30_000);
    await wakeRecordConfirmed(sim, "woken");
    sim.purgeJob("default", "woken");
    expect(sim.job("default", "woken")).toBeUndefined();

    const woken = await wake(["woken"], env);
    expect(woken.stderr).toBe("");
    expect(woken.code).toBe(0);
    expect(woken.stdout).toMatch(
      new RegExp(
        `^Registered job "woken" in namespace "default" again as it was before node ${current.localNode} stopped it \\S+ ago \\(version 0\\); evaluation \\S+\\.\\n$`,
      ),
    );
    await sim.whenSettled();
    expect(sim.job("default", "woken")).toMatchObject({
      Stop: false,
      Meta: { "idle-monitor.enabled": "true", owner: "alice" },
    });
    expect(sim.allocations({ jobId: "woken" }).some((alloc) => alloc.DesiredStatus === "run")).toBe(true);
    expect(sim.listVariables("default", WAKE_RECORDS)).toEqual([]);

    const again = await wake(["woken"], env);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/^No record of job "woken" in namespace "default"/);
  });

  it("scales a group the monitor scaled to zero back to the count it had", async () => {
    const { current, env } = await setUp();
    const { sim } = current;
    const meta = { "idle-monitor.enabled": "true", "idle-monitor.action": "scale-to-zero" };
    // Healthy a second after they run: the monitor's scale meets no deployment under way.
    const groups = [{ name: "web", count: 2, update: { MinHealthyTime: 1e9 } }];
    await sim.registerJob(serviceJob("scaled", { meta, groups }), {
      nodes: { web: [current.localNode] },
    });
    await sim.whenSettled();
    current.startMonitor();
    await waitFor(
      "the group to be scaled to 0",
      () => sim.job("default", "scaled")?.TaskGroups[0]?.Count === 0,
      30_000,
    );
    await wakeRecordConfirmed(sim, "scaled");

    const other = await wake(["scaled", "-group", "db"], env);
    expect(other.code).toBe(3);
    expect(other.stderr).toMatch(/did not scale group "db" of job "scaled"; it scaled: web/);

    const woken = await wake(["scaled", "-group=web"], env);
    expect(woken.code).toBe(0);
    expect(woken.stdout).toMatch(
      new RegExp(
        `^Scaled group "web" of job "scaled" back to 2 \\(scaled to 0 by node ${current.localNode} \\S+ ago\\); evaluation \\S+\\.\\n$`,
      ),
    );
    expect(sim.job("default", "scaled")?.TaskGroups[0]?.Count).toBe(2);
    expect(actionCalls(sim).filter((call) => call.path.endsWith("/scale"))).toHaveLength(2);
  });

  it("issue 19 item 2: wake does not register an old specification over a newer one", async () => {
    const { current, env } = await setUp();
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("rerun", { meta: { "idle-monitor.enabled": "true", owner: "alice" } }));
    await sim.whenSettled();
    current.startMonitor({ ACTION_COOLDOWN: "10m" });
    await waitForLog(logs, /^stopped job rerun /, 30_000);
    await wakeRecordConfirmed(sim, "rerun");
    // The owner runs a changed version, without the monitor's meta, and later stops it by hand.
    await sim.registerJob(serviceJob("rerun", { meta: { owner: "bob" } }));
    await sim.whenSettled();
    await sim.stopJob("default", "rerun");
    const newer = sim.job("default", "rerun");

    const woken = await wake(["rerun"], env);
    expect(woken.stdout).toBe("");
    expect(woken.stderr).toMatch(
      /^Not waking job "rerun": it changed since node \S+ stopped it \(its JobModifyIndex is \d+, the monitor left it at \d+: run again, stopped or scaled by someone else\)\. wake brings back only what the monitor left, never an older specification over a newer one; its record is removed\./,
    );
    expect(woken.code).toBe(3);
    expect(sim.calls.filter((call) => call.method === "POST" && call.path === "/v1/jobs")).toEqual([]);
    expect(sim.job("default", "rerun")).toEqual(newer);
    expect(sim.listVariables("default", WAKE_RECORDS)).toEqual([]);
  });

  it("issue 19 item 12: wake uses a record only for the job and namespace its path names", async () => {
    const { current, env } = await setUp();
    const { sim } = current;
    await sim.registerJob(serviceJob("intruder", { meta: { owner: "mallory" } }));
    await sim.whenSettled();
    await sim.stopJob("default", "intruder");
    const intruder = sim.job("default", "intruder");
    // Written by whoever may write under wake/: victim's path, another job's specification.
    const record = {
      ...{ v: 1, namespace: "default", jobId: "victim", node: "node-x", at: Date.now() },
      stopped: intruder,
      jobModifyIndex: intruder?.JobModifyIndex,
    };
    const prefix = new StatePaths("nomad/jobs/idle-monitor").wakeRecordOf("default", "victim");
    for (const [part, items] of encodeParts("record", record, 1).entries())
      sim.putVariable("default", `${prefix}${part}`, items);

    const woken = await wake(["victim"], env);
    expect(woken.stdout).toBe("");
    expect(woken.stderr).toBe(
      `Not using the record ${prefix} in namespace default: it holds the specification of job intruder in namespace default, not of job victim. Find out who wrote it; \`nomad var purge\` removes it.\n`,
    );
    expect(woken.code).toBe(3);
    expect(sim.calls.filter((call) => call.method === "POST" && call.path === "/v1/jobs")).toEqual([]);
    expect(sim.job("default", "intruder")).toEqual(intruder);
  });
});

import { afterAll, describe, expect, it } from "vitest";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import {
  actionCalls,
  allSecrets,
  expectNoSecretsInLogs,
  jobStopped,
  scenario,
  serviceJob,
  waitFor,
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
    await waitFor("the wake record", () => sim.listVariables("default", WAKE_RECORDS).length > 0);
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
    await waitFor("the wake record", () => sim.listVariables("default", WAKE_RECORDS).length > 0);

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
});

import { afterAll, describe, expect, it } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  jobStopped,
  messages,
  moreCycles,
  scenario,
  serviceJob,
  waitFor,
} from "./monitor/harness.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

describe.skipIf(!world)("what the monitor leaves alone", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("touches nothing that is not an idle, opted-in, single-node job — and says why once", async () => {
    const current = await scenario(world!);
    const { sim, logs, localNode, otherNode } = current;
    const jobs = [
      // The sentinel: once it is stopped, every job below has had the same chance.
      serviceJob("sentinel"),
      serviceJob("not-opted-in", { meta: null }),
      serviceJob("opted-out-by-false", { meta: { "idle-monitor.enabled": "false" } }),
      serviceJob("partly-opted-in", {
        meta: null,
        groups: [{ name: "web", meta: { "idle-monitor.enabled": "true" } }, { name: "db" }],
      }),
      serviceJob("invalid-timeout", {
        meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "soon" },
      }),
      serviceJob("batch-system", { type: "system" }),
      serviceJob("idle-monitor"),
      serviceJob("not-docker", { groups: [{ name: "web", driver: "exec" }] }),
      serviceJob("host-network", { groups: [{ name: "web", hostNetwork: true }] }),
      serviceJob("task-keys-only", {
        meta: null,
        groups: [{ name: "web", taskMeta: { "idle-monitor.enabled": "true" } }],
      }),
    ];
    for (const job of jobs) await sim.registerJob(job, { nodes: { web: [localNode], db: [localNode] } });
    await sim.registerJob(serviceJob("also-elsewhere", { groups: [{ name: "web", count: 2 }] }), {
      nodes: { web: [localNode, otherNode] },
    });
    await sim.whenSettled();
    current.startMonitor();

    await waitFor("the sentinel job to be stopped", () => jobStopped(sim, "sentinel"), 40_000);
    // Two more cycles for anything that would have gone right after it (the web group is measured).
    await moreCycles(logs, "partly-opted-in", 2);

    expect(actionCalls(sim).map((call) => call.path)).toEqual(["/v1/job/sentinel"]);
    for (const job of [...jobs.slice(1).map((j) => j.ID), "also-elsewhere"]) {
      expect(jobStopped(sim, job), job).toBe(false);
    }
    const once = (pattern: RegExp) => expect(messages(logs, pattern), String(pattern)).toHaveLength(1);
    once(/^job partly-opted-in group web is idle, but not stopping the job while group db is not opted in$/);
    once(
      /^job invalid-timeout group web: job meta idle-monitor.timeout="soon" is not valid \(expected a Go\/Nomad duration.*\); leaving the group alone/,
    );
    once(/^job also-elsewhere group web is idle here, but not acting while node other has not reported$/);
    once(/^job not-docker group web opted in but cannot be measured: task server uses the exec driver/);
    once(
      /^cannot measure job host-network group web: .*host networking: counters would be the whole machine's/,
    );
    once(/^job task-keys-only: meta key idle-monitor.enabled on task server \(group web\) is ignored/);
    expect(
      messages(logs, /idle-monitor|batch-system|not-opted-in|opted-out-by-false/).filter((l) =>
        /^watching job/.test(l.msg),
      ),
    ).toEqual([]);
  });

  it("leaves jobs in namespaces outside NAMESPACES alone", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("sentinel"));
    // Measured every cycle and never stopped: its lines prove the cycles after the sentinel's stop ran.
    await sim.registerJob(
      serviceJob("witness", { meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "1h" } }),
    );
    await sim.registerJob(serviceJob("team-b-dev", { namespace: "team-b" }));
    await sim.whenSettled();
    current.startMonitor({ NAMESPACES: "default" });
    await waitFor("the sentinel job to be stopped", () => jobStopped(sim, "sentinel"), 40_000);
    await moreCycles(logs, "witness", 2);
    expect(jobStopped(sim, "team-b-dev", "team-b")).toBe(false);
    expect(messages(logs, /namespace team-b is not in NAMESPACES; leaving it alone/)).toHaveLength(1);
  });
});

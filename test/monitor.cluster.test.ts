import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import type { AllocRecord } from "../src/model/cluster.js";
import { exchangeTiming } from "../src/model/timing.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import {
  actionCalls,
  expectNoSecretsInLogs,
  messages,
  serviceJob,
  sleep,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { cluster } from "./monitor/processes.js";
import { FakeClock } from "./support/fake-clock.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();
const TIMEOUT_MS = 4_000;

describe.skipIf(!world)("deciding as a cluster, one real monitor process per node", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  /** A job with one allocation on each node, placed and running. */
  async function spreadJob(sim: Awaited<ReturnType<typeof cluster>>["sim"], nodes: string[], id = "spread") {
    await sim.registerJob(serviceJob(id, { groups: [{ name: "web", count: nodes.length }] }), {
      nodes: { web: nodes },
    });
    await sim.whenSettled();
    const allocations = sim.allocations({ jobId: id });
    expect(new Set(allocations.map((alloc) => alloc.NodeID))).toEqual(new Set(nodes));
    return allocations;
  }

  it("stops a job idle on both of its nodes exactly once, saying so on the node that acted, with the other's evidence", async () => {
    const { sim, nodes, startMonitor } = await cluster(world!, 2);
    const allocations = await spreadJob(sim, nodes);
    const monitors = nodes.map((node) => startMonitor(node));

    await waitFor("the job to be stopped", () => actionCalls(sim).length > 0, 30_000);
    await sleep(2 * TIMEOUT_MS);
    expect(actionCalls(sim)).toHaveLength(1);
    const [first] = [...allocations].sort((a, b) => a.ID.localeCompare(b.ID));
    const acting = monitors.find((monitor) => monitor.nodeId === first?.NodeID);
    const other = monitors.find((monitor) => monitor !== acting);
    const otherName = other?.nodeId === nodes[0] ? "node-a" : "node-b";
    expect(messages(acting!.logs, /^stopped job spread/).map((line) => line.msg)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^stopped job spread in namespace default .*: group web idle for \\d+s here and on node ${otherName}, \\d+ B seen here, threshold 500 B per 500ms$`,
        ),
      ),
    ]);
    expect(messages(other!.logs, /^stopped job/)).toEqual([]);
  });

  it("keeps a job whose allocation on one node is in use, over three timeouts, and says which node it waits for", async () => {
    const { sim, nodes, startMonitor } = await cluster(world!, 2);
    const allocations = await spreadJob(sim, nodes);
    const busy = allocations.find((alloc) => alloc.NodeID === nodes[1]);
    // The user load: one small HTTP request every 250 ms to the allocation on node-b.
    let keepSending = true;
    let sent = 0;
    const traffic = (async () => {
      while (keepSending) {
        sent += await world!.sendTraffic(busy!.ID, 1);
        await sleep(250);
      }
    })();
    const [idleSide] = nodes.map((node) => startMonitor(node));

    await waitForLog(
      idleSide!.logs,
      /^job spread group web is idle here, but not acting while node node-b reports activity$/,
      30_000,
    );
    await sleep(3 * TIMEOUT_MS);
    keepSending = false;
    await traffic;
    expect(sent).toBeGreaterThan(0);
    expect(actionCalls(sim)).toEqual([]);
    // The cycles it waited through ran: the idle side kept deciding and reading node-b's reports.
    expect(messages(idleSide!.logs, /^job spread group web: idle:/).length).toBeGreaterThan(
      2 * (TIMEOUT_MS / 500),
    );
  });

  it("does not stop the job while one node's monitor is down (its report goes stale), and stops it once that monitor is back", async () => {
    const { sim, nodes, startMonitor } = await cluster(world!, 2);
    await spreadJob(sim, nodes);
    const [a, b] = nodes.map((node) => startMonitor(node));
    await waitForLog(b!.logs, /^watching job spread group web/, 20_000);
    await b!.stop("SIGKILL");

    await waitForLog(
      a!.logs,
      /^job spread group web is idle here, but not acting while node node-b has not reported recently$/,
      30_000,
    );
    await sleep(2 * TIMEOUT_MS);
    expect(actionCalls(sim)).toEqual([]);

    const back = startMonitor(nodes[1]!);
    await waitForLog(back.logs, /^resuming from this node's last report: 1 allocation/, 20_000);
    await waitFor(
      "the job to be stopped once node-b reports again",
      () => actionCalls(sim).length > 0,
      30_000,
    );
    expect(actionCalls(sim)).toHaveLength(1);
  });

  it("continues an allocation's idle timer across a monitor restart: stopped at the original deadline, not a timeout later", async () => {
    const { sim, nodes, startMonitor } = await cluster(world!, 1);
    await sim.registerJob(
      serviceJob("restarted", { meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "8s" } }),
    );
    await sim.whenSettled();
    const first = startMonitor(nodes[0]!);
    await waitForLog(first.logs, /^watching job restarted group web/, 20_000);
    await sleep(3_000);
    await first.stop("SIGTERM");
    const second = startMonitor(nodes[0]!);

    const [stop] = await waitForLog(second.logs, /^stopped job restarted/, 40_000);
    expect(messages(second.logs, /^resuming from this node's last report: 1 allocation/)).toHaveLength(1);
    // The second monitor's own account, not wall-clock bounds: the idle time it acted on exceeds its
    // own lifetime by about the 3 s the first one watched. A timer started over would be within it.
    const idleForS = Number(/group web idle for (\d+)s/.exec(stop?.msg ?? "")?.[1]);
    const lifetimeS = ((stop?.time as number) - (second.logs[0]?.time as number)) / 1000;
    expect(idleForS).toBeGreaterThanOrEqual(8);
    expect(idleForS - lifetimeS, "idle time carried over from before the restart").toBeGreaterThanOrEqual(2);
  });

  it("keeps a job it acted on in its cooldown across a restart (dry run: said once, not again after the restart)", async () => {
    const { sim, nodes, startMonitor } = await cluster(world!, 1);
    await sim.registerJob(serviceJob("cooled"));
    await sim.whenSettled();
    const env = { DRY_RUN: "true", ACTION_COOLDOWN: "60s" };
    const first = startMonitor(nodes[0]!, env);
    await waitForLog(first.logs, /^dry run: would stop job cooled/, 20_000);
    await first.stop("SIGTERM");
    const second = startMonitor(nodes[0]!, env);
    await waitForLog(
      second.logs,
      /^resuming from this node's last report: 1 allocation, 1 job in cooldown$/,
      20_000,
    );
    await waitForLog(second.logs, /^job cooled group web: idle:/, 20_000);
    await sleep(3 * TIMEOUT_MS);
    expect(messages(second.logs, /^job cooled group web: idle:/).length).toBeGreaterThan(TIMEOUT_MS / 500);
    expect(messages(second.logs, /^dry run: would stop/)).toEqual([]);
  });

  it("removes the report of a node whose monitor is long gone, and keeps its own", async () => {
    const { sim, nodes, startMonitor } = await cluster(world!, 1);
    const record: AllocRecord = { state: "quiet", quietForMs: 1_000 };
    const gone = JSON.stringify({
      v: 1,
      nodeId: "gone-node",
      heartbeatMs: 600,
      writtenAt: 0,
      allocs: { x: record },
      cooldowns: {},
    });
    sim.putVariable("default", "nomad/jobs/idle-monitor/activity/gone-node/0", {
      report: gone,
      part: "0",
      parts: "1",
      generation: "1",
    });
    await sim.registerJob(serviceJob("keeps-it-busy", { meta: null }));
    // 200 ms interval: a 600 ms heartbeat, and reports untouched for 12 s are removed.
    const monitor = startMonitor(nodes[0]!, { CHECK_INTERVAL: "200ms", IDLE_TIMEOUT: "1s" });
    await waitForLog(monitor.logs, /^removed the report of node gone-node/, 40_000);
    const left = sim.listVariables("default", "nomad/jobs/idle-monitor/activity/");
    expect(left).toEqual([`nomad/jobs/idle-monitor/activity/${nodes[0]}/0`]);
  });
});

describe("reports through the Nomad API (simulator)", () => {
  it("splits a report larger than one Variable's 64 KiB over several, and another node reads it back whole", async () => {
    const { NomadSimulator } = await import("./sim/index.js");
    const sim = await NomadSimulator.start();
    try {
      sim.addNode("a");
      const api = new NomadHttpApi({
        config: { nomadAddr: sim.address, nomadRegion: undefined, tls: {} as never },
        token: () => sim.managementToken,
      });
      const paths = new StatePaths("nomad/jobs/idle-monitor");
      const clock = new FakeClock();
      const log = pino({ level: "silent" });
      const exchange = (nodeId: string) =>
        new ClusterExchange({
          store: api.variables("default", sim.managementToken),
          paths,
          nodeId,
          clock,
          log,
          timing: exchangeTiming(1_000),
        });
      const writer = exchange("node-a");
      const reader = exchange("node-b");
      const allocs: Record<string, AllocRecord> = {};
      for (let i = 0; i < 800; i++)
        allocs[`${String(i).padStart(8, "0")}-aaaa-bbbb-cccc-dddddddddddd`] = {
          state: "quiet",
          quietForMs: 1_000,
          counters: { [`${"e".repeat(64)}`]: 987_654_321 },
          countersAt: 1,
        };
      // The reader writes first: what is written after it is known to be fresh.
      await reader.publish({ v: 1, nodeId: "node-b", writtenAt: 0, allocs: {}, cooldowns: {} }, true);
      await writer.publish({ v: 1, nodeId: "node-a", writtenAt: 0, allocs, cooldowns: {} }, true);
      expect(writer.sharing).toBe(true);
      const parts = sim.listVariables("default", "nomad/jobs/idle-monitor/activity/node-a/");
      expect(parts.length).toBeGreaterThan(1);
      const evidence = await reader.peerEvidence(["node-a"]);
      expect(evidence).toHaveLength(800);
      expect(evidence?.every((peer) => peer.state === "quiet")).toBe(true);
    } finally {
      await sim.close();
    }
  });
});

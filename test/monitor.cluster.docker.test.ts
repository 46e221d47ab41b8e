import { afterAll, describe, expect, it } from "vitest";
import type { AllocRecord } from "../src/model/cluster.js";
import {
  actionCalls,
  expectNoSecretsInLogs,
  messages,
  moreCycles,
  serviceJob,
  sleep,
  userLoad,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { cluster } from "./monitor/processes.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();
const TIMEOUT_MS = 4_000;
const INTERVAL_MS = 500;

describe.skipIf(!world)("deciding as a cluster, one real monitor process per node", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  /** A job with one allocation on each node, placed and running. */
  async function spreadJob(
    sim: Awaited<ReturnType<typeof cluster>>["sim"],
    nodes: string[],
    id = "spread",
    meta?: Record<string, string>,
  ) {
    await sim.registerJob(serviceJob(id, { meta, groups: [{ name: "web", count: nodes.length }] }), {
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
    // Measured every cycle on both nodes and never stopped: its lines prove the cycles after the stop ran.
    await spreadJob(sim, nodes, "witness", { "idle-monitor.enabled": "true", "idle-monitor.timeout": "1h" });
    const monitors = nodes.map((node) => startMonitor(node));

    await waitFor("the job to be stopped", () => actionCalls(sim).length > 0, 30_000);
    await Promise.all(
      monitors.map((monitor) => moreCycles(monitor.logs, "witness", (2 * TIMEOUT_MS) / INTERVAL_MS)),
    );
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
    const load = userLoad(world!, () => [busy!.ID]);
    const [idleSide] = nodes.map((node) => startMonitor(node));

    await waitForLog(
      idleSide!.logs,
      /^job spread group web is idle here, but not acting while node node-b reports activity$/,
      30_000,
    );
    await moreCycles(idleSide!.logs, "spread", (3 * TIMEOUT_MS) / INTERVAL_MS);
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(0);
    expect(actionCalls(sim)).toEqual([]);
    // The cycles it waited through ran: the idle side kept deciding and reading node-b's reports.
    expect(messages(idleSide!.logs, /^job spread group web: idle:/).length).toBeGreaterThan(
      2 * (TIMEOUT_MS / INTERVAL_MS),
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
    await moreCycles(a!.logs, "spread", (2 * TIMEOUT_MS) / INTERVAL_MS);
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
    // Longer than a timeout: an idle timer started over would have come due again.
    await moreCycles(second.logs, "cooled", TIMEOUT_MS / INTERVAL_MS + 1);
    expect(messages(second.logs, /^job cooled group web: idle:/).length).toBeGreaterThan(
      TIMEOUT_MS / INTERVAL_MS,
    );
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

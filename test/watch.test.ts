import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAllocations } from "../src/allocations.js";
import { systemClock } from "../src/clock.js";
import { MonitorMetrics } from "../src/metrics.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import { ActionToken } from "../src/nomad/token.js";
import { AllocationWatch, type WatchTiming } from "../src/nomad/watch.js";
import type { NomadApi } from "../src/ports.js";
import { serviceJob, sleep, waitFor } from "./monitor/harness.js";
import { NOMAD_VERSIONS, NomadSimulator } from "./sim/index.js";

// The allocation watch: one blocking query on the node's allocations, against the simulator (which holds
// the query as Nomad does) and, for a connection that never answers, a loopback server that says nothing.

const TIMING: WatchTiming = { waitMs: 60_000, reconnect: { initialMs: 50, maxMs: 200 } };
const VARIABLE = "nomad/jobs/idle-monitor";

interface Watching {
  view: NodeAllocations;
  messages: string[];
  news: number;
  metrics: MonitorMetrics;
  stop(): Promise<void>;
}

/** A watch of `nodeId` whose action token is read from the Variable with `nomadToken`. */
async function startWatch(
  address: string,
  nodeId: string,
  nomadToken: string | undefined,
  timing: WatchTiming = TIMING,
): Promise<Watching> {
  const messages: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => messages.push(JSON.parse(line).msg) });
  const config = { nomadAddr: address, nomadRegion: undefined, tls: {} as never };
  const api: NomadApi = new NomadHttpApi({ config, token: (): string | undefined => token.current() });
  const token: ActionToken = new ActionToken(
    api,
    {
      nomadToken,
      namespace: "default",
      tokenVariable: { path: VARIABLE, key: "token" },
      self: { allocId: undefined, jobId: undefined },
    },
    log,
  );
  await token.load().catch(() => undefined);
  const metrics = new MonitorMetrics();
  const watching: Watching = {
    view: new NodeAllocations(nodeId),
    messages,
    news: 0,
    metrics,
    stop: async () => undefined,
  };
  const watch = new AllocationWatch({
    nomad: api,
    token,
    view: watching.view,
    nodeId,
    clock: systemClock,
    log,
    timing,
    metrics,
    onNewAllocations: () => {
      watching.news += 1;
    },
  });
  const stop = new AbortController();
  const running = watch.run(stop.signal);
  watching.stop = async () => {
    stop.abort();
    await running;
  };
  return watching;
}

const watchRequests = (sim: NomadSimulator, nodeId: string) =>
  sim.calls.filter((call) => call.path === `/v1/node/${nodeId}/allocations`);

describe.each(NOMAD_VERSIONS)("the allocation watch against Nomad %s (simulator)", (version) => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  async function cluster() {
    const sim = await NomadSimulator.start({ version });
    cleanup.push(() => sim.close());
    const here = sim.addNode("here");
    const there = sim.addNode("there");
    const token = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
    sim.putVariable("default", VARIABLE, { token });
    return { sim, here, there, token };
  }

  it("lists the node's allocations, then learns of a placement on it at once, not after the wait", async () => {
    const { sim, here } = await cluster();
    await sim.registerJob(serviceJob("first"), { nodes: { web: [here] } });
    await sim.whenSettled();
    const watch = await startWatch(sim.address, here, sim.managementToken);
    cleanup.push(watch.stop);
    await waitFor("the first list", () => watch.view.live().length === 1);
    expect(watch.news).toBe(0);

    await sim.registerJob(serviceJob("second"), { nodes: { web: [here] } });
    // The wait is a minute: only an answer to the change brings it this soon.
    await waitFor(
      "the second job's allocation",
      () => watch.view.live().some((a) => a.jobId === "second"),
      10_000,
    );
    expect(watch.news).toBeGreaterThan(0);
    expect(watch.view.live().find((a) => a.jobId === "second")?.job?.ID).toBe("second");
    // Every request after the first waits from the index of the answer before, on any server.
    const [first, ...blocking] = watchRequests(sim, here);
    expect(first?.query.get("index")).toBeNull();
    expect(blocking.length).toBeGreaterThan(0);
    for (const call of blocking) {
      expect(Number(call.query.get("index"))).toBeGreaterThan(0);
      expect(call.query.get("wait")).toBe("60s");
      expect(call.query.has("stale")).toBe(true);
    }
  });

  it("is not woken by another node's allocations: the servers answer it only for its own", async () => {
    const { sim, here, there } = await cluster();
    await sim.registerJob(serviceJob("mine"), { nodes: { web: [here] } });
    await sim.whenSettled();
    const watch = await startWatch(sim.address, here, sim.managementToken);
    cleanup.push(watch.stop);
    await waitFor("the first list", () => watch.view.seeded);
    await waitFor("the blocking query to be held", () => watchRequests(sim, here).length >= 1);
    const before = watchRequests(sim, here).length;
    for (let i = 0; i < 5; i++)
      await sim.registerJob(serviceJob(`elsewhere-${i}`), { nodes: { web: [there] } });
    await sim.whenSettled();
    await sleep(500);
    expect(watchRequests(sim, here).length).toBe(before);
    expect(watch.view.live().map((a) => a.jobId)).toEqual(["mine"]);
  });

  it("reads the action token again when Nomad refuses it, and watches on with the new one", async () => {
    const { sim, here, token } = await cluster();
    await sim.registerJob(serviceJob("dev"), { nodes: { web: [here] } });
    await sim.whenSettled();
    const identity = sim.workloadIdentity("default", "idle-monitor");
    const watch = await startWatch(sim.address, here, identity);
    cleanup.push(watch.stop);
    await waitFor("the first list", () => watch.view.live().length === 1);

    // Rotated: a new token in the Variable, the old one deleted.
    const rotated = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
    sim.putVariable("default", VARIABLE, { token: rotated });
    sim.revokeToken(token);
    await sim.registerJob(serviceJob("after"), { nodes: { web: [here] } });
    await waitFor("the allocation placed after the rotation", () => watch.view.live().length === 2, 15_000);
    expect(watch.messages.some((line) => /^Nomad refused the action token/.test(line))).toBe(true);
  });

  it("keeps its view while Nomad cannot be reached, says so once, and carries on when it is back", async () => {
    const { sim, here } = await cluster();
    await sim.registerJob(serviceJob("dev"), { nodes: { web: [here] } });
    await sim.whenSettled();
    const watch = await startWatch(sim.address, here, sim.managementToken, { ...TIMING, waitMs: 500 });
    cleanup.push(watch.stop);
    await waitFor("the first list", () => watch.view.live().length === 1);
    sim.faults.serverOutage();
    await waitFor("a few failed requests", async () => {
      const text = await watch.metrics.registry.metrics();
      return /nomad_idle_monitor_allocation_watch_failures_total (\d+)/.exec(text)?.[1] !== "0" && text;
    });
    await sleep(500);
    expect(watch.view.live().length).toBe(1);
    sim.faults.clear();
    await sim.registerJob(serviceJob("back"), { nodes: { web: [here] } });
    await waitFor("the allocation placed after the outage", () => watch.view.live().length === 2, 15_000);
    const said = watch.messages.filter((line) =>
      /^cannot reach Nomad to watch the node's allocations/.test(line),
    );
    expect(said).toHaveLength(1);
    expect(watch.messages).toContain("reaching Nomad again; watching the node's allocations");
  });
});

describe("the allocation watch on a connection that never answers", () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("gives the blocking query up after its wait, Nomad's jitter and a margin, and asks again", async () => {
    let held = 0;
    server = createServer((request, response) => {
      const url = new URL(request.url ?? "/", "http://x");
      if (url.pathname !== "/v1/node/n1/allocations") return response.writeHead(404).end("not found");
      // The first list is answered; the blocking queries are held, as by a half-open link.
      if (url.searchParams.has("index")) held += 1;
      else response.writeHead(200, { "Content-Type": "application/json", "X-Nomad-Index": "5" }).end("[]");
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A 1 s wait: given up after 1 s + 63 ms of jitter + 1 s of margin.
    const watch = await startWatch(address, "n1", undefined, {
      waitMs: 1_000,
      reconnect: { initialMs: 50, maxMs: 50 },
    });
    try {
      await waitFor("the held query to be given up and another held", () => held >= 2, 15_000);
      expect(watch.view.seeded).toBe(true);
      expect(
        watch.messages.some((line) => /^cannot reach Nomad to watch the node's allocations/.test(line)),
      ).toBe(true);
    } finally {
      await watch.stop();
    }
  });
});

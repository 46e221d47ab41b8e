import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import {
  actionCalls,
  expectNoSecretsInLogs,
  jobStopped,
  messages,
  scenario,
  serviceJob,
  sleep,
  waitFor,
} from "./monitor/harness.js";
import { SocketProxy } from "./monitor/socket-proxy.js";
import { NOMAD_VERSIONS } from "./sim/index.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

describe.skipIf(!world)("failures the monitor rides out", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("after the allocation watch's connection is cut, still tracks an allocation placed during the outage", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("before", { meta: null }));
    await sim.whenSettled();
    current.startMonitor();
    await waitFor("the watch to wait on the node's allocations", () =>
      sim.calls.some((call) => call.path.endsWith("/allocations") && call.query.has("index")),
    );

    sim.faults.failRequests({ status: 500, body: "No cluster leader", forMs: 3_000 });
    sim.faults.cutWatches();
    await sim.registerJob(serviceJob("placed-during-outage"));
    await sim.whenSettled();

    await waitFor(
      "the job placed during the outage to be stopped",
      () => jobStopped(sim, "placed-during-outage"),
      40_000,
    );
    expect(messages(logs, /^cannot reach Nomad to watch the node's allocations: /)).toHaveLength(1);
    expect(
      messages(logs, /^reaching Nomad again; watching the node's allocations$/).length,
    ).toBeGreaterThanOrEqual(1);
  });

  // The monitor learns of the revocation from its next refused request (the allocation watch's next
  // answer at the latest), on either version.
  it.each(NOMAD_VERSIONS)(
    "follows a token rotated in the Variable when the old one is revoked (Nomad %s)",
    async (version) => {
      const current = await scenario(world!, { version });
      const { sim, logs } = current;
      await sim.registerJob(serviceJob("placeholder", { meta: null }));
      await sim.whenSettled();
      current.startMonitor();
      await waitFor("the watch to wait on the node's allocations", () =>
        sim.calls.some((call) => call.path.endsWith("/allocations") && call.query.has("index")),
      );

      const rotated = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
      sim.putVariable("default", "nomad/jobs/idle-monitor", { token: rotated });
      sim.revokeToken(current.actionToken);
      await sim.registerJob(serviceJob("after-rotation"));
      await sim.whenSettled();

      await waitFor(
        "the job to be stopped with the new token",
        () => jobStopped(sim, "after-rotation"),
        40_000,
      );
      expect(actionCalls(sim).map((call) => [call.path, call.status])).toEqual([
        ["/v1/job/after-rotation", 200],
      ]);
      expect(
        messages(logs, /^Nomad refused the action token \(.*HTTP 403 Permission denied\); reloading it$/)
          .length,
      ).toBeGreaterThanOrEqual(1);
      expect(logs.filter((line) => JSON.stringify(line).includes(rotated))).toEqual([]);
    },
  );

  it("treats allocations as unknown while the Docker Engine is unreachable, and carries on when it is back", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    const proxy = new SocketProxy();
    await proxy.open();
    onTestFinished(() => proxy.cut());
    await sim.registerJob(serviceJob("dev"));
    await sim.whenSettled();
    current.startMonitor({ DOCKER_HOST: proxy.dockerHost, IDLE_TIMEOUT: "4s" });
    await waitFor("sampling to begin", () => messages(logs, /^watching job dev group web/).length > 0);
    await proxy.cut();
    // Longer than the timeout: had unknown counted as idle, the job would be stopped now.
    await sleep(6_000);
    expect(jobStopped(sim, "dev")).toBe(false);
    expect(messages(logs, /^cannot reach the Docker Engine: /)).toHaveLength(1);

    await proxy.open();
    onTestFinished(() => proxy.cut());
    await waitFor("the job to be stopped after Docker is back", () => jobStopped(sim, "dev"), 40_000);
    expect(messages(logs, /^the Docker Engine answers again/)).toHaveLength(1);
  });

  it("talks to Nomad over a unix socket, as through the task API, and learns its node from its own allocation", async () => {
    const current = await scenario(world!);
    const { sim, localNode } = current;
    const { port } = new URL(sim.address);
    const taskApi = new SocketProxy({ host: "127.0.0.1", port: Number(port) });
    await taskApi.open();
    onTestFinished(() => taskApi.cut());
    const monitorJob = await sim.registerJob(serviceJob("idle-monitor", { meta: null, type: "system" }), {
      nodes: { web: [localNode] },
    });
    await sim.registerJob(serviceJob("dev"));
    await sim.whenSettled();
    current.startMonitor({
      NOMAD_ADDR: `unix://${taskApi.path}`,
      NOMAD_NODE_ID: "",
      NOMAD_ALLOC_ID: monitorJob.allocIds[0] ?? "",
    });
    await waitFor("the idle job to be stopped", () => jobStopped(sim, "dev"), 40_000);
    expect(sim.calls.some((call) => call.path === `/v1/allocation/${monitorJob.allocIds[0]}`)).toBe(true);
    expect(messages(current.logs, new RegExp(`^watching node ${localNode}`))).toHaveLength(1);
  });
});

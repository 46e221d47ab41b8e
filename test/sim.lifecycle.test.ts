import { afterEach, describe, expect, it } from "vitest";
import { allocationOf, jobOf, jobSpec } from "./sim/fixtures.js";
import { StreamProbe, send } from "./sim/http-probe.js";
import {
  type AllocationContainers,
  type NomadEvent as Event,
  type NomadAllocation,
  NomadSimulator,
  RecordingRuntime,
} from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

const open: Array<{ close(): unknown }> = [];

afterEach(async () => {
  for (const each of open.splice(0).reverse()) await each.close();
});

/** The cluster's clock stands still unless a test moves it: allocations turn healthy only when it does. */
async function startSim() {
  const clock = new FakeClock();
  const sim = await NomadSimulator.start({ clock });
  open.push(sim);
  const runtime = new RecordingRuntime();
  const nodeId = sim.addNode("node-1", runtime);
  return { sim, runtime, nodeId, clock };
}

/** A stream from now on: after the last batch that touched the node's allocations. */
async function watch(sim: NomadSimulator, nodeId: string): Promise<StreamProbe> {
  const list = await send(sim.address, "GET", `/v1/node/${nodeId}/allocations`, {
    token: sim.managementToken,
  });
  const index = Number(list.headers["x-nomad-index"]) + 1;
  const stream = await StreamProbe.open(
    sim.address,
    `/v1/event/stream?topic=Allocation&topic=Job&index=${index}`,
    {
      token: sim.managementToken,
    },
  );
  open.push(stream);
  return stream;
}

/** Events until one satisfies `done`, as "Topic/Type" plus the event. */
async function eventsUntil(stream: StreamProbe, done: (event: Event) => boolean): Promise<Event[]> {
  const events: Event[] = [];
  for (;;) {
    for (const event of (await stream.nextBatch<{ Events: Event[] }>()).Events) {
      events.push(event);
      if (done(event)) return events;
    }
  }
}

const summary = (event: Event) => {
  const alloc = allocationOf(event);
  if (alloc) {
    const tasks = Object.values(alloc.TaskStates ?? {});
    const lastTaskEvent = tasks[0]?.Events.at(-1)?.Type;
    const health = alloc.DeploymentStatus?.Healthy ? " healthy" : "";
    return `${event.Type} ${alloc.Name} ${alloc.DesiredStatus}/${alloc.ClientStatus}${health} (${lastTaskEvent ?? "no task"})`;
  }
  const job = jobOf(event);
  return `${event.Type} ${event.Key} v${job?.Version} ${job?.Status}${job?.Stop ? " stopped" : ""}${job?.Stable ? " stable" : ""}`;
};
const completes = (name: string) => (event: Event) =>
  allocationOf(event)?.Name === name && allocationOf(event)?.ClientStatus === "complete";

describe("stopping a job", () => {
  it("deregisters (new version), plans the stops, removes the containers, then reports complete", async () => {
    const { sim, runtime, nodeId } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web"));
    const stream = await watch(sim, nodeId);

    await send(sim.address, "DELETE", "/v1/job/web", { token: sim.managementToken });
    const events = await eventsUntil(stream, completes("web.web[0]"));

    // As recorded (event-stream.ndjson): the job and its plan, the evaluation done (dead), then the
    // client telling the task to stop and reporting it complete.
    expect(events.map(summary)).toEqual([
      "JobDeregistered web v1 running stopped",
      "PlanResult web.web[0] stop/running (Started)",
      "PlanResult web v1 pending stopped",
      "EvaluationUpdated web v1 dead stopped",
      "AllocationUpdated web.web[0] stop/running (Killing)",
      "AllocationUpdated web.web[0] stop/complete (Killed)",
    ]);
    expect(runtime.stopped).toEqual(allocIds);
    expect(events.at(-1)?.Payload).toMatchObject({
      Allocation: { TaskStates: { server: { State: "dead", Failed: false } } },
    });
    expect(sim.job("default", "web")?.Status).toBe("dead");
  });
});

describe("scaling a group", () => {
  it("to zero registers a new version, then stops that group's allocations", async () => {
    const { sim, runtime, nodeId, clock } = await startSim();
    await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 2 }, { Name: "db" }] }));
    await clock.advance(10_000); // the default MinHealthyTime: the deployment is done
    const stream = await watch(sim, nodeId);

    await send(sim.address, "POST", "/v1/job/web/scale", {
      token: sim.managementToken,
      body: { Count: 0, Target: { Group: "web" }, Message: "idle" },
    });
    const events = await eventsUntil(stream, completes("web.web[1]"));

    // The first version's deployment completed after the node's list was read: the job turned stable.
    // The group left running moves to the new version in place.
    expect(events.map(summary)).toEqual([
      "PlanResult web v0 running stable",
      "JobRegistered web v1 running stable",
      "PlanResult web.web[0] stop/running healthy (Started)",
      "PlanResult web.web[1] stop/running healthy (Started)",
      "PlanResult web.db[0] run/running (Started)",
      "AllocationUpdated web.web[0] stop/running healthy (Killing)",
      "AllocationUpdated web.web[1] stop/running healthy (Killing)",
      "AllocationUpdated web.web[0] stop/complete healthy (Killed)",
      "AllocationUpdated web.web[1] stop/complete healthy (Killed)",
    ]);
    expect(runtime.running.size).toBe(1);
  });
});

describe("updating a job", () => {
  it("registers a new version and moves the allocations to it in place, containers untouched", async () => {
    const { sim, runtime, nodeId } = await startSim();
    const first = await sim.registerJob(jobSpec("web"));
    const stream = await watch(sim, nodeId);

    const second = await sim.registerJob(jobSpec("web", { meta: { "idle-monitor.enabled": "true" } }));
    const events = await eventsUntil(stream, (event) => event.Type === "PlanResult");

    expect(events.map(summary)).toEqual([
      "JobRegistered web v1 running",
      "PlanResult web.web[0] run/running (Started)",
    ]);
    expect(second.allocIds).toEqual(first.allocIds);
    expect(runtime.started).toHaveLength(1);
    const listed = await send(sim.address, "GET", `/v1/node/${nodeId}/allocations`, {
      token: sim.managementToken,
    });
    expect(JSON.parse(listed.body)[0].Job).toMatchObject({
      Version: 1,
      Meta: { "idle-monitor.enabled": "true" },
    });
  });
});

describe("client status", () => {
  it("a failed allocation is reported with dead, failed tasks and its containers gone", async () => {
    const { sim, runtime, nodeId } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web"));
    const allocId = allocIds[0] ?? "";
    const stream = await watch(sim, nodeId);

    await sim.setClientStatus(allocId, "failed");
    const [event] = await eventsUntil(stream, () => true);

    expect(event?.Type).toBe("AllocationUpdated");
    expect(event?.Payload).toMatchObject({
      Allocation: {
        DesiredStatus: "run",
        ClientStatus: "failed",
        TaskStates: { server: { State: "dead", Failed: true } },
      },
    });
    expect(runtime.running.has(allocId)).toBe(false);
  });

  it("a runtime that cannot start the containers fails the allocation", async () => {
    const { sim, runtime } = await startSim();
    runtime.failNextStart(new Error("no such image"));

    const { allocIds } = await sim.registerJob(jobSpec("web"));

    expect(allocIds).toEqual([]);
    expect(sim.allocations({ jobId: "web" })[0]?.ClientStatus).toBe("failed");
    expect(sim.runtimeFailures).toMatchObject([{ action: "start", error: new Error("no such image") }]);
  });

  it("stopping one allocation leaves the others running", async () => {
    const { sim, runtime } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 2 }] }));

    await sim.stopAllocation(allocIds[0] ?? "");

    expect(
      sim.allocations({ jobId: "web" }).map((alloc) => [alloc.ID, alloc.DesiredStatus, alloc.ClientStatus]),
    ).toEqual([
      [allocIds[0], "stop", "complete"],
      [allocIds[1], "run", "running"],
    ]);
    expect([...runtime.running]).toEqual([allocIds[1]]);
  });
});

describe("garbage collection", () => {
  it("silently drops terminal allocations from the lists", async () => {
    const { sim, nodeId } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 2 }] }));
    await sim.setClientStatus(allocIds[0] ?? "", "complete");
    const stream = await watch(sim, nodeId);

    const removed = sim.garbageCollect();
    await sim.registerJob(jobSpec("marker"));
    const [firstEventAfterGc] = await eventsUntil(stream, () => true);

    expect(removed).toEqual([allocIds[0]]);
    expect(firstEventAfterGc).toMatchObject({ Type: "JobRegistered", Key: "marker" });
    const listed = await send(sim.address, "GET", `/v1/node/${nodeId}/allocations`, {
      token: sim.managementToken,
    });
    expect((JSON.parse(listed.body) as NomadAllocation[]).map((alloc) => alloc.ID)).not.toContain(
      allocIds[0],
    );
    expect(() => sim.garbageCollect([allocIds[1] ?? ""])).toThrow(/not terminal/);
  });
});

describe("placement", () => {
  it("spreads a group over the nodes, or over the nodes given for it", async () => {
    const { sim, nodeId } = await startSim();
    const second = sim.addNode("node-2", new RecordingRuntime());
    const third = sim.addNode("node-3");

    await sim.registerJob(jobSpec("spread", { groups: [{ Name: "web", Count: 3 }] }));
    await sim.registerJob(jobSpec("pinned", { groups: [{ Name: "web", Count: 2 }] }), {
      nodes: { web: [third] },
    });

    const nodesOf = (jobId: string) => sim.allocations({ jobId }).map((alloc) => alloc.NodeID);
    expect(nodesOf("spread")).toEqual([nodeId, second, third]);
    expect(nodesOf("pinned")).toEqual([third, third]);
  });

  it("runs allocations on a node without runtime without containers, straight to running", async () => {
    const { sim, runtime } = await startSim();
    const other = sim.addNode("other");

    const { allocIds } = await sim.registerJob(jobSpec("web"), { nodes: { web: [other] } });

    expect(sim.allocations({ jobId: "web" }).map((alloc) => alloc.ClientStatus)).toEqual(["running"]);
    expect(allocIds).toHaveLength(1);
    expect(runtime.started).toEqual([]);
  });

  it("places a system job once on every node", async () => {
    const { sim } = await startSim();
    sim.addNode("node-2");

    const { allocIds } = await sim.registerJob(jobSpec("monitor", { type: "system" }));

    expect(allocIds).toHaveLength(2);
    expect(new Set(sim.allocations({ jobId: "monitor" }).map((alloc) => alloc.NodeID)).size).toBe(2);
  });

  it.each<{ name: string; group: Record<string, unknown>; expected: AllocationContainers }>([
    {
      name: "host networking by default",
      group: {},
      expected: { allocId: "", tasks: ["server"], networkMode: "host" },
    },
    {
      name: "a bridge-mode group",
      group: { Networks: [{ Mode: "bridge" }] },
      expected: { allocId: "", tasks: ["server"], networkMode: "bridge" },
    },
    {
      name: "only the docker tasks, and a task with host networking",
      group: {
        Tasks: [
          { Name: "server", Driver: "docker", Config: { network_mode: "host" } },
          { Name: "helper", Driver: "exec", Config: { command: "sleep" } },
        ],
      },
      expected: { allocId: "", tasks: ["server"], networkMode: "host", taskNetworkMode: "host" },
    },
  ])("asks the node runtime for $name", async ({ group, expected }) => {
    const { sim, runtime } = await startSim();

    const { allocIds } = await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", ...group }] }));

    expect(runtime.started).toEqual([{ ...expected, allocId: allocIds[0] }]);
  });
});

describe("job status", () => {
  it("goes pending → running → dead", async () => {
    const { sim, nodeId } = await startSim();
    const stream = await watch(sim, nodeId);

    await sim.registerJob(jobSpec("web"));
    const [registered] = await eventsUntil(stream, () => true);
    await sim.stopJob("default", "web");

    expect(registered && jobOf(registered)?.Status).toBe("pending");
    expect(sim.job("default", "web")?.Status).toBe("dead");
  });
});

describe("deployments", () => {
  const scale = (sim: NomadSimulator, count: number) =>
    send(sim.address, "POST", "/v1/job/web/scale", {
      token: sim.managementToken,
      body: { Count: count, Target: { Group: "web" }, Message: "test" },
    }).then((answer) => [answer.status, answer.status === 200 ? "" : answer.body]);
  const BLOCKED = [400, "job scaling blocked due to active deployment"];

  it("a service job's is active until its allocations have run for MinHealthyTime on the cluster's clock; then the job is stable", async () => {
    const { sim, clock } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web"));
    const startedAt = sim.allocations({ jobId: "web" })[0]?.TaskStates?.server?.StartedAt;

    expect(await scale(sim, 0)).toEqual(BLOCKED);
    await clock.advance(9_999);
    expect(await scale(sim, 0)).toEqual(BLOCKED);
    expect(sim.job("default", "web")?.Stable).toBe(false);

    await clock.advance(1);
    // allocation-*.http: healthy exactly MinHealthyTime (10 s by default) after the task started.
    const [alloc] = sim.allocations({ jobId: "web" });
    expect(alloc?.ID).toBe(allocIds[0]);
    expect(alloc?.DeploymentStatus).toMatchObject({
      Healthy: true,
      Timestamp: new Date(Date.parse(startedAt ?? "") + 10_000).toISOString(),
    });
    expect(sim.job("default", "web")?.Stable).toBe(true);
    expect(await scale(sim, 0)).toEqual([200, ""]);
  });

  it("takes the MinHealthyTime of the group's update block", async () => {
    const { sim, clock } = await startSim();
    await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Update: { MinHealthyTime: 2e9 } }] }));

    await clock.advance(1_999);
    expect(await scale(sim, 0)).toEqual(BLOCKED);
    await clock.advance(1);
    expect(await scale(sim, 0)).toEqual([200, ""]);
  });

  it("is made again when a group scaled to zero is scaled up, and only then", async () => {
    const { sim, clock } = await startSim();
    await sim.registerJob(jobSpec("web"));
    await clock.advance(10_000);

    expect(await scale(sim, 0)).toEqual([200, ""]);
    await sim.whenSettled();
    expect(await scale(sim, 0), "nothing to deploy at count 0").toEqual([200, ""]);
    expect(await scale(sim, 1)).toEqual([200, ""]);
    await sim.whenSettled();
    expect(await scale(sim, 0)).toEqual(BLOCKED);
    await clock.advance(10_000);
    expect(await scale(sim, 0)).toEqual([200, ""]);
  });

  it("ends when one of its allocations fails, and never holds a stop back", async () => {
    const { sim } = await startSim();
    const failing = await sim.registerJob(jobSpec("web"));
    await sim.setClientStatus(failing.allocIds[0] ?? "", "failed");
    expect(await scale(sim, 0)).toEqual([200, ""]);

    const { sim: other } = await startSim();
    await other.registerJob(jobSpec("web"));
    await send(other.address, "DELETE", "/v1/job/web", { token: other.managementToken });
    await other.whenSettled();
    expect(other.allocations({ jobId: "web" }).map((alloc) => alloc.ClientStatus)).toEqual(["complete"]);
  });

  it("is never made for a batch job: its allocations have no deployment", async () => {
    const { sim } = await startSim();
    await sim.registerJob(jobSpec("web", { type: "batch" }));

    expect(sim.allocations({ jobId: "web" })[0]).toMatchObject({ DeploymentID: "", DeploymentStatus: null });
    expect(await scale(sim, 0)).toEqual([200, ""]);
  });

  it("a job's status never changes without an event: a failed allocation's job turns dead in the same batch", async () => {
    const { sim, nodeId } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web"));
    const stream = await watch(sim, nodeId);

    await sim.setClientStatus(allocIds[0] ?? "", "failed");
    const batch = await stream.nextBatch<{ Events: Event[] }>();

    expect(batch.Events.map(summary)).toEqual([
      "AllocationUpdated web.web[0] run/failed (Driver Failure)",
      "AllocationUpdated web v0 dead",
    ]);
    expect(sim.job("default", "web")?.Status).toBe("dead");
  });
});

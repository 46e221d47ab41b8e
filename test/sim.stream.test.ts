import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { createGunzip } from "node:zlib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { OpenApiContract } from "./sim/contract.js";
import { allocationOf, jobOf, jobSpec } from "./sim/fixtures.js";
import { StreamProbe, send } from "./sim/http-probe.js";
import {
  type AclPolicy,
  type EventBatch as Batch,
  NomadSimulator,
  RecordingRuntime,
  type SimulatorOptions,
} from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

let contract: OpenApiContract;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  contract = await OpenApiContract.load();
});

afterEach(async () => {
  for (const each of open.splice(0).reverse()) await each.close();
});

// The cluster's clock stands still unless a test moves it: no allocation turns healthy by itself
// (its group's MinHealthyTime never passes), so each test sees only the events it causes.
async function startSim(options: SimulatorOptions = {}): Promise<{ sim: NomadSimulator; nodeId: string }> {
  const sim = await NomadSimulator.start({ heartbeatIntervalMs: 60_000, clock: new FakeClock(), ...options });
  open.push(sim);
  return { sim, nodeId: sim.addNode("node-1", new RecordingRuntime()) };
}

async function subscribe(
  sim: NomadSimulator,
  query: string,
  token = sim.managementToken,
): Promise<StreamProbe> {
  const stream = await StreamProbe.open(sim.address, `/v1/event/stream?${query}`, { token });
  open.push(stream);
  return stream;
}

/** Batches until one satisfies `done`, checking every line against the OpenAPI schema. */
async function batchesUntil(stream: StreamProbe, done: (batch: Batch) => boolean): Promise<Batch[]> {
  const batches: Batch[] = [];
  for (;;) {
    const line = await stream.nextLine();
    expect(contract.lineProblems("streamEvents", line)).toEqual([]);
    if (line === "{}") continue;
    const batch = JSON.parse(line) as Batch;
    batches.push(batch);
    if (done(batch)) return batches;
  }
}

/**
 * The batches replayed from the buffer: the server writes them right after the first heartbeat,
 * before its heartbeat timer can fire, so they are what comes between the first two heartbeats.
 */
async function replay(stream: StreamProbe): Promise<Batch[]> {
  expect(await stream.nextLine()).toBe("{}");
  const batches: Batch[] = [];
  for (let line = await stream.nextLine(); line !== "{}"; line = await stream.nextLine()) {
    batches.push(JSON.parse(line) as Batch);
  }
  return batches;
}

const eventsOf = (batches: Batch[]) => batches.flatMap((batch) => batch.Events);
const hasRunning = (batch: Batch) =>
  batch.Events.some((event) => allocationOf(event)?.ClientStatus === "running");

describe("framing", () => {
  it("answers 200 NDJSON with a heartbeat right away and then every interval", async () => {
    const { sim } = await startSim({ heartbeatIntervalMs: 20 });

    const stream = await subscribe(sim, "topic=Allocation");

    expect(stream.status).toBe(200);
    expect(stream.headers["content-type"]).toBe("application/json");
    expect(stream.headers["cache-control"]).toBe("no-cache");
    expect([await stream.nextLine(), await stream.nextLine(), await stream.nextLine()]).toEqual([
      "{}",
      "{}",
      "{}",
    ]);
  });

  it("with pendingTaskReports, reports the tasks received (pending, StartedAt null) before they run", async () => {
    const { sim } = await startSim({ pendingTaskReports: true });
    const stream = await subscribe(sim, "topic=Allocation");

    await sim.registerJob(jobSpec("web"));
    // Not batchesUntil: the OpenAPI document still types StartedAt a string (test/contract.fixtures.test.ts).
    const batches: Batch[] = [];
    while (!batches.some(hasRunning)) {
      const line = await stream.nextLine();
      if (line !== "{}") batches.push(JSON.parse(line) as Batch);
    }

    const allocations = eventsOf(batches).flatMap((event) => allocationOf(event) ?? []);
    expect(allocations.map((alloc) => alloc.ClientStatus)).toEqual(["pending", "pending", "running"]);
    const [placed, received, running] = allocations;
    expect(placed).not.toHaveProperty("TaskStates");
    expect(received?.TaskStates?.server).toMatchObject({
      State: "pending",
      StartedAt: null,
      FinishedAt: null,
    });
    expect(received?.TaskStates?.server?.Events.map((event) => event.Type)).toEqual([
      "Received",
      "Task Setup",
    ]);
    expect(running?.TaskStates?.server?.StartedAt).toEqual(expect.any(String));
  });

  it("sends one line per raft index: the job registration, the placement (the job running), then the client's update", async () => {
    const { sim, nodeId } = await startSim();
    const stream = await subscribe(sim, "topic=Allocation&topic=Job");

    const { allocIds } = await sim.registerJob(jobSpec("web", { meta: { owner: "team" } }));
    const batches = await batchesUntil(stream, hasRunning);

    expect(batches.map((batch) => batch.Events.map((event) => `${event.Topic}/${event.Type}`))).toEqual([
      ["Job/JobRegistered"],
      ["Allocation/PlanResult", "Job/PlanResult"],
      ["Allocation/AllocationUpdated"],
    ]);
    expect(batches.every((batch) => batch.Events.every((event) => event.Index === batch.Index))).toBe(true);
    const [registered, placed, planned, running] = eventsOf(batches);
    expect([registered, planned].map((event) => event && jobOf(event)?.Status)).toEqual([
      "pending",
      "running",
    ]);
    expect(registered).toMatchObject({
      Key: "web",
      Namespace: "default",
      Payload: { Job: { Meta: { owner: "team" } } },
    });
    const deploymentId = placed && allocationOf(placed)?.DeploymentID;
    expect(placed).toMatchObject({
      Key: allocIds[0],
      FilterKeys: ["web", deploymentId],
      Payload: { Allocation: { NodeID: nodeId, ClientStatus: "pending", DesiredStatus: "run" } },
    });
    expect(running?.Payload).toMatchObject({ Allocation: { ClientStatus: "running" } });
    // Nomad 1.6.5 leaves the job out of allocation events (event-stream.ndjson), not even `Job: null`,
    // and a new placement has no TaskStates yet.
    for (const event of [placed, running]) expect(event && allocationOf(event)).not.toHaveProperty("Job");
    expect(placed && allocationOf(placed)).not.toHaveProperty("TaskStates");
    const modifyIndex = (event: typeof placed) => (event && allocationOf(event)?.ModifyIndex) ?? 0;
    expect(modifyIndex(running)).toBeGreaterThan(modifyIndex(placed));
  });

  it("sends every node's allocation events to every subscriber", async () => {
    const { sim } = await startSim();
    const otherNode = sim.addNode("node-2");
    const stream = await subscribe(sim, "topic=Allocation");

    await sim.registerJob(jobSpec("elsewhere"), { nodes: { web: [otherNode] } });
    const batches = await batchesUntil(stream, hasRunning);

    expect(eventsOf(batches).map((event) => allocationOf(event)?.NodeID)).toEqual([otherNode, otherNode]);
  });
});

describe("resume", () => {
  async function withHistory(options: SimulatorOptions = {}) {
    const { sim } = await startSim(options);
    const listen = await subscribe(sim, "topic=Allocation&topic=Job");
    for (const id of ["one", "two", "three"]) await sim.registerJob(jobSpec(id));
    const history = await batchesUntil(listen, (batch) =>
      batch.Events.some(
        (event) => event.Type === "AllocationUpdated" && allocationOf(event)?.JobID === "three",
      ),
    );
    return { sim, history };
  }

  it("starts at the batch whose index is asked (inclusive)", async () => {
    const { sim, history } = await withHistory();
    const middle = history[4] as Batch;

    const stream = await subscribe(sim, `topic=Allocation&topic=Job&index=${middle.Index}`);

    expect(await stream.nextLine()).toBe("{}");
    expect((await stream.nextBatch()).Index).toBe(middle.Index);
  });

  it("starts at the next batch when no batch has the asked index", async () => {
    const { sim } = await startSim();
    await sim.registerJob(jobSpec("one"));
    const variableWrite = sim.putVariable("default", "nomad/jobs/one", { token: "x" }); // an index without events
    await sim.registerJob(jobSpec("two"));

    const stream = await subscribe(sim, `topic=Allocation&topic=Job&index=${variableWrite}`);

    const first = await stream.nextBatch();
    expect(first.Index).toBe(variableWrite + 1);
    expect(first.Events[0]).toMatchObject({ Type: "JobRegistered", Key: "two" });
  });

  it.each([
    { name: "an index older than the buffer", index: "index=1" },
    { name: "index 0", index: "index=0" },
    { name: "no index", index: "" },
  ])("silently starts at the oldest buffered batch for $name", async ({ index }) => {
    const { sim, history } = await withHistory({ eventBufferSize: 3 });

    const stream = await subscribe(sim, `topic=Allocation&topic=Job&${index}`);

    const replayed = await batchesUntil(stream, (batch) => batch.Index === history.at(-1)?.Index);
    expect(replayed.map((batch) => batch.Index)).toEqual(history.slice(-3).map((batch) => batch.Index));
  });

  it("waits when the index is newer than the last batch", async () => {
    const { sim, history } = await withHistory();
    const future = (history.at(-1)?.Index ?? 0) + 2;
    const stream = await subscribe(sim, `topic=Allocation&topic=Job&index=${future}`);

    expect(await stream.linesWithin(100)).toEqual(["{}"]);
    await sim.registerJob(jobSpec("four"));

    expect((await stream.nextBatch()).Index).toBeGreaterThanOrEqual(future);
  });
});

describe("filters", () => {
  it.each([
    {
      name: "Job:<id> keeps that job's events",
      topics: "topic=Job:web",
      expected: ["Job/JobRegistered web", "Job/PlanResult web"],
    },
    {
      name: "Allocation:<job id> matches the FilterKeys",
      topics: "topic=Allocation:web",
      expected: ["Allocation/PlanResult web", "Allocation/AllocationUpdated web"],
    },
    {
      name: "a topic without a key means every key",
      topics: "topic=Job",
      expected: [
        "Job/JobRegistered web",
        "Job/PlanResult web",
        "Job/JobRegistered api",
        "Job/PlanResult api",
      ],
    },
    {
      name: "repeated topics add up",
      topics: "topic=Job:api&topic=Allocation:web",
      expected: [
        "Allocation/PlanResult web",
        "Allocation/AllocationUpdated web",
        "Job/JobRegistered api",
        "Job/PlanResult api",
      ],
    },
  ])("$name", async ({ topics, expected }) => {
    const { sim } = await startSim({ heartbeatIntervalMs: 20 });
    await sim.registerJob(jobSpec("web"));
    await sim.registerJob(jobSpec("api"));

    const stream = await subscribe(sim, `${topics}&index=1`);
    const received = eventsOf(await replay(stream)).map(
      (event) => `${event.Topic}/${event.Type} ${jobOf(event)?.ID ?? allocationOf(event)?.JobID}`,
    );

    expect(received).toEqual(expected);
  });

  it("Allocation:<alloc id> matches the event key", async () => {
    const { sim } = await startSim();
    const { allocIds } = await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 2 }] }));

    const stream = await subscribe(sim, `topic=Allocation:${allocIds[1]}&index=1`);
    const batches = await batchesUntil(stream, hasRunning);

    expect(eventsOf(batches).map((event) => event.Key)).toEqual([allocIds[1], allocIds[1]]);
  });

  it.each([
    { namespace: "", expected: ["default", "default"] },
    { namespace: "&namespace=team-a", expected: ["team-a", "team-a"] },
    { namespace: "&namespace=*", expected: ["default", "default", "team-a", "team-a"] },
  ])("namespace filter '$namespace' sees the job events of $expected", async ({ namespace, expected }) => {
    const { sim } = await startSim({ heartbeatIntervalMs: 20 });
    await sim.registerJob(jobSpec("web"));
    await sim.registerJob(jobSpec("api", { namespace: "team-a" }));

    const stream = await subscribe(sim, `topic=Job&index=1${namespace}`);
    const namespaces = eventsOf(await replay(stream)).map((event) => event.Namespace);

    expect(namespaces).toEqual(expected);
  });
});

describe("refusals", () => {
  it.each<{ name: string; policy: AclPolicy; query: string }>([
    {
      name: "a token without read-job on * asking for namespace *",
      policy: { namespaces: { default: ["read-job"] } },
      query: "topic=Allocation&namespace=*",
    },
    {
      name: "no topic at all without a management token",
      policy: { namespaces: { "*": ["read-job"] } },
      query: "namespace=*",
    },
    { name: "a token without read-job", policy: { nodeRead: true }, query: "topic=Job" },
  ])("answers 500 Permission denied for $name", async ({ policy, query }) => {
    const { sim } = await startSim();

    const response = await send(sim.address, "GET", `/v1/event/stream?${query}`, {
      token: sim.createToken(policy),
    });

    expect([response.status, response.body]).toEqual([500, "Permission denied"]);
    expect(contract.problems("streamEvents", response)).toEqual([]);
  });

  it("answers 500 Permission denied for an unknown token, as for a token without the capability", async () => {
    const { sim } = await startSim();

    const response = await send(sim.address, "GET", "/v1/event/stream?topic=Job", {
      token: "0ddba11-0000-4000-8000-000000000000",
    });

    expect([response.status, response.body]).toEqual([500, "Permission denied"]);
    expect(response.headers["content-type"]).toBe("application/json");
  });

  it.each([
    {
      query: "topic=Job&index=soon",
      body: 'Unable to parse index: strconv.Atoi: parsing "soon": invalid syntax',
    },
    {
      query: "topic=Job:a:b",
      body: "Invalid topic query: error parsing topics: Invalid key value pair for topic, topic: Job:a:b",
    },
  ])("answers 400 for $query", async ({ query, body }) => {
    const { sim } = await startSim();

    const response = await send(sim.address, "GET", `/v1/event/stream?${query}`, {
      token: sim.managementToken,
    });

    expect([response.status, response.body]).toEqual([400, body]);
  });
});

describe("when the token goes away", () => {
  it.each([
    { change: "revoked", lastLine: "subscription closed by server, client should resubscribe" },
    { change: "expired", lastLine: "ACL token expired" },
  ])(
    "a $change token's streams end with the plain-text line '$lastLine'; others go on",
    async ({ change, lastLine }) => {
      const { sim } = await startSim();
      const policy: AclPolicy = { namespaces: { "*": ["read-job"] } };
      const doomed = sim.createToken(policy);
      const stream = await subscribe(sim, "topic=Allocation&namespace=*", doomed);
      const bystander = await subscribe(sim, "topic=Allocation&namespace=*", sim.createToken(policy));
      await stream.nextLine();

      if (change === "revoked") sim.revokeToken(doomed);
      else sim.expireToken(doomed);
      await sim.registerJob(jobSpec("web"));

      expect(await stream.ended()).toEqual({ trailing: lastLine });
      expect((await bystander.nextBatch()).Events[0]?.Type).toBe("PlanResult");
    },
  );
});

describe("on Nomad 2.0.5, where the recordings differ (test/fixtures/nomad-2.0.5/README.md)", () => {
  it.each<{ name: string; token: (sim: NomadSimulator) => string }>([
    { name: "a token without read-job", token: (sim) => sim.createToken({ nodeRead: true }) },
    { name: "an unknown token", token: () => "0ddba11-0000-4000-8000-000000000000" },
  ])(
    "answers a subscription with $name 200 with the stream's headers, then nothing, not even a heartbeat",
    async ({ token }) => {
      const { sim } = await startSim({ version: "2.0.5", heartbeatIntervalMs: 20 });

      const stream = await subscribe(sim, "topic=Job", token(sim));
      await sim.registerJob(jobSpec("web"));

      expect([stream.status, stream.headers["content-type"], stream.headers["cache-control"]]).toEqual([
        200,
        "application/json",
        "no-cache",
      ]);
      expect(await stream.linesWithin(150)).toEqual([]);
    },
  );

  it.each(["revoked", "expired"])(
    "leaves a %s token's stream open: heartbeats and events go on",
    async (change) => {
      const { sim } = await startSim({ version: "2.0.5", heartbeatIntervalMs: 20 });
      const doomed = sim.createToken({ namespaces: { "*": ["read-job"] } });
      const stream = await subscribe(sim, "topic=Job&namespace=*", doomed);
      await stream.nextLine();

      if (change === "revoked") sim.revokeToken(doomed);
      else sim.expireToken(doomed);
      await sim.registerJob(jobSpec("web"));

      expect((await stream.nextBatch()).Events[0]?.Type).toBe("JobRegistered");
      expect(await stream.linesWithin(100)).toContain("{}");
    },
  );
});

describe("gzip", () => {
  it("holds everything back, the status line included, until 1400 bytes pile up, as Nomad's gzip handler does", async () => {
    const { sim } = await startSim();
    const request = http.get(new URL("/v1/event/stream?topic=Allocation", sim.address), {
      headers: { "X-Nomad-Token": sim.managementToken, "Accept-Encoding": "gzip" },
    });
    open.push({ close: () => request.destroy() });
    const answered = new Promise<http.IncomingMessage>((resolve) => request.on("response", resolve));
    request.on("error", () => {});

    const early = await Promise.race([answered, sleep(200).then(() => "nothing yet")]);
    await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 3 }] }));
    const response = await answered;

    expect(early).toBe("nothing yet");
    expect(response.headers["content-encoding"]).toBe("gzip");
    const text = await new Promise<string>((resolve) => {
      let received = "";
      response.pipe(createGunzip()).on("data", (chunk: Buffer) => {
        received += chunk.toString("utf8");
        if (received.includes('"AllocationUpdated"')) resolve(received);
      });
    });
    expect(text.startsWith('{}\n{"Index":')).toBe(true);
  });
});

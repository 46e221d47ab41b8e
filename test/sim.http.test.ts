import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OpenApiContract } from "./sim/contract.js";
import { jobSpec } from "./sim/fixtures.js";
import { type ProbeResponse, send } from "./sim/http-probe.js";
import { type NomadAllocation, type NomadJob, NomadSimulator, RecordingRuntime } from "./sim/index.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

let contract: OpenApiContract;
let sim: NomadSimulator;
let runtime: RecordingRuntime;
let nodeId: string;

beforeAll(async () => {
  contract = await OpenApiContract.load();
});

beforeEach(async () => {
  sim = await NomadSimulator.start();
  runtime = new RecordingRuntime();
  nodeId = sim.addNode("node-1", runtime);
});

afterEach(async () => {
  await sim.close();
});

function call(method: string, path: string, body?: unknown): Promise<ProbeResponse> {
  return send(sim.address, method, path, { token: sim.managementToken, body });
}

function json<T = Record<string, unknown>>(response: ProbeResponse): T {
  return JSON.parse(response.body) as T;
}

describe("reads", () => {
  it("lists a node's full allocations, each with its job and meta, and the raft index", async () => {
    await sim.registerJob(jobSpec("web", { meta: { "idle-monitor.enabled": "true" } }));
    const otherNode = sim.addNode("node-2");
    await sim.registerJob(jobSpec("elsewhere"), { nodes: { web: [otherNode] } });

    const response = await call("GET", `/v1/node/${nodeId}/allocations`);

    expect(response.status).toBe(200);
    expect(contract.problems("listNodeAllocations", response)).toEqual([]);
    const allocs = json<NomadAllocation[]>(response);
    expect(allocs.map((alloc) => alloc.JobID)).toEqual(["web"]);
    const [alloc] = allocs;
    expect(alloc?.Job?.Meta).toEqual({ "idle-monitor.enabled": "true" });
    expect(alloc?.Job?.TaskGroups[0]?.Meta).toBeNull();
    expect(alloc?.Name).toBe("web.web[0]");
    expect(alloc?.ClientStatus).toBe("running");
    expect(alloc?.TaskStates?.server?.StartedAt).toMatch(RFC3339);
    // Unset times are null, not Go's zero time (recorded from Nomad 1.6.5).
    expect(alloc?.TaskStates?.server?.FinishedAt).toBeNull();
    expect(alloc?.CreateTime).toBeGreaterThan(1e18);
    expect(Number(response.headers["x-nomad-index"])).toBe(alloc?.ModifyIndex);
  });

  it("answers an empty array with an index for a node without allocations", async () => {
    const response = await call("GET", "/v1/node/4b9a7d1e-0000-0000-0000-000000000000/allocations");

    expect(response.status).toBe(200);
    expect(response.body).toBe("[]");
    expect(response.headers["x-nomad-index"]).toMatch(/^\d+$/);
  });

  it("reads one allocation with the job version it runs", async () => {
    const { allocIds } = await sim.registerJob(jobSpec("web"));

    const response = await call("GET", `/v1/allocation/${allocIds[0]}`);

    expect(response.status).toBe(200);
    expect(contract.problems("getAllocation", response)).toEqual([]);
    expect(json(response)).toMatchObject({ ID: allocIds[0], NodeID: nodeId, Job: { ID: "web", Version: 0 } });
  });

  it("reads a job with Nomad's defaults filled in", async () => {
    await sim.registerJob(jobSpec("api", { namespace: "team-a" }));

    const response = await call("GET", "/v1/job/api?namespace=team-a");

    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/json");
    expect(contract.problems("getJob", response)).toEqual([]);
    const job = json<NomadJob>(response);
    expect(job).toMatchObject({ ID: "api", Name: "api", Namespace: "team-a", Type: "service", Stop: false });
    expect(job).toMatchObject({ Status: "running", Version: 0, Meta: null, Region: "global", Priority: 50 });
    expect(job.TaskGroups[0]).toMatchObject({ Count: 1, Networks: null, Scaling: null });
    expect(Number(response.headers["x-nomad-index"])).toBe(job.ModifyIndex);
  });

  it("lists a job's allocation stubs on every node, without the job", async () => {
    const otherNode = sim.addNode("node-2");
    await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 2 }] }));

    const response = await call("GET", "/v1/job/web/allocations");

    expect(response.status).toBe(200);
    expect(contract.problems("listJobAllocations", response)).toEqual([]);
    const stubs = json<Array<Record<string, unknown>>>(response);
    expect(stubs.map((stub) => stub.NodeID).sort()).toEqual([nodeId, otherNode].sort());
    expect(
      stubs.every((stub) => !("Job" in stub) && stub.JobVersion === 0 && stub.JobType === "service"),
    ).toBe(true);
  });

  it("accepts the token as Authorization: Bearer", async () => {
    await sim.registerJob(jobSpec("web"));

    const response = await send(sim.address, "GET", "/v1/job/web", {
      token: sim.managementToken,
      bearer: true,
    });

    expect(response.status).toBe(200);
  });

  it.each([
    { name: "missing job", path: "/v1/job/nope", body: "job not found", operation: "getJob" },
    {
      name: "job of another namespace",
      path: "/v1/job/web?namespace=other",
      body: "job not found",
      operation: "getJob",
    },
    {
      name: "missing allocation",
      path: "/v1/allocation/0d0e0a0d-0000-0000-0000-000000000000",
      body: "alloc not found",
      operation: "getAllocation",
    },
    {
      name: "missing variable",
      path: "/v1/var/nomad/jobs/nope",
      body: "variable not found",
      operation: "readVariable",
    },
  ])("answers 404 in plain text with the index for a $name", async ({ path, body, operation }) => {
    await sim.registerJob(jobSpec("web"));

    const response = await call("GET", path);

    expect(response.status).toBe(404);
    expect(response.body).toBe(body);
    expect(response.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(response.headers["x-nomad-index"]).toMatch(/^\d+$/);
    expect(contract.problems(operation, response)).toEqual([]);
  });

  it("answers unknown paths with 404 and wrong methods with 405", async () => {
    expect((await call("GET", "/v1/jobs/elsewhere")).status).toBe(404);
    const wrongMethod = await call("PATCH", "/v1/job/web");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body).toBe("Invalid method");
  });
});

describe("stop (DELETE /v1/job/:id)", () => {
  it("stops without purging: a new version with Stop, allocations stopped and their containers removed", async () => {
    const { allocIds, version } = await sim.registerJob(
      jobSpec("web", { groups: [{ Name: "web", Count: 2 }] }),
    );

    const response = await call("DELETE", "/v1/job/web?namespace=default");
    await sim.whenSettled();

    expect(response.status).toBe(200);
    expect(contract.problems("stopJob", response)).toEqual([]);
    const answer = json<{ EvalID: string; EvalCreateIndex: number; JobModifyIndex: number }>(response);
    expect(answer.EvalID).toMatch(UUID);
    const job = sim.job("default", "web");
    expect(job).toMatchObject({
      Stop: true,
      Version: version + 1,
      JobModifyIndex: answer.JobModifyIndex,
      Status: "dead",
    });
    expect(
      sim.allocations({ jobId: "web" }).map((alloc) => [alloc.DesiredStatus, alloc.ClientStatus]),
    ).toEqual([
      ["stop", "complete"],
      ["stop", "complete"],
    ]);
    expect(runtime.stopped.sort()).toEqual([...allocIds].sort());
    expect((await call("GET", "/v1/job/web")).status).toBe(200);
  });

  it("answers 200 with an empty EvalID for a job that does not exist", async () => {
    const response = await call("DELETE", "/v1/job/never-registered");

    expect(response.status).toBe(200);
    expect(contract.problems("stopJob", response)).toEqual([]);
    expect(json(response).EvalID).toBe("");
  });

  it("purges only when asked to", async () => {
    await sim.registerJob(jobSpec("web"));

    expect((await call("DELETE", "/v1/job/web?purge=true")).status).toBe(200);

    expect((await call("GET", "/v1/job/web")).status).toBe(404);
  });

  it("refuses a purge flag that is not a boolean", async () => {
    const response = await call("DELETE", "/v1/job/web?purge=sometimes");

    expect(response.status).toBe(400);
    expect(response.body).toMatch(/^Failed to parse value of "purge"/);
  });
});

describe("register (POST /v1/jobs) with EnforceIndex", () => {
  it("registers only over the JobModifyIndex given, 0 meaning a job that does not exist, as Nomad does", async () => {
    const { jobModifyIndex } = await sim.registerJob(jobSpec("web"));
    const stop = json<{ JobModifyIndex: number }>(await call("DELETE", "/v1/job/web"));
    const job = sim.job("default", "web");
    const register = (index: number) =>
      call("POST", "/v1/jobs", { Job: { ...job, Stop: false }, EnforceIndex: true, JobModifyIndex: index });

    const stale = await register(jobModifyIndex);
    const absent = await register(0);
    expect([stale.status, stale.body, absent.status, absent.body]).toEqual([
      500,
      `Enforcing job modify index ${jobModifyIndex}: job exists with conflicting job modify index: ${stop.JobModifyIndex}`,
      500,
      `Enforcing job modify index 0: job already exists`,
    ]);
    expect(contract.problems("registerJob", stale)).toEqual([]);
    expect(sim.job("default", "web")).toMatchObject({ Stop: true, JobModifyIndex: stop.JobModifyIndex });

    const current = await register(stop.JobModifyIndex);
    expect(current.status).toBe(200);
    expect(contract.problems("registerJob", current)).toEqual([]);
    expect(sim.job("default", "web")).toMatchObject({
      Stop: false,
      JobModifyIndex: json(current).JobModifyIndex,
    });

    sim.purgeJob("default", "web");
    const gone = await register(stop.JobModifyIndex);
    expect([gone.status, gone.body]).toEqual([
      500,
      `Enforcing job modify index ${stop.JobModifyIndex}: job does not exist`,
    ]);
    expect((await register(0)).status).toBe(200);
    await sim.whenSettled();
  });
});

describe("scale (POST /v1/job/:id/scale)", () => {
  // Healthy as soon as they run: each deployment is over before the test scales.
  const update = { MinHealthyTime: 0 };
  const scalable = () =>
    jobSpec("web", {
      groups: [
        { Name: "web", Count: 2, Scaling: { Min: 0, Max: 3 }, Update: update },
        { Name: "db", Update: update },
      ],
    });

  it("scales a group to zero: a new version, the group's allocations stopped, a scaling event with the message", async () => {
    await sim.registerJob(scalable());
    const body = {
      Count: 0,
      Target: { Group: "web" },
      Message: "idle for 15m",
      Meta: { by: "idle-monitor" },
      Error: false,
    };

    const response = await call("POST", "/v1/job/web/scale?namespace=default", body);
    await sim.whenSettled();

    expect(response.status).toBe(200);
    expect(contract.problems("scaleTaskGroup", response)).toEqual([]);
    const answer = json<Record<string, unknown>>(response);
    expect(answer).toMatchObject({ EvalID: expect.stringMatching(UUID), Warnings: "" });
    expect(Number(response.headers["x-nomad-index"])).toBe(answer.Index);
    expect(sim.job("default", "web")?.TaskGroups.map((group) => group.Count)).toEqual([0, 1]);
    const live = sim.allocations({ jobId: "web" }).filter((alloc) => alloc.ClientStatus === "running");
    expect(live.map((alloc) => alloc.TaskGroup)).toEqual(["db"]);
    expect(sim.scalingEvents("default", "web", "web")).toMatchObject([
      { Count: 0, PreviousCount: 2, Message: "idle for 15m", Meta: { by: "idle-monitor" }, Error: false },
    ]);
  });

  it("reports each group's counts and scaling events, newest first, at GET /v1/job/:id/scale", async () => {
    await sim.registerJob(scalable());
    const status = async () => {
      const response = await call("GET", "/v1/job/web/scale");
      expect(contract.problems("getJobScaleStatus", response)).toEqual([]);
      return json<{ JobStopped: boolean; TaskGroups: Record<string, Record<string, unknown>> }>(response);
    };

    const before = await status();
    await call("POST", "/v1/job/web/scale", { Count: 0, Target: { Group: "web" }, Message: "idle" });
    await sim.whenSettled();
    const after = await status();

    expect(before.TaskGroups).toEqual({
      web: { Desired: 2, Placed: 2, Running: 2, Healthy: 2, Unhealthy: 0, Events: null },
      db: { Desired: 1, Placed: 1, Running: 1, Healthy: 1, Unhealthy: 0, Events: null },
    });
    expect(after.TaskGroups.web).toMatchObject({
      Desired: 0,
      Placed: 0,
      Running: 0,
      Events: [
        { Count: 0, PreviousCount: 2, Message: "idle", Error: false, CreateIndex: expect.any(Number) },
      ],
    });
    expect(after.JobStopped).toBe(false);
    expect((await call("GET", "/v1/job/nope/scale")).status).toBe(404);
  });

  it("places new allocations when the count goes up", async () => {
    await sim.registerJob(scalable());

    await call("POST", "/v1/job/web/scale", { Count: 3, Target: { Group: "web" } });
    await sim.whenSettled();

    const names = sim
      .allocations({ jobId: "web" })
      .filter((alloc) => alloc.TaskGroup === "web")
      .map((alloc) => alloc.Name)
      .sort();
    expect(names).toEqual(["web.web[0]", "web.web[1]", "web.web[2]"]);
    expect(runtime.running.size).toBe(4);
  });

  it.each([
    {
      name: "no group",
      body: { Count: 0, Target: {} },
      status: 400,
      text: "missing task group name for scaling action",
    },
    {
      name: "unknown group",
      body: { Count: 0, Target: { Group: "cache" } },
      status: 400,
      text: 'task group "cache" specified for scaling does not exist in job',
    },
    {
      name: "count above the scaling max",
      body: { Count: 4, Target: { Group: "web" } },
      status: 400,
      text: "group count was greater than scaling policy maximum: 4 > 3",
    },
    {
      name: "negative count",
      body: { Count: -1, Target: { Group: "web" } },
      status: 400,
      text: "scaling action count can't be negative",
    },
  ])("answers $status for $name", async ({ body, status, text }) => {
    await sim.registerJob(scalable());

    const response = await call("POST", "/v1/job/web/scale", body);

    expect(response.status).toBe(status);
    expect(response.body).toBe(text);
    expect(contract.problems("scaleTaskGroup", response)).toEqual([]);
    expect(sim.job("default", "web")?.Version).toBe(0);
  });

  it("refuses a count below the scaling min", async () => {
    await sim.registerJob(
      jobSpec("web", { groups: [{ Name: "web", Count: 2, Scaling: { Min: 1, Max: 3 } }] }),
    );

    const response = await call("POST", "/v1/job/web/scale", { Count: 0, Target: { Group: "web" } });

    expect(response.status).toBe(400);
    expect(response.body).toBe("group count was less than scaling policy minimum: 0 < 1");
  });

  it("refuses while a deployment is active, and scales once it is over", async () => {
    await sim.registerJob(scalable());
    sim.setDeploymentActive("default", "web", true);

    const blocked = await call("POST", "/v1/job/web/scale", { Count: 0, Target: { Group: "web" } });
    sim.setDeploymentActive("default", "web", false);
    const allowed = await call("POST", "/v1/job/web/scale", { Count: 0, Target: { Group: "web" } });

    expect([blocked.status, blocked.body]).toEqual([400, "job scaling blocked due to active deployment"]);
    expect(allowed.status).toBe(200);
  });

  it("answers 404 for a job that does not exist", async () => {
    const response = await call("POST", "/v1/job/nope/scale", { Count: 0, Target: { Group: "web" } });

    expect(response.status).toBe(404);
    expect(response.body).toBe('job "nope" not found');
  });
});

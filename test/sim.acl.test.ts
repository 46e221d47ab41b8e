import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobSpec } from "./sim/fixtures.js";
import { StreamProbe, send } from "./sim/http-probe.js";
import { type AclPolicy, NOMAD_VERSIONS, NomadSimulator, RecordingRuntime } from "./sim/index.js";

describe("ACL outcomes on the endpoints the monitor calls", () => {
  let sim: NomadSimulator;
  let nodeId: string;
  const tokens: Record<string, string | undefined> = {};
  const policies: Record<string, AclPolicy> = {
    "read-only": { namespaces: { "*": ["read-job"] }, nodeRead: true },
    "read without node": { namespaces: { "*": ["read-job"] } },
    "scale-job": { namespaces: { default: ["read-job", "scale-job"] }, nodeRead: true },
    "submit-job": { namespaces: { default: ["read-job", "submit-job"] }, nodeRead: true },
    "other namespace": { namespaces: { "team-*": ["read-job", "submit-job"] }, nodeRead: true },
  };

  beforeAll(async () => {
    sim = await NomadSimulator.start();
    nodeId = sim.addNode("node-1", new RecordingRuntime());
    await sim.registerJob(jobSpec("web", { groups: [{ Name: "web", Count: 3 }] }));
    for (const [name, policy] of Object.entries(policies)) tokens[name] = sim.createToken(policy);
    tokens.management = sim.managementToken;
    tokens.anonymous = undefined;
    tokens.unknown = "7e57ab1e-0000-4000-8000-000000000000";
    tokens.revoked = sim.createToken({ management: true });
    sim.revokeToken(tokens.revoked);
    tokens.expired = sim.createToken({ management: true });
    sim.expireToken(tokens.expired);
    tokens["workload identity"] = sim.workloadIdentity("default", "web", "web", "server");
  });

  afterAll(async () => {
    await sim.close();
  });

  const requests: Record<string, () => { method: string; path: string }> = {
    "list node allocations": () => ({ method: "GET", path: `/v1/node/${nodeId}/allocations` }),
    "read job": () => ({ method: "GET", path: "/v1/job/web" }),
    "list job allocations": () => ({ method: "GET", path: "/v1/job/web/allocations" }),
    "scale (no count change)": () => ({ method: "POST", path: "/v1/job/web/scale" }),
    "stop a missing job": () => ({ method: "DELETE", path: "/v1/job/missing" }),
  };

  const denied = { status: 403, body: "Permission denied" };
  const ok = { status: 200 };
  it.each([
    { token: "management", request: "list node allocations", expected: ok },
    { token: "management", request: "stop a missing job", expected: ok },
    { token: "read-only", request: "list node allocations", expected: ok },
    { token: "read-only", request: "read job", expected: ok },
    { token: "read-only", request: "scale (no count change)", expected: denied },
    { token: "read-only", request: "stop a missing job", expected: denied },
    { token: "read without node", request: "list node allocations", expected: denied },
    { token: "read without node", request: "list job allocations", expected: ok },
    { token: "scale-job", request: "scale (no count change)", expected: ok },
    { token: "scale-job", request: "stop a missing job", expected: denied },
    { token: "submit-job", request: "scale (no count change)", expected: ok },
    { token: "submit-job", request: "stop a missing job", expected: ok },
    { token: "other namespace", request: "read job", expected: denied },
    { token: "other namespace", request: "stop a missing job", expected: denied },
    { token: "anonymous", request: "read job", expected: denied },
    // Nomad 1.6.5 answers an unknown or deleted token as any refusal (err-403-unknown-token.http).
    { token: "unknown", request: "read job", expected: denied },
    { token: "revoked", request: "read job", expected: denied },
    { token: "expired", request: "read job", expected: { status: 403, body: "ACL token expired" } },
    { token: "workload identity", request: "read job", expected: denied },
    { token: "workload identity", request: "list node allocations", expected: denied },
  ] as const)("$token: $request → $expected.status", async ({ token, request, expected }) => {
    const { method, path } = requests[request]?.() ?? { method: "", path: "" };
    const body = method === "POST" ? { Target: { Group: "web" }, Message: "probe" } : undefined;

    const response = await send(sim.address, method, path, { token: tokens[token], body });

    expect(response.status).toBe(expected.status);
    if ("body" in expected) expect(response.body).toBe(expected.body);
  });

  it("lists only the allocations of namespaces the token may read", async () => {
    await sim.registerJob(jobSpec("api", { namespace: "team-a" }));
    const teamToken = sim.createToken({ namespaces: { "team-a": ["read-job"] }, nodeRead: true });

    const response = await send(sim.address, "GET", `/v1/node/${nodeId}/allocations`, { token: teamToken });

    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Array<{ JobID: string }>).map((alloc) => alloc.JobID)).toEqual([
      "api",
    ]);
  });
});

describe("a workload identity", () => {
  let sim: NomadSimulator;
  let identity: string;

  beforeAll(async () => {
    sim = await NomadSimulator.start();
    sim.addNode("node-1");
    for (const path of [
      "nomad/jobs",
      "nomad/jobs/monitor",
      "nomad/jobs/monitor/group",
      "nomad/jobs/monitor/group/task",
    ]) {
      sim.putVariable("ops", path, { token: `secret for ${path}` });
    }
    sim.putVariable("ops", "nomad/jobs/other-job", { token: "not yours" });
    sim.putVariable("default", "nomad/jobs/monitor", { token: "not your namespace" });
    sim.putVariable("ops", "shared/tokens", { token: "outside nomad/jobs" });
    identity = sim.workloadIdentity("ops", "monitor", "group", "task");
  });

  afterAll(async () => {
    await sim.close();
  });

  it.each(["nomad/jobs", "nomad/jobs/monitor", "nomad/jobs/monitor/group", "nomad/jobs/monitor/group/task"])(
    "reads its own variable %s",
    async (path) => {
      const response = await send(sim.address, "GET", `/v1/var/${path}?namespace=ops`, { token: identity });

      expect(response.status).toBe(200);
      expect(JSON.parse(response.body).Items).toEqual({ token: `secret for ${path}` });
    },
  );

  it.each([
    { name: "another job's variable", path: "/v1/var/nomad/jobs/other-job?namespace=ops" },
    { name: "its path in another namespace", path: "/v1/var/nomad/jobs/monitor?namespace=default" },
    { name: "a variable outside nomad/jobs", path: "/v1/var/shared/tokens?namespace=ops" },
  ])("may not read $name", async ({ path }) => {
    const response = await send(sim.address, "GET", path, { token: identity });

    expect([response.status, response.body]).toEqual([403, "Permission denied"]);
  });

  it("may not write its own variable", async () => {
    const response = await send(sim.address, "PUT", "/v1/var/nomad/jobs/monitor?namespace=ops", {
      token: identity,
      body: { Items: { token: "overwritten" } },
    });

    expect([response.status, response.body]).toEqual([403, "Permission denied"]);
  });

  it("may not subscribe to the event stream", async () => {
    const response = await send(sim.address, "GET", "/v1/event/stream?topic=Allocation&namespace=ops", {
      token: identity,
    });

    expect([response.status, response.body]).toEqual([500, "Permission denied"]);
  });

  it("of a group without a task may not read the task's variable", async () => {
    const groupIdentity = sim.workloadIdentity("ops", "monitor", "group");

    const group = await send(sim.address, "GET", "/v1/var/nomad/jobs/monitor/group?namespace=ops", {
      token: groupIdentity,
    });
    const task = await send(sim.address, "GET", "/v1/var/nomad/jobs/monitor/group/task?namespace=ops", {
      token: groupIdentity,
    });

    expect([group.status, task.status]).toEqual([200, 403]);
  });
});

// Nomad's Variables.List filters what the token may not list and refuses nothing, the anonymous token
// included; Variables.Read refuses (403) before it looks whether the Variable exists
// (hashicorp/nomad nomad/variables_endpoint.go at v1.6.5 and v2.0.5). An unknown token is refused outright.
describe.each(NOMAD_VERSIONS)("Variables without the right token (Nomad %s)", (version) => {
  let sim: NomadSimulator;

  beforeAll(async () => {
    sim = await NomadSimulator.start({ version });
    sim.putVariable("default", "nomad/jobs/idle-monitor/activity/node/0", { part: "report" });
  });

  afterAll(async () => {
    await sim.close();
  });

  it.each([
    { token: "anonymous", request: "list", status: 200, body: "[]" },
    { token: "anonymous", request: "read", status: 403, body: "Permission denied" },
    { token: "anonymous", request: "read missing", status: 403, body: "Permission denied" },
    { token: "unknown", request: "list", status: 403, body: "Permission denied" },
    { token: "without variables", request: "list", status: 200, body: "[]" },
    { token: "without variables", request: "read missing", status: 403, body: "Permission denied" },
  ] as const)("$token: $request → $status", async ({ token, request, status, body }) => {
    const tokens = {
      anonymous: undefined,
      unknown: "7e57ab1e-0000-4000-8000-000000000000",
      "without variables": sim.createToken({ namespaces: { "*": ["read-job"] } }),
    };
    const path = {
      list: "/v1/vars?prefix=nomad/jobs/idle-monitor/",
      read: "/v1/var/nomad/jobs/idle-monitor/activity/node/0",
      "read missing": "/v1/var/nomad/jobs/idle-monitor/activity/missing",
    }[request];

    const response = await send(sim.address, "GET", path, { token: tokens[token] });

    expect([response.status, response.body.trim()]).toEqual([status, body]);
  });
});

describe("without ACLs", () => {
  it("lets every request through, token or not", async () => {
    const sim = await NomadSimulator.start({ acl: false });
    try {
      const nodeId = sim.addNode("node-1");
      await sim.registerJob(jobSpec("web"));

      const list = await send(sim.address, "GET", `/v1/node/${nodeId}/allocations`);
      const stream = await StreamProbe.open(sim.address, "/v1/event/stream");
      stream.close();

      expect([list.status, stream.status]).toEqual([200, 200]);
    } finally {
      await sim.close();
    }
  });
});

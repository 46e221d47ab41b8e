import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Recordings } from "./contract/recordings.js";
import { shapeDifferences, shapeOf } from "./contract/shape.js";
import { monitorJob } from "./deploy/monitor-job.js";
import { NOMAD_SD_QUERY } from "./prometheus/server.js";
import { allocatedPorts } from "./sim/dynamic-ports.js";
import { type ProbeResponse, send } from "./sim/http-probe.js";
import { NomadSimulator, RecordingRuntime, type SimJob } from "./sim/index.js";

// The simulator's service catalog against Nomad 2.0.5's answer (test/fixtures/nomad-2.0.5/
// service-info.http), asked as Prometheus asks: its nomad_sd_configs (prometheus/prometheus v0.316.0,
// discovery/nomad/nomad.go, through hashicorp/nomad/api) sends `GET /v1/services`, then `GET
// /v1/service/<name>` for each service listed, both with NOMAD_SD_QUERY, and the token of
// `authorization` as `Authorization: Bearer` (test/prometheus.scrape.test.ts checks what it sent).
const PROMETHEUS_QUERY = `?${NOMAD_SD_QUERY}`;

interface Registration {
  Address: string;
  AllocID: string;
  ID: string;
  NodeID: string;
  Port: number;
  [field: string]: unknown;
}

describe("the service catalog answers as Nomad 2.0.5 did", () => {
  let sim: NomadSimulator;
  let nodeId: string;
  /** What the README's scrape config gives Prometheus: read-job in the monitor's namespace. */
  let discoveryToken: string;
  /** `null`: no token at all. */
  const ask = (path: string, token: string | null = discoveryToken): Promise<ProbeResponse> =>
    send(sim.address, "GET", path, {
      token: token ?? undefined,
      bearer: true,
      headers: { "Accept-Encoding": "gzip" },
    });
  const registrations = async (query = PROMETHEUS_QUERY) =>
    JSON.parse((await ask(`/v1/service/idle-monitor${query}`)).body) as Registration[];

  beforeEach(async () => {
    sim = await NomadSimulator.start();
    nodeId = sim.addNode("vm", new RecordingRuntime());
    discoveryToken = sim.createToken({ namespaces: { default: ["read-job"] } });
  });
  afterEach(() => sim.close());

  it("registers the monitor's service as its job spec declares it, in the recorded shape", async () => {
    const placed = await sim.registerJob(await monitorJob());
    const recorded = new Recordings("2.0.5").http("service-info.http");
    const answer = await ask(`/v1/service/idle-monitor${PROMETHEUS_QUERY}`);

    expect(answer.status).toBe(recorded.status);
    expect(answer.headers["content-type"]).toBe(recorded.headers["content-type"]);
    for (const header of ["x-nomad-index", "x-nomad-knownleader", "x-nomad-lastcontact"]) {
      expect(answer.headers[header], header).toBeDefined();
      expect(recorded.headers[header], header).toBeDefined();
    }
    const [theirs] = JSON.parse(recorded.body) as Registration[];
    const ours = JSON.parse(answer.body) as Registration[];
    expect(shapeDifferences(shapeOf([JSON.parse(recorded.body)]), shapeOf([ours]))).toEqual([]);

    // What follows from the job spec and the node is what the real agent registered.
    const [alloc] = sim.allocations({ jobId: "idle-monitor" });
    const [port] = alloc ? allocatedPorts(alloc) : [];
    const { AllocID, ID, NodeID, Port, CreateIndex, ModifyIndex, ...fromSpec } = theirs as Registration;
    expect(ours).toEqual([
      {
        ...fromSpec,
        AllocID: placed.allocIds[0],
        ID: ID.replace(AllocID, placed.allocIds[0] as string),
        NodeID: nodeId,
        Port: port?.Value,
        CreateIndex: expect.any(Number),
        ModifyIndex: expect.any(Number),
      },
    ]);
    expect(port).toMatchObject({ Label: "http", To: 9464 });
    expect(Port).toBeGreaterThanOrEqual(20_000); // the recorded port, from Nomad's dynamic range too
    expect(port?.Value).toBeGreaterThanOrEqual(20_000);
    expect(port?.Value).toBeLessThanOrEqual(32_000);
    expect(Number(answer.headers["x-nomad-index"])).toBe(ours[0]?.CreateIndex);
  });

  it("lists each service with the union of its tags", async () => {
    await sim.registerJob(await monitorJob());
    const answer = await ask(`/v1/services${PROMETHEUS_QUERY}`);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(answer.body)).toEqual([
      { Namespace: "default", Services: [{ ServiceName: "idle-monitor", Tags: ["metrics"] }] },
    ]);
    const service = await ask(`/v1/service/idle-monitor${PROMETHEUS_QUERY}`);
    expect(answer.headers["x-nomad-index"]).toBe(service.headers["x-nomad-index"]);
  });

  it("answers an empty list, not 404, when nothing is registered", async () => {
    for (const path of ["/v1/services", "/v1/service/idle-monitor", "/v1/service/nothing-here"]) {
      const answer = await ask(`${path}${PROMETHEUS_QUERY}`);
      expect([answer.status, answer.body, answer.headers["x-nomad-index"]], path).toEqual([200, "[]", "1"]);
    }
  });

  it("refuses a token without read-job in the namespace, and no token, with 403", async () => {
    await sim.registerJob(await monitorJob());
    const nodeReader = sim.createToken({ nodeRead: true });
    for (const token of [nodeReader, null]) {
      for (const path of ["/v1/services", "/v1/service/idle-monitor"]) {
        const answer = await ask(`${path}${PROMETHEUS_QUERY}`, token);
        expect([answer.status, answer.body], path).toEqual([403, "Permission denied"]);
      }
    }
    // A task's workload identity may read the catalog of its namespace whatever its policies.
    const identity = sim.workloadIdentity("default", "some-job");
    expect((await ask(`/v1/services${PROMETHEUS_QUERY}`, identity)).status).toBe(200);
  });

  it("drops an allocation's registrations once it is told to stop", async () => {
    await sim.registerJob(await monitorJob());
    const before = await ask(`/v1/services${PROMETHEUS_QUERY}`);
    await sim.stopJob("default", "idle-monitor");
    const after = await ask(`/v1/services${PROMETHEUS_QUERY}`);
    expect(after.body).toBe("[]");
    expect(await registrations()).toEqual([]);
    expect(Number(after.headers["x-nomad-index"])).toBeGreaterThan(Number(before.headers["x-nomad-index"]));
  });

  it("registers a port per node and per service: one instance of the system job on each node", async () => {
    const second = sim.addNode("vm-2", new RecordingRuntime());
    await sim.registerJob(await monitorJob());
    const found = await registrations();
    expect(found.map((one) => one.NodeID).sort()).toEqual([nodeId, second].sort());
    expect(found.every((one) => one.Address === "127.0.0.1")).toBe(true);
  });

  it("lists every namespace where the token has read-job with namespace=*", async () => {
    const webJob = (namespace: string): SimJob => ({
      ID: "web",
      Namespace: namespace,
      TaskGroups: [
        {
          Name: "web",
          Networks: [{ Mode: "host", DynamicPorts: [{ Label: "http" }] }],
          Services: [{ Name: "web", Provider: "nomad", PortLabel: "http", Tags: ["a", "b"] }],
          Tasks: [{ Name: "server", Driver: "docker" }],
        },
      ],
    });
    await sim.registerJob(webJob("dev"));
    await sim.registerJob(webJob("prod"));
    await sim.registerJob(await monitorJob());
    const token = sim.createToken({ namespaces: { default: ["read-job"], dev: ["read-job"] } });
    const answer = await ask("/v1/services?namespace=*", token);
    expect(JSON.parse(answer.body)).toEqual([
      { Namespace: "default", Services: [{ ServiceName: "idle-monitor", Tags: ["metrics"] }] },
      { Namespace: "dev", Services: [{ ServiceName: "web", Tags: ["a", "b"] }] },
    ]);
    // Consul's services are Consul's: Nomad's catalog has only `provider = "nomad"` ones.
    await sim.registerJob({
      ...webJob("prod"),
      ID: "consul-web",
      TaskGroups: [
        { Name: "web", Services: [{ Name: "consul-web" }], Tasks: [{ Name: "s", Driver: "docker" }] },
      ],
    });
    const prod = await ask("/v1/services?namespace=prod", sim.managementToken);
    expect(JSON.parse(prod.body)).toEqual([
      { Namespace: "prod", Services: [{ ServiceName: "web", Tags: ["a", "b"] }] },
    ]);
  });
});

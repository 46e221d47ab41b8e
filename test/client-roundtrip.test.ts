import type { Readable } from "node:stream";
import { isAxiosError } from "axios";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NomadHttpApi } from "../src/nomad/api.js";
import { createClient } from "../src/nomad/generated/client/index.js";
import {
  getAllocation,
  getJob,
  listJobAllocations,
  listNodeAllocations,
  readVariable,
  scaleTaskGroup,
  stopJob,
  streamEvents,
  writeVariable,
} from "../src/nomad/generated/sdk.gen.js";
import { ActionToken } from "../src/nomad/token.js";
import { NdjsonDecoder, type StreamItem } from "./contract/ndjson.js";
import { jobSpec } from "./sim/fixtures.js";
import { NOMAD_VERSIONS, NomadSimulator, RecordingRuntime } from "./sim/index.js";

// The generated client against the simulator, endpoint by endpoint: the OpenAPI document is the
// contract between them, so what the client sends the simulator must understand, and back.
describe("the generated client against the simulator", () => {
  let sim: NomadSimulator;
  let node: string;
  let client: ReturnType<typeof createClient>;

  beforeAll(async () => {
    sim = await NomadSimulator.start({ heartbeatIntervalMs: 200 });
    node = sim.addNode("local", new RecordingRuntime());
    client = createClient({ baseURL: sim.address, throwOnError: true, auth: () => sim.managementToken });
    // Healthy as soon as it runs: its deployment is over before the test scales it.
    await sim.registerJob(
      jobSpec("web-app", { groups: [{ Name: "web", Count: 2, Update: { MinHealthyTime: 0 } }] }),
    );
    await sim.whenSettled();
  });
  afterAll(async () => sim.close());

  it("lists a node's full allocations, with the job and the raft index", async () => {
    const response = await listNodeAllocations({ client, path: { node_id: node } });
    expect(response.data.map((alloc) => [alloc.JobID, alloc.TaskGroup, alloc.ClientStatus])).toEqual([
      ["web-app", "web", "running"],
      ["web-app", "web", "running"],
    ]);
    expect(response.data[0]?.Job?.ID).toBe("web-app");
    expect(Number(response.headers["x-nomad-index"])).toBeGreaterThan(0);
  });

  it("reads one allocation, a job and a job's allocation stubs", async () => {
    const [first] = sim.allocations({ jobId: "web-app" });
    const alloc = await getAllocation({ client, path: { alloc_id: first!.ID } });
    expect(alloc.data.NodeID).toBe(node);
    const job = await getJob({ client, path: { job_id: "web-app" }, query: { namespace: "default" } });
    expect(job.data.TaskGroups.map((group) => [group.Name, group.Count])).toEqual([["web", 2]]);
    const stubs = await listJobAllocations({
      client,
      path: { job_id: "web-app" },
      query: { namespace: "default" },
    });
    expect(stubs.data).toHaveLength(2);
    expect(stubs.data[0]).not.toHaveProperty("Job");
  });

  it("surfaces Nomad's plain-text errors with their status", async () => {
    const failure = await getJob({ client, path: { job_id: "nope" }, query: { namespace: "default" } }).catch(
      (error: unknown) => error,
    );
    expect(isAxiosError(failure) && [failure.response?.status, failure.response?.data]).toEqual([
      404,
      "job not found",
    ]);
  });

  it("writes a Variable with check-and-set, loses a race with 409, and reads it back", async () => {
    const written = await writeVariable({
      client,
      path: { var_path: "nomad/jobs/idle-monitor" },
      query: { cas: 0 },
      body: { Items: { token: "first" } },
    });
    const stale = await writeVariable({
      client,
      path: { var_path: "nomad/jobs/idle-monitor" },
      query: { cas: 0 },
      body: { Items: { token: "second" } },
    }).catch((error: unknown) => error);
    expect(isAxiosError(stale) && stale.response?.status).toBe(409);
    const read = await readVariable({ client, path: { var_path: "nomad/jobs/idle-monitor" } });
    expect(read.data.Items).toEqual({ token: "first" });
    expect(read.data.ModifyIndex).toBe(written.data.ModifyIndex);
  });

  it("streams NDJSON events from an index: heartbeats, then the batches of a scale and a stop", async () => {
    const { data: start } = await listNodeAllocations({ client, path: { node_id: node } }).then((r) => ({
      data: Number(r.headers["x-nomad-index"]),
    }));
    const controller = new AbortController();
    const response = await streamEvents({
      client,
      query: { topic: ["Allocation", "Job"], namespace: "*", index: start + 1 },
      headers: { "Accept-Encoding": "identity" },
      responseType: "stream",
      signal: controller.signal,
    });
    const items: StreamItem[] = [];
    const decoder = new NdjsonDecoder();
    (response.data as unknown as Readable).on("data", (chunk: Buffer) => items.push(...decoder.push(chunk)));

    const scaled = await scaleTaskGroup({
      client,
      path: { job_id: "web-app" },
      query: { namespace: "default" },
      body: {
        Count: 1,
        Target: { Group: "web" },
        Message: "round trip",
        Meta: { why: "test" },
        Error: false,
      },
    });
    expect(scaled.data.EvalID).not.toBe("");
    const stopped = await stopJob({
      client,
      path: { job_id: "web-app" },
      query: { namespace: "default", purge: false },
    });
    expect(stopped.data.EvalID).not.toBe("");
    await sim.whenSettled();
    await new Promise((resolve) => setTimeout(resolve, 500));
    controller.abort();

    expect(items.some((item) => item.kind === "heartbeat")).toBe(true);
    const events = items.flatMap((item) =>
      item.kind === "batch" ? (item.events as Array<{ Topic: string; Type: string }>) : [],
    );
    expect(events.filter((event) => event.Topic === "Allocation").map((event) => event.Type)).toContain(
      "PlanResult",
    );
    expect(events.filter((event) => event.Topic === "Job").map((event) => event.Type)).toContain(
      "JobDeregistered",
    );
    expect(sim.job("default", "web-app")?.Stop).toBe(true);
  });

  it("reads the action token through the monitor's adapter with a workload identity, and only its own", async () => {
    const identity = sim.workloadIdentity("default", "idle-monitor");
    const api = new NomadHttpApi({
      config: { nomadAddr: sim.address, nomadRegion: undefined, tls: {} as never },
      token: () => undefined,
    });
    expect(await api.readVariable("default", "nomad/jobs/idle-monitor", identity)).toEqual({
      token: "first",
    });
    const other = await api
      .readVariable("default", "nomad/jobs/someone-else", identity)
      .catch((error: unknown) => error);
    expect(other).toMatchObject({ kind: "auth", status: 403 });
    expect(String(other)).not.toContain(identity);
  });
});

describe("the action token", () => {
  it("is read once when several callers reload it at the same moment", async () => {
    const sim = await NomadSimulator.start();
    try {
      const actionToken = sim.createToken({ namespaces: { "*": ["read-job"] } });
      sim.putVariable("default", "nomad/jobs/idle-monitor", { token: `${actionToken}\n` });
      const api = new NomadHttpApi({
        config: { nomadAddr: sim.address, nomadRegion: undefined, tls: {} as never },
        token: () => undefined,
      });
      const token = new ActionToken(
        api,
        {
          nomadToken: sim.workloadIdentity("default", "idle-monitor"),
          namespace: "default",
          tokenVariable: { path: "nomad/jobs/idle-monitor", key: "token" },
          self: { allocId: "a1", jobId: "idle-monitor" },
        },
        pino({ level: "silent" }),
      );
      await Promise.all([token.load(), token.load(), token.load()]);
      expect(sim.calls.filter((call) => call.path === "/v1/var/nomad/jobs/idle-monitor")).toHaveLength(1);
      // Stored with `echo … | nomad var put … token=-`, the newline is not part of the token.
      expect(token.current()).toBe(actionToken);
      await token.load();
      expect(sim.calls.filter((call) => call.path === "/v1/var/nomad/jobs/idle-monitor")).toHaveLength(2);
    } finally {
      await sim.close();
    }
  });
});

describe.each(NOMAD_VERSIONS)("an invalid Variable written through the adapter, on Nomad %s", (version) => {
  // Nomad 1.6.5 refuses it with 500, Nomad 2.0.5 with 400 `RPC Error:: 400,…`: either way a permanent
  // refusal ("rejected"), never "unavailable", which would be retried.
  it.each([
    { name: "over 64 KiB", path: "nomad/jobs/idle-monitor/big", message: /limited to 64KiB in total size/ },
    { name: "with a space in its path", path: "nomad/jobs/idle-monitor/a b", message: /invalid path/ },
  ])("$name is rejected, never retried", async ({ path, message }) => {
    const sim = await NomadSimulator.start({ version });
    try {
      const api = new NomadHttpApi({
        config: { nomadAddr: sim.address, nomadRegion: undefined, tls: {} as never },
        token: () => undefined,
      });
      const items = { report: "x".repeat(path.endsWith("big") ? 64 * 1024 : 10) };

      const refusal = await api
        .variables("default", sim.managementToken)
        .write(path, items, 0)
        .catch((error: unknown) => error);

      expect(refusal).toMatchObject({ kind: "rejected", status: version === "1.6.5" ? 500 : 400 });
      expect(String(refusal)).toMatch(message);
    } finally {
      await sim.close();
    }
  });
});

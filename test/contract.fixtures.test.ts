import http from "node:http";
import type { AddressInfo } from "node:net";
import { isAxiosError } from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeAllocations } from "../src/allocations.js";
import { externalTrafficBytes } from "../src/docker/net-dev.js";
import type { Allocation, Job } from "../src/model/nomad.js";
import { createClient } from "../src/nomad/generated/client/index.js";
import * as sdk from "../src/nomad/generated/sdk.gen.js";
import { groupPolicy } from "../src/policy.js";
import { groupChecks } from "../src/signals/check-budget.js";
import { NdjsonDecoder, type StreamItem } from "./contract/ndjson.js";
import { RECORDED_ELSEWHERE, RECORDED_OPERATIONS } from "./contract/recorded-operations.js";
import { type RecordedResponse, Recordings } from "./contract/recordings.js";
import { OpenApiContract } from "./sim/contract.js";
import { NOMAD_VERSIONS } from "./sim/index.js";

// The recordings of real Nomad agents, 1.6.5 and 2.0.5 (test/fixtures/nomad-<version>), are the ground
// truth: the OpenAPI document, the generated client's types and the project's stream parser must take
// every one of them.

let contract: OpenApiContract;

beforeAll(async () => {
  contract = await OpenApiContract.load();
});

/**
 * Where the document knowingly does not fit a recording, each with its reason: a recorded value at a
 * JSON path the document does not take yet, replaced by `standIn` before validating. Every entry must
 * still be needed, so a fixed document or a new recording shows here.
 */
const DOCUMENT_DIFFERENCES: Array<{ path: RegExp; recorded: unknown; standIn: unknown; reason: string }> = [];
const differencesSeen = new Set<number>();

/** The body with every allow-listed difference replaced by what the document takes. */
function withKnownDifferences(body: string): string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return body;
  }
  const visit = (value: unknown, path: string): unknown => {
    const known = DOCUMENT_DIFFERENCES.findIndex(
      (entry) => entry.path.test(path) && Object.is(entry.recorded, value),
    );
    if (known !== -1) {
      differencesSeen.add(known);
      return DOCUMENT_DIFFERENCES[known]?.standIn;
    }
    if (Array.isArray(value)) return value.map((item, index) => visit(item, `${path}/${index}`));
    if (typeof value === "object" && value !== null)
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, visit(item, `${path}/${key}`)]),
      );
    return value;
  };
  return JSON.stringify(visit(json, ""));
}

afterAll(() => {
  // Only meaningful when the whole file ran (not under -t).
  if (differencesSeen.size === 0) return;
  expect(DOCUMENT_DIFFERENCES.filter((_, index) => !differencesSeen.has(index))).toEqual([]);
});

describe.each(NOMAD_VERSIONS)("every answer recorded from Nomad %s fits the OpenAPI document", (version) => {
  const recorded = new Recordings(version);
  const operations = Object.entries(RECORDED_OPERATIONS).filter(([file]) =>
    recorded.names(".http").includes(file),
  );

  it("names an operation, or the reason it has none, for every recorded .http file", () => {
    const named = recorded.names(".http").filter((file) => file in RECORDED_OPERATIONS);
    const elsewhere = recorded.names(".http").filter((file) => file in RECORDED_ELSEWHERE);
    expect([...named, ...elsewhere].sort()).toEqual(recorded.names(".http"));
  });

  it.each(operations)("%s is a documented answer of %s", (file, operationId) => {
    const response = recorded.http(file);
    const body = withKnownDifferences(response.body);
    // A stream is read line by line: an answer with no line yet (Nomad 2.0.5 refusing a subscription) has none to check.
    if (operationId === "streamEvents" && response.status === 200) {
      const lines = body.split("\n").filter((line) => line !== "");
      expect(lines.flatMap((line) => contract.lineProblems(operationId, line))).toEqual([]);
      expect(contract.problems(operationId, { ...response, body: "" }).filter(isHeaderProblem)).toEqual([]);
      return;
    }
    expect(contract.problems(operationId, { ...response, body })).toEqual([]);
  });
});

function isHeaderProblem(problem: string): boolean {
  return problem.startsWith("header ");
}

describe.each(NOMAD_VERSIONS)(
  "every stream line recorded from Nomad %s fits the document and the project's NDJSON decoder",
  (version) => {
    const recorded = new Recordings(version);

    it.each(recorded.names(".ndjson"))("%s", (file) => {
      const lines = recorded.stream(file);
      const items = lines.flatMap((line) => new NdjsonDecoder().push(`${line}\n`));
      expect(items).toHaveLength(lines.length);
      for (const [index, line] of lines.entries()) {
        if (!line.startsWith("{")) continue;
        const where = `${file}:${index + 1}`;
        expect(contract.lineProblems("streamEvents", withKnownDifferences(line)), where).toEqual([]);
      }
      expect(items.filter((item) => item.kind === "garbage")).toEqual([]);
      expect(items[0]).toEqual({ kind: "heartbeat" });
    });

    // Nomad 1.6.5 ends the stream of a deleted token with a plain-text line; 2.0.5 leaves it open.
    const lastOfRevoked =
      version === "1.6.5"
        ? { kind: "closed-by-server", message: "subscription closed by server, client should resubscribe" }
        : { kind: "batch" };
    it(`decodes the token-revoked stream's last line as ${lastOfRevoked.kind}`, () => {
      const decoder = new NdjsonDecoder();
      const items = recorded
        .stream("event-stream-token-revoked.ndjson")
        .flatMap((line) => decoder.push(`${line}\n`));
      expect(items.at(-1)).toMatchObject(lastOfRevoked);
    });

    it("decodes every batch of the recorded stream with its raft index, in order", () => {
      const decoder = new NdjsonDecoder();
      const items: StreamItem[] = decoder.push(recorded.stream("event-stream.ndjson").join("\n"));
      items.push(...decoder.end());
      const indexes = items.flatMap((item) => (item.kind === "batch" ? [item.index] : []));
      expect(indexes.length).toBeGreaterThan(10);
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    });

    // Recorded from Nomad 1.6.5 only.
    if (version !== "1.6.5") return;
    it("decodes the last line of a stream cut by a server outage (`EOF`)", () => {
      const [batch = "", last = ""] = recorded.text("server-outage-stream-end.txt");
      expect(last).toBe("EOF");
      const decoder = new NdjsonDecoder();
      // The first recorded line is the tail of a long batch line: only the JSON end of it was kept.
      expect(batch.endsWith('"Index":50}')).toBe(true);
      // Not garbage to warn about: the end of a stream whose server went away.
      expect(decoder.push(`${last}\n`)).toEqual([{ kind: "server-gone" }]);
    });
  },
);

describe.each(NOMAD_VERSIONS)("the generated client takes every answer recorded from Nomad %s", (version) => {
  const recorded = new Recordings(version);
  // A server that answers each request with the recording the test names, byte for byte (but chunking).
  let next: RecordedResponse | undefined;
  const server = http.createServer((request, response) => {
    request.resume();
    const recorded = next;
    if (!recorded) return void response.writeHead(599).end();
    const headers = Object.entries(recorded.headers).filter(
      ([name]) => !["content-length", "transfer-encoding", "date"].includes(name),
    );
    response.writeHead(recorded.status, recorded.statusText, Object.fromEntries(headers));
    response.end(recorded.body);
  });
  let client: ReturnType<typeof createClient>;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    client = createClient({ baseURL: `http://127.0.0.1:${port}`, throwOnError: true, auth: () => "token" });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const path = { node_id: "node", alloc_id: "alloc", job_id: "fx-host", var_path: "nomad/jobs/x" };
  const scale = { Count: 0, Target: { Group: "web" }, Message: "idle" };
  const calls: Record<string, () => Promise<{ data: unknown; status: number }>> = {
    listNodeAllocations: () => sdk.listNodeAllocations({ client, path }),
    getAllocation: () => sdk.getAllocation({ client, path }),
    getJob: () => sdk.getJob({ client, path }),
    stopJob: () => sdk.stopJob({ client, path }),
    listJobAllocations: () => sdk.listJobAllocations({ client, path }),
    getJobScaleStatus: () => sdk.getJobScaleStatus({ client, path }),
    scaleTaskGroup: () => sdk.scaleTaskGroup({ client, path, body: scale }),
    readVariable: () => sdk.readVariable({ client, path }),
    writeVariable: () => sdk.writeVariable({ client, path, query: { cas: 0 }, body: { Items: { a: "b" } } }),
    deleteVariable: () => sdk.deleteVariable({ client, path, query: { cas: 1 } }),
    listVariables: () => sdk.listVariables({ client, query: { prefix: "nomad/jobs" } }),
    streamEvents: () => sdk.streamEvents({ client, query: { topic: ["Job"] } }),
  };

  const operations = Object.entries(RECORDED_OPERATIONS).filter(([file]) =>
    recorded.names(".http").includes(file),
  );
  it.each(operations)("%s through %s", async (file, operationId) => {
    next = recorded.http(file);
    const call = calls[operationId];
    if (!call) throw new Error(`no client call for ${operationId}`);
    const outcome = await call().catch((error: unknown) => error);
    const json = (() => {
      try {
        return JSON.parse(next.body) as unknown;
      } catch {
        return undefined;
      }
    })();
    if (next.status < 300) {
      // JSON parsed; a body with no JSON (a stream that sent nothing) as it came.
      expect(outcome).toMatchObject({ status: next.status, data: json ?? next.body });
      return;
    }
    // Errors reject with the status and the body: plain text as it came, a 409's Variable parsed.
    if (!isAxiosError(outcome)) throw new Error(`${file}: expected a rejection, got ${String(outcome)}`);
    expect([outcome.response?.status, outcome.response?.data]).toEqual([next.status, json ?? next.body]);
  });
});

describe.each(NOMAD_VERSIONS)(
  "the project's parsers take the jobs and allocations recorded from Nomad %s",
  (version) => {
    const recorded = new Recordings(version);
    const json = <T>(file: string) => JSON.parse(recorded.http(file).body) as T;
    const defaults = { timeoutMs: 900_000, thresholdBytes: 500, checkIntervalMs: 60_000, timezone: "UTC" };

    it("node-allocations.http: the node's running allocations, each with its job, as the view knows them", () => {
      const list = json<Allocation[]>("node-allocations.http");
      const { NodeID: nodeId } = json<Allocation>("allocation-host-mode.http");
      const view = new NodeAllocations(nodeId);
      view.reconcile(list);
      const running = list.filter(
        (alloc) => alloc.DesiredStatus === "run" && alloc.ClientStatus === "running",
      );
      expect(running.length).toBeGreaterThan(0);
      expect(
        view
          .live()
          .map((alloc) => [alloc.id, alloc.job?.ID])
          .sort(),
      ).toEqual(running.map((alloc) => [alloc.ID, alloc.JobID]).sort());
    });

    it("job.http: the opted-in group's policy from the job's meta", () => {
      const policy = groupPolicy(json<Job>("job.http"), "web", defaults);
      expect(policy).toMatchObject({ kind: "opted-in", policy: { timeoutMs: 3_600_000, action: "stop" } });
    });

    // The check budget's input (signals/check-budget.ts): a Nomad-native service with an HTTP check,
    // recorded from Nomad 2.0.5 only.
    if (version !== "2.0.5") return;
    it("job-with-service-check.http: the group's HTTP check, its interval from nanoseconds", () => {
      expect(groupChecks(json<Job>("job-with-service-check.http"), "monitor")).toEqual([
        { service: "idle-monitor", name: "ready", type: "http", intervalMs: 10_000 },
      ]);
    });
  },
);

// What each version's recording holds: both a host-mode task, 1.6.5 a bridge-mode pause container too.
const RECORDED_NET_DEV = { "1.6.5": [946 + 0, 666 + 42], "2.0.5": [726 + 0] };

describe.each(NOMAD_VERSIONS)("the /proc files recorded with Nomad %s", (version) => {
  /** `proc-of-a-task.txt`: sections, each a `# <what>` line and the file's content. */
  const sections = new Recordings(version)
    .read("proc-of-a-task.txt")
    .split(/^# /m)
    .filter((section) => section !== "")
    .map((section) => {
      const [title = "", ...lines] = section.split("\n");
      return { title, content: lines.join("\n") };
    });

  it("net/dev of a host-mode task (and of a bridge-mode pause container): eth0's Rx+Tx, never lo", () => {
    const netDevs = sections.filter((section) => section.title.includes("net/dev"));
    expect(netDevs.map((section) => externalTrafficBytes(section.content))).toEqual(
      RECORDED_NET_DEV[version],
    );
  });

  it("cgroup (v1) of each names its container by full ID, as the monitor's PID check expects", () => {
    const cgroups = sections.filter((section) => section.title.includes("/cgroup"));
    expect(cgroups).toHaveLength(RECORDED_NET_DEV[version].length);
    for (const { content } of cgroups) expect(content).toMatch(/^\d+:[^:]*:\/docker\/[0-9a-f]{64}$/m);
  });
});

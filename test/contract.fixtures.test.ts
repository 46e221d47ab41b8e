import http from "node:http";
import type { AddressInfo } from "node:net";
import { isAxiosError } from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { externalTrafficBytes } from "../src/docker/net-dev.js";
import { createClient } from "../src/nomad/generated/client/index.js";
import * as sdk from "../src/nomad/generated/sdk.gen.js";
import { NdjsonDecoder, type StreamItem } from "../src/nomad/ndjson.js";
import { RECORDED_OPERATIONS } from "./contract/recorded-operations.js";
import {
  type RecordedResponse,
  readHttpRecording,
  readRecording,
  readStreamRecording,
  readTextRecording,
  recordingNames,
} from "./contract/recordings.js";
import { OpenApiContract } from "./sim/contract.js";

// The recordings of a real Nomad 1.6.5 agent (test/fixtures/nomad-1.6.5) are the ground truth: the
// OpenAPI document, the generated client's types and the project's stream parser must take them.

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

describe("every recorded answer fits the OpenAPI document", () => {
  it("names an operation for every recorded .http file", () => {
    expect(recordingNames(".http")).toEqual(Object.keys(RECORDED_OPERATIONS).sort());
  });

  it.each(Object.entries(RECORDED_OPERATIONS))("%s is a documented answer of %s", (file, operationId) => {
    const response = readHttpRecording(file);
    const body = withKnownDifferences(response.body);
    expect(contract.problems(operationId, { ...response, body })).toEqual([]);
  });
});

describe("every recorded stream line fits the document and the project's NDJSON decoder", () => {
  it.each(recordingNames(".ndjson"))("%s", (file) => {
    const lines = readStreamRecording(file);
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

  it("decodes the token-revoked stream's plain-text last line as closed by the server", () => {
    const decoder = new NdjsonDecoder();
    const items = readStreamRecording("event-stream-token-revoked.ndjson").flatMap((line) =>
      decoder.push(`${line}\n`),
    );
    expect(items.at(-1)).toMatchObject({
      kind: "closed-by-server",
      message: "subscription closed by server, client should resubscribe",
    });
  });

  it("decodes every batch of the recorded stream with its raft index, in order", () => {
    const decoder = new NdjsonDecoder();
    const items: StreamItem[] = decoder.push(readStreamRecording("event-stream.ndjson").join("\n"));
    items.push(...decoder.end());
    const indexes = items.flatMap((item) => (item.kind === "batch" ? [item.index] : []));
    expect(indexes.length).toBeGreaterThan(10);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  });

  it("decodes the last line of a stream cut by a server outage (`EOF`)", () => {
    const [batch = "", last = ""] = readTextRecording("server-outage-stream-end.txt");
    expect(last).toBe("EOF");
    const decoder = new NdjsonDecoder();
    // The first recorded line is the tail of a long batch line: only the JSON end of it was kept.
    expect(batch.endsWith('"Index":50}')).toBe(true);
    // Not garbage to warn about: the end of a stream whose server went away.
    expect(decoder.push(`${last}\n`)).toEqual([{ kind: "server-gone" }]);
  });
});

describe("the generated client takes every recorded answer", () => {
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

  it.each(Object.entries(RECORDED_OPERATIONS))("%s through %s", async (file, operationId) => {
    next = readHttpRecording(file);
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
      expect(outcome).toMatchObject({ status: next.status, data: json });
      return;
    }
    // Errors reject with the status and the body: plain text as it came, a 409's Variable parsed.
    if (!isAxiosError(outcome)) throw new Error(`${file}: expected a rejection, got ${String(outcome)}`);
    expect([outcome.response?.status, outcome.response?.data]).toEqual([next.status, json ?? next.body]);
  });
});

describe("the recorded /proc files", () => {
  /** `proc-of-a-task.txt`: sections, each a `# <what>` line and the file's content. */
  const sections = readRecording("proc-of-a-task.txt")
    .split(/^# /m)
    .filter((section) => section !== "")
    .map((section) => {
      const [title = "", ...lines] = section.split("\n");
      return { title, content: lines.join("\n") };
    });

  it("net/dev of a host-mode task and of a bridge-mode pause container: eth0's Rx+Tx, never lo", () => {
    const netDevs = sections.filter((section) => section.title.includes("net/dev"));
    expect(netDevs.map((section) => externalTrafficBytes(section.content))).toEqual([946 + 0, 666 + 42]);
  });

  it("cgroup (v1) of each names its container by full ID, as the monitor's PID check expects", () => {
    const cgroups = sections.filter((section) => section.title.includes("/cgroup"));
    expect(cgroups).toHaveLength(2);
    for (const { content } of cgroups) expect(content).toMatch(/^\d+:[^:]*:\/docker\/[0-9a-f]{64}$/m);
  });
});

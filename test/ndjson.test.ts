import { describe, expect, it } from "vitest";
import { NdjsonDecoder, type StreamItem } from "./contract/ndjson.js";

const event = {
  Topic: "Allocation",
  Type: "AllocationUpdated",
  Key: "8f3c2a1e-0000-4000-8000-000000000001",
  Namespace: "default",
  FilterKeys: ["web", ""],
  Index: 42,
  Payload: {
    Allocation: { ID: "8f3c2a1e-0000-4000-8000-000000000001", Name: "web.app[0] — café ☕", Job: null },
  },
};
const batchLine = JSON.stringify({ Index: 42, Events: [event] });
const batch: StreamItem = { kind: "batch", index: 42, events: [event] };

function decodeAll(chunks: Array<Buffer | string>): StreamItem[] {
  const decoder = new NdjsonDecoder();
  return [...chunks.flatMap((chunk) => decoder.push(chunk)), ...decoder.end()];
}

function bytewise(text: string): Buffer[] {
  return [...Buffer.from(text, "utf8")].map((byte) => Buffer.from([byte]));
}

describe("NdjsonDecoder", () => {
  const cases: Array<{ name: string; body: string; expected: StreamItem[] }> = [
    { name: "heartbeat", body: "{}\n", expected: [{ kind: "heartbeat" }] },
    { name: "batch", body: `${batchLine}\n`, expected: [batch] },
    {
      name: "heartbeat, batch, heartbeat",
      body: `{}\n${batchLine}\n{}\n`,
      expected: [{ kind: "heartbeat" }, batch, { kind: "heartbeat" }],
    },
    { name: "CRLF line ends", body: `{}\r\n${batchLine}\r\n`, expected: [{ kind: "heartbeat" }, batch] },
    { name: "blank lines are ignored", body: `\n\r\n  \n{}\n\n`, expected: [{ kind: "heartbeat" }] },
    {
      name: "final line without newline counts at end",
      body: `{}\n${batchLine}`,
      expected: [{ kind: "heartbeat" }, batch],
    },
    {
      name: "batch with no events, empty or null",
      body: '{"Index":7,"Events":[]}\n{"Index":8,"Events":null}\n',
      expected: [
        { kind: "batch", index: 7, events: [] },
        { kind: "batch", index: 8, events: [] },
      ],
    },
    {
      name: "resubscribe close line",
      body: `{}\nsubscription closed by server, client should resubscribe\n`,
      expected: [
        { kind: "heartbeat" },
        {
          kind: "closed-by-server",
          message: "subscription closed by server, client should resubscribe",
          authProblem: false,
        },
      ],
    },
    {
      name: "expired token close line, without final newline",
      body: `${batchLine}\nACL token expired`,
      expected: [batch, { kind: "closed-by-server", message: "ACL token expired", authProblem: true }],
    },
    {
      name: "permission close line",
      body: "Permission denied\n",
      expected: [{ kind: "closed-by-server", message: "Permission denied", authProblem: true }],
    },
    {
      name: "token not found close line",
      body: "rpc error: ACL token not found\n",
      expected: [{ kind: "closed-by-server", message: "rpc error: ACL token not found", authProblem: true }],
    },
    {
      name: "truncated JSON is garbage",
      body: '{"Index":42,"Ev\n',
      expected: [{ kind: "garbage", line: '{"Index":42,"Ev' }],
    },
    {
      name: "unrelated text is garbage",
      body: "<html>Bad Gateway</html>\n",
      expected: [{ kind: "garbage", line: "<html>Bad Gateway</html>" }],
    },
    {
      name: "JSON of another shape is garbage",
      body: '{"Index":"42","Events":[]}\n{"Index":1}\n[1,2]\n',
      expected: [
        { kind: "garbage", line: '{"Index":"42","Events":[]}' },
        { kind: "garbage", line: '{"Index":1}' },
        { kind: "garbage", line: "[1,2]" },
      ],
    },
    {
      name: "garbage does not stop the stream",
      body: `nonsense\n{}\n`,
      expected: [{ kind: "garbage", line: "nonsense" }, { kind: "heartbeat" }],
    },
    { name: "empty body", body: "", expected: [] },
  ];

  it.each(cases)("$name", ({ body, expected }) => {
    expect(decodeAll([body])).toEqual(expected);
  });

  it.each(cases)("$name, fed byte by byte", ({ body, expected }) => {
    expect(decodeAll(bytewise(body))).toEqual(expected);
  });

  it("joins a line split across chunks and returns items as soon as their line is complete", () => {
    const decoder = new NdjsonDecoder();
    const cut = batchLine.length / 2;
    expect(decoder.push(`{}\n${batchLine.slice(0, cut)}`)).toEqual([{ kind: "heartbeat" }]);
    expect(decoder.push(batchLine.slice(cut, -1))).toEqual([]);
    expect(decoder.push(`${batchLine.slice(-1)}\n{`)).toEqual([batch]);
    expect(decoder.push("}")).toEqual([]);
    expect(decoder.end()).toEqual([{ kind: "heartbeat" }]);
  });

  it("keeps a multi-byte character split across chunks intact", () => {
    const bytes = Buffer.from(`${batchLine}\n`, "utf8");
    const coffee = bytes.indexOf(Buffer.from("☕", "utf8"));
    for (const cut of [coffee + 1, coffee + 2]) {
      expect(decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual([batch]);
    }
  });

  it("shortens long garbage for the log", () => {
    const [item] = decodeAll([`${"x".repeat(5_000)}\n`]);
    expect(item?.kind).toBe("garbage");
    expect(item?.kind === "garbage" && item.line.length).toBeLessThanOrEqual(201);
  });
});

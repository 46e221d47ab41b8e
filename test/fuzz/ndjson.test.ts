import { describe, expect, it } from "vitest";
import { NdjsonDecoder, type StreamItem } from "../contract/ndjson.js";
import { fc } from "./fc.js";

const NEWLINE = 0x0a;

function decode(chunks: readonly Uint8Array[]): { pushed: StreamItem[][]; ended: StreamItem[] } {
  const decoder = new NdjsonDecoder();
  const pushed = chunks.map((chunk) => decoder.push(Buffer.from(chunk)));
  return { pushed, ended: decoder.end() };
}

function decodeAll(chunks: readonly Uint8Array[]): StreamItem[] {
  const { pushed, ended } = decode(chunks);
  return [...pushed.flat(), ...ended];
}

/** `bytes` cut at arbitrary places: inside lines, inside multi-byte characters, empty chunks included. */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const ends = [...cuts.map((cut) => cut % (bytes.length + 1)), bytes.length].sort((a, b) => a - b);
  return ends.map((end, i) => bytes.subarray(i === 0 ? 0 : ends[i - 1], end));
}

const cuts = fc.array(fc.nat(), { maxLength: 10 });
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));

// What Nomad sends: batches and heartbeats, one per line, LF or CRLF, blank lines between.
interface Line {
  text: string;
  item: StreamItem | undefined;
}
/** Events as they come back out of JSON (no -0, no undefined). */
const events = fc
  .option(fc.array(fc.jsonValue({ maxDepth: 2, stringUnit: "binary" }), { maxLength: 4 }), { nil: null })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown[] | null);
const batchLine: fc.Arbitrary<Line> = fc
  .tuple(fc.oneof(fc.nat(), fc.maxSafeNat()), events, fc.boolean())
  .map(([index, events, indexFirst]) => ({
    text: JSON.stringify(indexFirst ? { Index: index, Events: events } : { Events: events, Index: index }),
    item: { kind: "batch", index, events: events ?? [] },
  }));
const heartbeatLine: fc.Arbitrary<Line> = fc
  .constantFrom("{}", "{ }", "{\t}")
  .map((text) => ({ text, item: { kind: "heartbeat" } }));
const blankLine: fc.Arbitrary<Line> = fc
  .constantFrom("", " ", "\r", "\t ")
  .map((text) => ({ text, item: undefined }));
const nomadLine = fc
  .tuple(
    fc.oneof(batchLine, heartbeatLine, blankLine),
    fc.constantFrom("", " "),
    fc.constantFrom("\n", "\r\n"),
  )
  .map(([line, padding, end]) => ({ ...line, text: `${padding}${line.text}${padding}`, end }));

/** A body of Nomad's lines, the last one with or without its line end; and the items it holds. */
const nomadBody = fc.tuple(fc.array(nomadLine, { maxLength: 8 }), fc.boolean()).map(([lines, lastEnded]) => ({
  bytes: utf8(
    lines.map((line, i) => line.text + (i < lines.length - 1 || lastEnded ? line.end : "")).join(""),
  ),
  items: lines.flatMap((line) => (line.item === undefined ? [] : [line.item])),
}));

/** Bytes of every kind: arbitrary ones, rich in newlines and UTF-8 lead and continuation bytes, and text. */
const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .array(
      fc.oneof(
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(0x0a, 0x0d, 0x7b, 0x7d, 0xc3, 0xe2, 0xf0, 0x9f, 0x98, 0x80),
      ),
      {
        maxLength: 300,
      },
    )
    .map((bytes) => new Uint8Array(bytes)),
  fc.string({ unit: "binary", maxLength: 100 }).map(utf8),
  nomadBody.map((body) => body.bytes),
);

/** The spec of one line, independent of how the decoder gets there. */
function expectedKind(line: string): "none" | "heartbeat" | "batch" | "not JSON of the stream" {
  const trimmed = line.trim();
  if (trimmed === "") return "none";
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return "not JSON of the stream";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not JSON of the stream";
  if (Object.keys(value).length === 0) return "heartbeat";
  const { Index, Events } = value as Record<string, unknown>;
  return typeof Index === "number" && (Array.isArray(Events) || Events === null)
    ? "batch"
    : "not JSON of the stream";
}

/** Lines that are nearly what Nomad sends: a batch or heartbeat with a character cut, dropped or added. */
const nearMiss = fc
  .tuple(
    fc.oneof(batchLine, heartbeatLine),
    fc.nat(),
    fc.constantFrom("cut", "drop", "add"),
    fc.constantFrom(...'{}[]",:0-.e \\aI'),
  )
  .map(([{ text }, at, how, char]) => {
    const i = at % (text.length + 1);
    if (how === "cut") return text.slice(0, i);
    if (how === "drop") return text.slice(0, i) + text.slice(i + 1);
    return text.slice(0, i) + char + text.slice(i);
  });
const otherJson = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value)),
  fc
    .dictionary(
      fc.constantFrom("Index", "Events", "Topic", "index", "events"),
      fc.jsonValue({ maxDepth: 1 }),
      {
        minKeys: 1,
      },
    )
    .map((value) => JSON.stringify(value)),
);
/** One line as it arrives: without a line feed, and as UTF-8 has it (a cut surrogate pair becomes U+FFFD). */
const anyLine = fc
  .oneof(fc.string({ unit: "binary", maxLength: 300 }), nearMiss, otherJson)
  .map((line) => Buffer.from(line.replaceAll("\n", ""), "utf8").toString("utf8"));

describe("NdjsonDecoder, properties", () => {
  it("gives the same items for a body cut anywhere, even inside a UTF-8 character, as for the whole body", () => {
    fc.assert(
      fc.property(anyBytes, cuts, (bytes, at) => {
        expect(decodeAll(split(bytes, at))).toEqual(decodeAll([bytes]));
      }),
    );
  });

  it("gives back Nomad's batches and heartbeats, in order, however the body is cut", () => {
    fc.assert(
      fc.property(nomadBody, cuts, (body, at) => {
        expect(decodeAll(split(body.bytes, at))).toEqual(body.items);
      }),
    );
  });

  it("gives each item as soon as its line end arrives, and the last line without one at end()", () => {
    fc.assert(
      fc.property(nomadBody, cuts, (body, at) => {
        const chunks = split(body.bytes, at);
        const { pushed, ended } = decode(chunks);
        let received = 0;
        chunks.forEach((_, i) => {
          const sofar = Buffer.concat(chunks.slice(0, i + 1));
          const complete = sofar.subarray(0, sofar.lastIndexOf(NEWLINE) + 1);
          expect(pushed.slice(0, i + 1).flat()).toEqual(decodeAll([complete]));
          received += pushed[i]?.length ?? 0;
        });
        expect(ended).toEqual(body.items.slice(received));
        expect(ended.length).toBeLessThanOrEqual(1);
        if (body.bytes.at(-1) === NEWLINE) expect(ended).toEqual([]);
      }),
    );
  });

  it("never throws, whatever the bytes, and gives only well-formed items", () => {
    fc.assert(
      fc.property(anyBytes, cuts, (bytes, at) => {
        for (const item of decodeAll(split(bytes, at))) {
          if (item.kind === "batch") expect(Array.isArray(item.events)).toBe(true);
          if (item.kind === "garbage") expect(item.line.length).toBeLessThanOrEqual(201);
        }
      }),
    );
  });

  it("reports a line as a batch or heartbeat exactly when it is one, and any other JSON as garbage", () => {
    fc.assert(
      fc.property(anyLine, fc.constantFrom("\n", "\r\n", ""), (line, end) => {
        const items = decodeAll([utf8(line + end)]);
        const kind = expectedKind(line);
        if (kind === "none") {
          expect(items).toEqual([]);
          return;
        }
        expect(items).toHaveLength(1);
        const [item] = items as [StreamItem];
        if (kind === "heartbeat") expect(item).toEqual({ kind: "heartbeat" });
        else if (kind === "batch") {
          const { Index, Events } = JSON.parse(line) as { Index: number; Events: unknown[] | null };
          expect(item).toEqual({ kind: "batch", index: Index, events: Events ?? [] });
        } else {
          expect(item.kind).not.toBe("batch");
          expect(item.kind).not.toBe("heartbeat");
          if (line.trim().startsWith("{")) expect(item.kind).toBe("garbage");
          if (item.kind === "garbage") {
            const trimmed = line.trim();
            expect(item.line).toBe(trimmed.length > 200 ? `${trimmed.slice(0, 200)}…` : trimmed);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

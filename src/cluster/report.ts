import type { NodeReport, PeerEvidence } from "../model/cluster.js";

export type ReportItems = Record<string, string>;

/**
 * What must reach the Variables at once when it changes: the cooldowns, which a restart right after an
 * action must find. Everything else waits for the heartbeat (or goes out each cycle of a decision).
 */
export function digestOf(report: NodeReport): string {
  return JSON.stringify(Object.entries(report.cooldowns).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * What node `nodeId`'s report, written at most `ageMs` ago, says about each of its allocations. A quiet
 * allocation counts only if written within `freshMs` (its monitor alive at decision time); anything else
 * counts while its writer keeps its heartbeat (`aliveMs`). What does not count is stale, with what it said.
 * A quiet time is the one written, never extended on this node's clock.
 */
export function evidenceOf(
  nodeId: string,
  report: NodeReport,
  ageMs: number | undefined,
  bounds: { freshMs: number; aliveMs: number },
): PeerEvidence[] {
  return Object.entries(report.allocs).map(([allocId, record]): PeerEvidence => {
    const idleForMs =
      record.state === "quiet" ? (record.quietForMs ?? 0) : record.state === "active" ? 0 : undefined;
    const within = record.state === "quiet" ? bounds.freshMs : bounds.aliveMs;
    if (ageMs === undefined || ageMs > within)
      return {
        nodeId,
        allocId,
        state: "stale",
        idleForMs: undefined,
        ageMs,
        reported: { state: record.state, idleForMs },
      };
    return { nodeId, allocId, state: record.state, idleForMs, ageMs };
  });
}

// nomad-api-notes.md: a Variable holds at most 64 KiB, counted as the sum of its items' key and value
// lengths; more is refused for good. A report is split into parts well below that.
export const PART_CHARS = 60_000;

/** The report as the items of one or more Variables; `generation` tells a whole set from a half-written one. */
export function encodeReport(report: NodeReport, generation: number, partChars = PART_CHARS): ReportItems[] {
  return encodeParts("report", report, generation, partChars);
}

/** The report from all its parts, or undefined while they do not form one whole generation (or are not a report). */
export function assembleReport(parts: ReadonlyArray<ReportItems | undefined>): NodeReport | undefined {
  const report = assembleParts("report", parts) as Partial<NodeReport> | undefined;
  if (report?.v !== 1 || typeof report.nodeId !== "string" || typeof report.heartbeatMs !== "number")
    return undefined;
  if (typeof report.allocs !== "object" || report.allocs === null) return undefined;
  return { cooldowns: {}, writtenAt: 0, ...report } as NodeReport;
}

/** Any JSON value as the items of one or more Variables, under the item `key`. */
export function encodeParts(
  key: string,
  value: unknown,
  generation: number | string,
  partChars = PART_CHARS,
): ReportItems[] {
  // Non-ASCII escaped, so that characters are bytes and a part's size is its length.
  const json = JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  const chunks: string[] = [];
  for (let start = 0; start < json.length; start += partChars)
    chunks.push(json.slice(start, start + partChars));
  return chunks.map((chunk, part) => ({
    [key]: chunk,
    part: String(part),
    parts: String(chunks.length),
    generation: String(generation),
  }));
}

/** The value from all its parts, or undefined while they do not form one whole generation of JSON. */
export function assembleParts(key: string, parts: ReadonlyArray<ReportItems | undefined>): unknown {
  const [first] = parts;
  if (!first) return undefined;
  const { parts: count, generation } = first;
  if (Number(count) !== parts.length) return undefined;
  let json = "";
  for (const [index, part] of parts.entries()) {
    if (!part || part.generation !== generation || part.parts !== count || part.part !== String(index))
      return undefined;
    json += part[key] ?? "";
  }
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

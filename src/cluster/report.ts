import type { NodeReport, PeerEvidence } from "../model/cluster.js";

export type ReportItems = Record<string, string>;

/** What other nodes rely on: the allocations, their states, when quiet ones went quiet, and the cooldowns. */
export function digestOf(report: NodeReport): string {
  const allocs = Object.entries(report.allocs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, record]) => [id, record.state, record.state === "quiet" ? record.quietSince : null]);
  return JSON.stringify([allocs, report.cooldowns]);
}

/**
 * What node `nodeId`'s report says about each of its allocations, seen `ageMs` after it was first read
 * whole (a quiet allocation has been quiet that much longer); undefined: the report is stale, and says
 * nothing.
 */
export function evidenceOf(nodeId: string, report: NodeReport, ageMs: number | undefined): PeerEvidence[] {
  return Object.entries(report.allocs).map(([allocId, record]): PeerEvidence => {
    if (ageMs === undefined) return { nodeId, allocId, state: "stale", idleForMs: undefined };
    if (record.state === "quiet")
      return { nodeId, allocId, state: "quiet", idleForMs: (record.quietForMs ?? 0) + ageMs };
    return { nodeId, allocId, state: record.state, idleForMs: record.state === "active" ? 0 : undefined };
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

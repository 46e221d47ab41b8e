import { createHash } from "node:crypto";

// nomad-api-notes.md "Variables": paths allow only a-z A-Z 0-9 - _ ~ /, 1 to 128 characters.
const MAX_PATH = 128;
const PLAIN = /[a-zA-Z0-9_-]/;

/**
 * One path segment for any text (a job ID may hold almost anything): characters outside the allowed set,
 * `/` and `~` included, become `~XX` per UTF-8 byte. A segment that would not fit is replaced by `~h`
 * and a SHA-256 digest, the same on every node.
 */
export function encodeSegment(text: string, maxLength: number): string {
  let encoded = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const char = String.fromCharCode(byte);
    encoded += PLAIN.test(char) ? char : `~${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (encoded.length > 0 && encoded.length <= maxLength) return encoded;
  return `~h${createHash("sha256").update(text).digest("hex")}`.slice(0, maxLength);
}

/** The inverse of `encodeSegment` for segments that were not digested. */
export function decodeSegment(segment: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    if (segment[i] === "~") {
      bytes.push(Number.parseInt(segment.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(segment.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * Where the monitors keep what they share, under their own job's path (`nomad/jobs/<monitor job>`), in
 * the monitor's namespace: a task's workload identity can be allowed exactly that subtree.
 *
 * - `<root>/activity/<node>/<part>`: each node's report, written by that node only;
 * - `<root>/claims/<job>`: a claim on one action, written with check-and-set by the node that acts;
 * - `<root>/wake/<job>/<part>`: what the monitor stopped or scaled, to bring it back (it outlives the
 *   allocations; it may hold a job's specification, so the read-only status policy does not reach it);
 * - `<root>/leases/<name>`: held by one monitor at a time, with its expiry in its items.
 */
export class StatePaths {
  constructor(readonly root: string) {}

  get all(): string {
    return `${this.root}/`;
  }

  get activity(): string {
    return `${this.root}/activity/`;
  }

  get claims(): string {
    return `${this.root}/claims/`;
  }

  /** The prefix of one node's report parts. */
  reportsOf(nodeId: string): string {
    return `${this.activity}${encodeSegment(nodeId, MAX_PATH - this.activity.length - 4)}/`;
  }

  reportPart(nodeId: string, part: number): string {
    return `${this.reportsOf(nodeId)}${part}`;
  }

  /** The node and part of a report path, or undefined for any other path. */
  parseReportPart(path: string): { nodeId: string; part: number } | undefined {
    if (!path.startsWith(this.activity)) return undefined;
    const [node, part, ...rest] = path.slice(this.activity.length).split("/");
    if (node === undefined || part === undefined || rest.length > 0 || !/^\d+$/.test(part)) return undefined;
    return { nodeId: decodeSegment(node), part: Number(part) };
  }

  claim(namespace: string, jobId: string): string {
    return `${this.claims}${encodeSegment(`${namespace}/${jobId}`, MAX_PATH - this.claims.length)}`;
  }

  isClaim(path: string): boolean {
    return path.startsWith(this.claims);
  }

  get wake(): string {
    return `${this.root}/wake/`;
  }

  /** Where what is needed to bring a job back is kept, in parts; not reached by the status policy. */
  wakeRecordOf(namespace: string, jobId: string): string {
    return `${this.wake}${encodeSegment(`${namespace}/${jobId}`, MAX_PATH - this.wake.length - 4)}/`;
  }

  /** A lease one monitor of the cluster holds at a time (`start-at` of jobs that run nowhere). */
  lease(name: string): string {
    return `${this.root}/leases/${name}`;
  }
}

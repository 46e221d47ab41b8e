import { StringDecoder } from "node:string_decoder";

export type StreamItem =
  | { kind: "heartbeat" }
  | { kind: "batch"; index: number; events: unknown[] }
  | { kind: "closed-by-server"; message: string; authProblem: boolean }
  /** A client agent's stream ends with the plain-text line `EOF` when its server went away. */
  | { kind: "server-gone" }
  | { kind: "garbage"; line: string };

const LOGGED_LINE_CHARS = 200;

// The plain-text last line Nomad writes when it ends a subscription that already answered 200
// (nomad-api-notes.md "Event stream"), e.g. "subscription closed by server, client should resubscribe"
// or "ACL token expired".
const CLOSE_LINE = /subscription closed|resubscribe|ACL|token|permission denied/i;
const AUTH_PROBLEM = /ACL|token|permission/i;

/** Frames the body of `/v1/event/stream` (newline-delimited JSON) into items, across arbitrary chunks. */
export class NdjsonDecoder {
  readonly #text = new StringDecoder("utf8");
  #partialLine: string[] = [];

  push(chunk: Buffer | string): StreamItem[] {
    return this.#lines(typeof chunk === "string" ? chunk : this.#text.write(chunk));
  }

  /** The body ended: a last line without a newline still counts. */
  end(): StreamItem[] {
    const items = this.#lines(this.#text.end());
    const last = this.#partialLine.join("");
    this.#partialLine = [];
    const item = parseLine(last);
    return item === undefined ? items : [...items, item];
  }

  #lines(text: string): StreamItem[] {
    const items: StreamItem[] = [];
    let start = 0;
    for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", start)) {
      this.#partialLine.push(text.slice(start, newline));
      const item = parseLine(this.#partialLine.join(""));
      this.#partialLine = [];
      if (item !== undefined) items.push(item);
      start = newline + 1;
    }
    if (start < text.length) this.#partialLine.push(text.slice(start));
    return items;
  }
}

function parseLine(raw: string): StreamItem | undefined {
  const line = raw.trim();
  if (line === "") return undefined;
  if (line === "EOF") return { kind: "server-gone" };
  if (!line.startsWith("{")) {
    if (!CLOSE_LINE.test(line)) return { kind: "garbage", line: forLog(line) };
    return { kind: "closed-by-server", message: forLog(line), authProblem: AUTH_PROBLEM.test(line) };
  }
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: "garbage", line: forLog(line) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "garbage", line: forLog(line) };
  }
  if (Object.keys(value).length === 0) return { kind: "heartbeat" };
  const { Index, Events } = value as { Index?: unknown; Events?: unknown };
  // Go encodes a nil slice as null (nomad-api-notes.md "Conventions").
  if (typeof Index !== "number" || !(Array.isArray(Events) || Events === null)) {
    return { kind: "garbage", line: forLog(line) };
  }
  return { kind: "batch", index: Index, events: Events ?? [] };
}

function forLog(line: string): string {
  return line.length > LOGGED_LINE_CHARS ? `${line.slice(0, LOGGED_LINE_CHARS)}…` : line;
}

import { readdirSync, readFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import type { ContractResponse } from "../sim/contract.js";
import type { NomadVersion } from "../sim/index.js";

/** A recorded `curl -i` answer: status line, headers, blank line, body. */
export interface RecordedResponse extends ContractResponse {
  file: string;
  statusText: string;
}

/**
 * The payloads recorded from a real Nomad agent of one version (test/fixtures/nomad-<version>/README.md).
 * Tests read only this copy, never /work/shared: CI runs on a fresh clone.
 */
export class Recordings {
  readonly #directory: URL;

  constructor(readonly version: NomadVersion) {
    this.#directory = new URL(`../fixtures/nomad-${version}/`, import.meta.url);
  }

  /** The names of the recordings that end with `suffix` (`.http`, `.ndjson`), sorted. */
  names(suffix: string): string[] {
    return readdirSync(this.#directory)
      .filter((name) => name.endsWith(suffix))
      .sort();
  }

  read(name: string): string {
    return readFileSync(new URL(name, this.#directory), "utf8");
  }

  /**
   * Parses `curl -i` output. Repeated headers are joined with `, ` as node:http does; the body is cut
   * to `Content-Length` when there is one (the recordings end with a newline curl did not receive),
   * else (chunked) loses its trailing newline.
   */
  http(name: string): RecordedResponse {
    const text = this.read(name).replaceAll("\r\n", "\n");
    const split = text.indexOf("\n\n");
    if (split === -1) throw new Error(`${name}: no blank line after the headers`);
    const [statusLine = "", ...headerLines] = text.slice(0, split).split("\n");
    const status = /^HTTP\/[\d.]+ (\d{3}) ?(.*)$/.exec(statusLine);
    if (!status) throw new Error(`${name}: not a status line: ${statusLine}`);
    const headers: IncomingHttpHeaders = {};
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      const key = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const previous = headers[key];
      headers[key] = previous === undefined ? value : `${previous}, ${value}`;
    }
    const rest = Buffer.from(text.slice(split + 2), "utf8");
    const length = Number(headers["content-length"]);
    const body = Number.isInteger(length)
      ? rest.subarray(0, length).toString("utf8")
      : rest.toString("utf8").replace(/\n$/, "");
    return { file: name, status: Number(status[1]), statusText: status[2] ?? "", headers, body };
  }

  /** The lines of a recorded stream body (`*.ndjson`), without the empty string after the last newline. */
  stream(name: string): string[] {
    const lines = this.read(name).split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines;
  }

  /** A recorded text file's content without its `# ...` comment lines (`server-outage-stream-end.txt`). */
  text(name: string): string[] {
    return this.read(name)
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#"));
  }

  /** `docker-inspect-nomad-containers.json`: concatenated `docker inspect` objects (not one JSON array). */
  dockerInspect(): DockerInspectRecord[] {
    const text = this.read("docker-inspect-nomad-containers.json");
    const records: DockerInspectRecord[] = [];
    let depth = 0;
    let start = -1;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const char = text[i];
      if (inString) {
        if (char === "\\") i++;
        else if (char === '"') inString = false;
      } else if (char === '"') inString = true;
      else if (char === "{") {
        if (depth++ === 0) start = i;
      } else if (char === "}" && --depth === 0) {
        records.push(JSON.parse(text.slice(start, i + 1)) as DockerInspectRecord);
      }
    }
    return records;
  }
}

/** The fields of a recorded `docker inspect` the layout checks read. */
export interface DockerInspectRecord {
  Name: string;
  Config: { Labels: Record<string, string>; Image: string };
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  State: { Pid: number; Status: string };
}

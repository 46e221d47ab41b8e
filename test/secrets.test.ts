import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import axios from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildOutput, runNode } from "./log/run.js";

const SECRET = randomUUID();
const FAILURE = "Request failed with status code 403";
const tokensSeen: string[] = [];
let server: Server;
let address: string;

beforeAll(async () => {
  // Answers like Nomad does to a token without the needed policy.
  server = createServer((request, response) => {
    tokensSeen.push(String(request.headers["x-nomad-token"]));
    response.writeHead(403, { "Content-Type": "text/plain" }).end("Permission denied");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

function expectNoSecret(output: ChildOutput) {
  expect(tokensSeen, "the request really carried the token").toContain(SECRET);
  const leaked = [...output.stdout, ...output.stderr].filter((line) => line.includes(SECRET));
  expect(leaked, "a line with the token").toEqual([]);
}

/** Logs the error seven ways, as warnings and errors: they all end up on stderr, and none has the token. */
async function logTheError(format: "text" | "json"): Promise<ChildOutput> {
  const output = await runNode(["test/log/emit.ts", "errors"], {
    LOG_FORMAT: format,
    FORBIDDEN_URL: address,
    SECRET,
  });
  expectNoSecret(output);
  expect(output.code).toBe(0);
  expect(output.stdout).toEqual([]);
  expect(output.stderr).toHaveLength(7);
  return output;
}

/** Every object in a parsed log line that describes an error. */
function errorsIn(value: unknown): object[] {
  if (value === null || typeof value !== "object") return [];
  const nested = Object.values(value).flatMap(errorsIn);
  return "message" in value && "status" in value ? [value, ...nested] : nested;
}

describe("an axios error carrying the Nomad token", () => {
  it("carries it in its config and request, which is why the logger must not print them", async () => {
    const error = await axios
      .get(address, { headers: { "X-Nomad-Token": SECRET } })
      .catch((failure: unknown) => failure);
    expect(inspect(error, { depth: 4 })).toContain(SECRET);
  });

  it("is logged in text as what failed, never with the token, whatever key it is under", async () => {
    const output = await logTheError("text");
    for (const line of output.stderr) {
      expect(line).toMatch(/^\[\S+\] (WARN|ERROR): /);
      expect(line).toContain(FAILURE);
    }
    expect(output.stderr[0]).toMatch(
      /ERROR: reading the token Variable failed: Request failed with status code 403/,
    );
  });

  it("is logged in json as message, code and status only, whatever key it is under", async () => {
    const output = await logTheError("json");
    for (const line of output.stderr) {
      const errors = errorsIn(JSON.parse(line));
      expect(errors.length, line).toBeGreaterThan(0);
      for (const error of errors) {
        expect(error).toEqual({ message: FAILURE, code: "ERR_BAD_REQUEST", status: 403 });
      }
    }
  });

  it.each([
    ["unhandled rejection", "rejection"],
    ["uncaught exception", "exception"],
  ])("ends the monitor with a redacted message on an %s", async (_name, crash) => {
    const output = await runNode(["--import", "./test/log/crash.ts", "src/main.ts"], {
      CRASH: crash,
      NOMAD_ADDR: address,
      NOMAD_TOKEN: SECRET,
      NOMAD_NODE_ID: "node-1",
      HTTP_LISTEN: "127.0.0.1:0",
      PROC_ROOT: "/proc",
    });
    expectNoSecret(output);
    expect(output.code).not.toBe(0);
    expect(output.code).not.toBeNull();
    expect(output.stderr.at(-1)).toMatch(/^\[\S+\] FATAL: .*Request failed with status code 403/);
  });
});

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createClient } from "../src/nomad/generated/client/index.js";
import * as sdk from "../src/nomad/generated/sdk.gen.js";

type Json = unknown;
type JsonObject = Record<string, Json>;

const specPath = new URL("../openapi/nomad.yaml", import.meta.url);
const spec = parse(readFileSync(specPath, "utf8")) as JsonObject;
const HTTP_METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

function isObject(value: Json): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function at(value: Json, ...keys: string[]): JsonObject {
  let current = value;
  for (const key of keys) {
    if (!isObject(current)) throw new Error(`not an object before ${key}`);
    current = current[key];
  }
  if (!isObject(current)) throw new Error(`${keys.join(".")} is not an object`);
  return current;
}

function resolvePointer(pointer: string): Json {
  if (!pointer.startsWith("#/")) return undefined;
  let current: Json = spec;
  for (const raw of pointer.slice(2).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (!isObject(current) || !(key in current)) return undefined;
    current = current[key];
  }
  return current;
}

function deref(value: Json): JsonObject {
  const target = isObject(value) && typeof value.$ref === "string" ? resolvePointer(value.$ref) : value;
  if (!isObject(target)) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  return target;
}

function collectRefs(value: Json, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, found);
  else if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (key === "$ref" && typeof child === "string") found.push(child);
      else collectRefs(child, found);
    }
  }
  return found;
}

type Operation = { method: string; path: string; operation: JsonObject };

function operations(): Operation[] {
  return Object.entries(at(spec, "paths")).flatMap(([path, item]) =>
    Object.entries(at(item))
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation: at(operation) })),
  );
}

function findOperation(method: string, path: string): JsonObject {
  const found = operations().find((candidate) => candidate.method === method && candidate.path === path);
  if (!found) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
  return found.operation;
}

type ParameterSummary = { in: string; name: string; required: boolean; schema: JsonObject };

function parametersOf(operation: JsonObject): ParameterSummary[] {
  const list = Array.isArray(operation.parameters) ? operation.parameters : [];
  return list.map((entry) => {
    const parameter = deref(entry);
    return {
      in: String(parameter.in),
      name: String(parameter.name),
      required: parameter.required === true,
      schema: deref(parameter.schema),
    };
  });
}

function jsonSchemaOf(response: Json, mediaType = "application/json"): Json {
  return at(deref(response), "content", mediaType).schema;
}

describe("openapi/nomad.yaml is a well-formed OpenAPI 3.1 document", () => {
  it("declares OpenAPI 3.1 with info, paths and the X-Nomad-Token api key applied globally", () => {
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
    expect(at(spec, "info").title).toEqual(expect.any(String));
    expect(at(spec, "components", "securitySchemes", "NomadToken")).toMatchObject({
      type: "apiKey",
      in: "header",
      name: "X-Nomad-Token",
    });
    expect(spec.security).toEqual([{ NomadToken: [] }]);
  });

  it("resolves every $ref inside the document", () => {
    const refs = collectRefs(spec);
    expect(refs.length).toBeGreaterThan(20);
    const unresolved = refs.filter((ref) => resolvePointer(ref) === undefined);
    expect(unresolved).toEqual([]);
  });

  it("gives every operation a unique operationId, a 2xx answer and plain-text errors", () => {
    const ids = operations().map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, operation } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(operation.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
      const responses = at(operation, "responses");
      expect(
        Object.keys(responses).filter((status) => /^2\d\d$/.test(status)),
        where,
      ).toHaveLength(1);
      for (const status of ["400", "401", "403", "500"]) {
        expect(jsonSchemaOf(responses[status], "text/plain"), `${where} ${status}`).toEqual({
          type: "string",
        });
      }
    }
  });

  it("declares the path parameters that appear in each path template, and only those", () => {
    for (const { method, path, operation } of operations()) {
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      const declared = parametersOf(operation).filter((parameter) => parameter.in === "path");
      expect(
        declared.map((parameter) => parameter.name),
        `${method} ${path}`,
      ).toEqual(inTemplate);
      expect(declared.every((parameter) => parameter.required)).toBe(true);
    }
  });

  it("returns X-Nomad-Index on every read except the stream", () => {
    const reads = operations().filter(({ method, path }) => method === "get" && path !== "/v1/event/stream");
    expect(reads.length).toBe(7);
    for (const { path, operation } of reads) {
      const header = deref(at(operation, "responses", "200", "headers")["X-Nomad-Index"]);
      expect(header.required, path).toBe(true);
      expect(deref(header.schema), path).toMatchObject({ type: "integer", format: "int64" });
    }
  });

  it("allows extra fields on every Nomad object (only the `{}` heartbeat is closed)", () => {
    const closed: string[] = [];
    const visit = (value: Json, where: string) => {
      if (Array.isArray(value)) {
        for (const [index, item] of value.entries()) visit(item, `${where}/${index}`);
      } else if (isObject(value)) {
        if (value.additionalProperties === false) closed.push(where);
        for (const [key, child] of Object.entries(value)) visit(child, `${where}/${key}`);
      }
    };
    visit(spec, "#");
    expect(closed).toEqual(["#/components/schemas/EventStreamHeartbeat"]);
  });
});

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const namespace = { in: "query", name: "namespace", required: false };
const region = { in: "query", name: "region", required: false };

// What nomad-api-notes.md says the monitor calls, and what the recordings of Nomad 1.6.5 show
// (test/fixtures/nomad-1.6.5): the Variables list and delete, the job's scale status.
const expectedEndpoints = [
  {
    endpoint: "GET /v1/node/{node_id}/allocations",
    operationId: "listNodeAllocations",
    parameters: [
      { in: "path", name: "node_id", required: true },
      region,
      { in: "query", name: "index", required: false },
      { in: "query", name: "wait", required: false },
      { in: "query", name: "stale", required: false },
    ],
    answer: { type: "array", items: ref("Allocation") },
  },
  {
    endpoint: "GET /v1/allocation/{alloc_id}",
    operationId: "getAllocation",
    parameters: [{ in: "path", name: "alloc_id", required: true }, region],
    answer: ref("Allocation"),
  },
  {
    endpoint: "GET /v1/job/{job_id}",
    operationId: "getJob",
    parameters: [{ in: "path", name: "job_id", required: true }, namespace, region],
    answer: ref("Job"),
  },
  {
    endpoint: "GET /v1/job/{job_id}/allocations",
    operationId: "listJobAllocations",
    parameters: [{ in: "path", name: "job_id", required: true }, namespace, region],
    answer: { type: "array", items: ref("AllocationListStub") },
  },
  {
    endpoint: "POST /v1/jobs",
    operationId: "registerJob",
    parameters: [namespace, region],
    body: ref("JobRegisterRequest"),
    answer: ref("JobRegisterResponse"),
  },
  {
    endpoint: "DELETE /v1/job/{job_id}",
    operationId: "stopJob",
    parameters: [
      { in: "path", name: "job_id", required: true },
      namespace,
      region,
      { in: "query", name: "purge", required: false },
    ],
    answer: ref("JobDeregisterResponse"),
  },
  {
    endpoint: "GET /v1/job/{job_id}/scale",
    operationId: "getJobScaleStatus",
    parameters: [{ in: "path", name: "job_id", required: true }, namespace, region],
    answer: ref("JobScaleStatus"),
  },
  {
    endpoint: "POST /v1/job/{job_id}/scale",
    operationId: "scaleTaskGroup",
    parameters: [{ in: "path", name: "job_id", required: true }, namespace, region],
    body: ref("ScalingRequest"),
    answer: ref("JobRegisterResponse"),
  },
  {
    endpoint: "GET /v1/var/{var_path}",
    operationId: "readVariable",
    parameters: [{ in: "path", name: "var_path", required: true }, namespace, region],
    answer: ref("Variable"),
  },
  {
    endpoint: "PUT /v1/var/{var_path}",
    operationId: "writeVariable",
    parameters: [
      { in: "path", name: "var_path", required: true },
      namespace,
      region,
      { in: "query", name: "cas", required: false },
    ],
    body: ref("VariableWrite"),
    answer: ref("Variable"),
  },
  {
    endpoint: "DELETE /v1/var/{var_path}",
    operationId: "deleteVariable",
    parameters: [
      { in: "path", name: "var_path", required: true },
      namespace,
      region,
      { in: "query", name: "cas", required: false },
    ],
    answer: undefined,
  },
  {
    endpoint: "GET /v1/vars",
    operationId: "listVariables",
    parameters: [{ in: "query", name: "prefix", required: false }, namespace, region],
    answer: { type: "array", items: ref("VariableMetadata") },
  },
  {
    endpoint: "GET /v1/event/stream",
    operationId: "streamEvents",
    parameters: [
      { in: "query", name: "topic", required: false },
      namespace,
      { in: "query", name: "index", required: false },
      region,
    ],
    answer: ref("EventStreamLine"),
  },
];

describe("the endpoints the monitor uses", () => {
  it.each(expectedEndpoints)(
    "$endpoint is $operationId",
    ({ endpoint, operationId, parameters, body, answer }) => {
      const [method = "", path = ""] = endpoint.split(" ");
      const operation = findOperation(method.toLowerCase(), path);
      expect(operation.operationId).toBe(operationId);
      expect(parametersOf(operation).map(({ schema: _schema, ...rest }) => rest)).toEqual(parameters);
      if (body) expect(at(operation, "requestBody").required).toBe(true);
      expect(operation.requestBody ? jsonSchemaOf(at(operation, "requestBody")) : undefined).toEqual(body);
      const responses = at(operation, "responses");
      if (answer) expect(jsonSchemaOf(responses["200"])).toEqual(answer);
      else expect(Object.keys(responses)).toContain("204");
    },
  );

  it("lists no other endpoint", () => {
    const listed = operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    expect(listed.sort()).toEqual(expectedEndpoints.map(({ endpoint }) => endpoint).sort());
  });

  it.each([
    { endpoint: "DELETE /v1/job/{job_id}", name: "purge", schema: { type: "boolean" } },
    { endpoint: "PUT /v1/var/{var_path}", name: "cas", schema: { type: "integer", format: "int64" } },
    { endpoint: "DELETE /v1/var/{var_path}", name: "cas", schema: { type: "integer", format: "int64" } },
    { endpoint: "GET /v1/vars", name: "prefix", schema: { type: "string" } },
    { endpoint: "GET /v1/event/stream", name: "index", schema: { type: "integer", format: "int64" } },
    { endpoint: "GET /v1/event/stream", name: "topic", schema: { type: "array", items: { type: "string" } } },
  ])("$endpoint takes $name as $schema.type", ({ endpoint, name, schema }) => {
    const [method = "", path = ""] = endpoint.split(" ");
    const parameter = parametersOf(findOperation(method.toLowerCase(), path)).find((p) => p.name === name);
    expect(parameter?.schema).toMatchObject(schema);
  });

  it.each(["put", "delete"])(
    "answers a lost check-and-set of %s with the current variable (or a plain-text cas error)",
    (method) => {
      const conflict = at(findOperation(method, "/v1/var/{var_path}"), "responses", "409");
      expect(jsonSchemaOf(conflict)).toEqual(ref("VariableConflict"));
      expect(jsonSchemaOf(conflict, "text/plain")).toEqual({ type: "string" });
    },
  );
});

describe("schemas validate Nomad's JSON with ajv", () => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  ajv.addVocabulary(["openapi", "info", "servers", "security", "tags", "paths", "components"]);
  ajv.addSchema(spec, "nomad.yaml");
  const validatorFor = (name: string) => {
    const validate = ajv.getSchema(`nomad.yaml#/components/schemas/${name}`);
    if (!validate) throw new Error(`no schema ${name}`);
    return validate;
  };

  const job = {
    ID: "web",
    Name: "web",
    Namespace: "default",
    Type: "service",
    Stop: false,
    Status: "running",
    Version: 3,
    Meta: { "idle-monitor.enabled": "true" },
    TaskGroups: [
      {
        Name: "app",
        Count: 1,
        Meta: null,
        Networks: [{ Mode: "bridge", MBits: 0 }],
        Scaling: null,
        Tasks: [{ Name: "server", Driver: "docker", Meta: null, Config: { image: "busybox" } }],
      },
    ],
    CreateIndex: 10,
    ModifyIndex: 12,
    JobModifyIndex: 12,
    SubmitTime: 1_732_000_000_000_000_000,
    Datacenters: ["dc1"],
  };
  const allocation = {
    ID: "8a0e2f3c-0000-4000-8000-000000000001",
    Namespace: "default",
    Name: "web.app[0]",
    NodeID: "node-1",
    NodeName: "client-1",
    JobID: "web",
    Job: job,
    TaskGroup: "app",
    DesiredStatus: "run",
    ClientStatus: "running",
    TaskStates: {
      server: {
        State: "running",
        Failed: false,
        Restarts: 0,
        StartedAt: "2024-11-19T07:06:40.123456789Z",
        FinishedAt: "0001-01-01T00:00:00Z",
      },
    },
    CreateIndex: 13,
    ModifyIndex: 15,
    AllocModifyIndex: 13,
    CreateTime: 1_732_000_000_100_000_000,
    ModifyTime: 1_732_000_000_200_000_000,
  };

  const variableMetadata = {
    Namespace: "default",
    Path: "nomad/jobs/idle-monitor",
    CreateIndex: 5,
    ModifyIndex: 9,
    CreateTime: 1,
    ModifyTime: 1,
  };

  it.each<{ case: string; schema: string; value: Json; valid: boolean }>([
    { case: "full allocation with its job", schema: "Allocation", value: allocation, valid: true },
    {
      case: "stream allocation (Job null)",
      schema: "EventAllocation",
      value: { ...allocation, Job: null },
      valid: true,
    },
    {
      case: "stream allocation of a new placement (no Job, no TaskStates: Nomad 1.6.5)",
      schema: "EventAllocation",
      value: { ...allocation, Job: undefined, TaskStates: undefined },
      valid: true,
    },
    {
      case: "endpoint allocation without its Job",
      schema: "Allocation",
      value: { ...allocation, Job: undefined },
      valid: false,
    },
    {
      case: "task states with unset times as null (Nomad 1.6.5)",
      schema: "Allocation",
      value: {
        ...allocation,
        TaskStates: { server: { ...allocation.TaskStates.server, FinishedAt: null, LastRestart: null } },
      },
      valid: true,
    },
    {
      case: "allocation without task states yet",
      schema: "Allocation",
      value: { ...allocation, TaskStates: null },
      valid: true,
    },
    {
      case: "allocation without NodeID",
      schema: "Allocation",
      value: { ...allocation, NodeID: undefined },
      valid: false,
    },
    {
      case: "client status in the wrong case",
      schema: "Allocation",
      value: { ...allocation, ClientStatus: "Running" },
      valid: false,
    },
    {
      case: "camelCase field names",
      schema: "Allocation",
      value: { ...allocation, ModifyIndex: undefined, modifyIndex: 15 },
      valid: false,
    },
    {
      case: "time as a string",
      schema: "Allocation",
      value: { ...allocation, CreateTime: "1732" },
      valid: false,
    },
    { case: "job with nil meta", schema: "Job", value: { ...job, Meta: null }, valid: true },
    { case: "job with an unknown type", schema: "Job", value: { ...job, Type: "daemon" }, valid: false },
    {
      case: "scale answer",
      schema: "JobRegisterResponse",
      value: { EvalID: "e1", EvalCreateIndex: 20, JobModifyIndex: 20, Index: 20, Warnings: "" },
      valid: true,
    },
    {
      case: "scale request with Error as a message",
      schema: "ScalingRequest",
      value: { Count: 0, Target: { Group: "app" }, Message: "idle", Error: "idle" },
      valid: false,
    },
    {
      case: "variable",
      schema: "Variable",
      value: {
        Namespace: "default",
        Path: "nomad/jobs/idle-monitor",
        CreateIndex: 5,
        ModifyIndex: 9,
        CreateTime: 1_732_000_000_000_000_000,
        ModifyTime: 1_732_000_000_000_000_000,
        Items: { token: "s3cr3t" },
      },
      valid: true,
    },
    {
      case: "redacted conflict",
      schema: "VariableConflict",
      value: { ...variableMetadata, Items: null },
      valid: true,
    },
    {
      case: "scale status of a group never scaled",
      schema: "JobScaleStatus",
      value: {
        JobID: "web",
        Namespace: "default",
        JobCreateIndex: 18,
        JobModifyIndex: 25,
        JobStopped: false,
        TaskGroups: { app: { Desired: 1, Placed: 1, Running: 1, Healthy: 1, Unhealthy: 0, Events: null } },
      },
      valid: true,
    },
    {
      case: "variable metadata of a list (no Items)",
      schema: "VariableMetadata",
      value: variableMetadata,
      valid: true,
    },
    { case: "heartbeat", schema: "EventStreamLine", value: {}, valid: true },
    {
      case: "allocation event batch",
      schema: "EventStreamLine",
      value: {
        Index: 15,
        Events: [
          {
            Topic: "Allocation",
            Type: "AllocationUpdated",
            Key: allocation.ID,
            Namespace: "default",
            FilterKeys: ["web", ""],
            Index: 15,
            Payload: { Allocation: { ...allocation, Job: null } },
          },
        ],
      },
      valid: true,
    },
    {
      case: "job event batch",
      schema: "EventStreamLine",
      value: {
        Index: 12,
        Events: [
          {
            Topic: "Job",
            Type: "JobRegistered",
            Key: "web",
            Namespace: "default",
            FilterKeys: null,
            Index: 12,
            Payload: { Job: job },
          },
        ],
      },
      valid: true,
    },
    { case: "batch without events", schema: "EventStreamLine", value: { Index: 12 }, valid: false },
  ])("$case: valid=$valid", ({ schema, value, valid }) => {
    const validate = validatorFor(schema);
    expect(validate(JSON.parse(JSON.stringify(value))), JSON.stringify(validate.errors)).toBe(valid);
  });
});

describe("the generated client", () => {
  it("exports one sdk function per operation", () => {
    const functions = Object.entries(sdk)
      .filter(([, value]) => typeof value === "function")
      .map(([name]) => name)
      .sort();
    const ids = operations()
      .map(({ operation }) => String(operation.operationId))
      .sort();
    expect(functions).toEqual(ids);
  });

  describe("on the wire", () => {
    const received: { url: string; token: string | undefined }[] = [];
    const server = http.createServer((request, response) => {
      received.push({
        url: request.url ?? "",
        token: request.headers["x-nomad-token"] as string | undefined,
      });
      if (request.url?.startsWith("/v1/job/")) {
        response.writeHead(403, { "Content-Type": "text/plain" });
        response.end("Permission denied");
        return;
      }
      response.writeHead(200, { "Content-Type": "application/json", "X-Nomad-Index": "42" });
      response.end(request.url?.startsWith("/v1/var/") ? JSON.stringify({ Items: {} }) : "[]");
    });
    let baseURL = "";

    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("sends the token, encodes '/' in variable paths, repeats topics and exposes X-Nomad-Index", async () => {
      received.length = 0;
      const client = createClient({ baseURL, throwOnError: true, auth: () => "token-1" });
      const nodeAllocations = await sdk.listNodeAllocations({ client, path: { node_id: "node-1" } });
      await sdk.readVariable({
        client,
        path: { var_path: "nomad/jobs/idle-monitor" },
        query: { namespace: "ops" },
      });
      await sdk.streamEvents({ client, query: { topic: ["Allocation", "Job"], namespace: "*", index: 42 } });

      expect(nodeAllocations.headers["x-nomad-index"]).toBe("42");
      expect(received).toEqual([
        { url: "/v1/node/node-1/allocations", token: "token-1" },
        // Nomad reads the variable path from Go's decoded URL.Path, so %2F reaches the same variable.
        { url: "/v1/var/nomad%2Fjobs%2Fidle-monitor?namespace=ops", token: "token-1" },
        { url: "/v1/event/stream?topic=Allocation&topic=Job&namespace=*&index=42", token: "token-1" },
      ]);
    });

    it("throws Nomad's plain-text error with its status", async () => {
      const client = createClient({ baseURL, throwOnError: true, auth: () => "token-1" });
      await expect(sdk.getJob({ client, path: { job_id: "web" } })).rejects.toMatchObject({
        response: { status: 403, data: "Permission denied" },
      });
    });
  });

  it("is current: scripts/check-generated.mjs passes on the committed output", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["scripts/check-generated.mjs"], {
      cwd: new URL("..", import.meta.url),
    });
    expect(stdout).toContain("up to date");
  });
});

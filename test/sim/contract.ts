import { readFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";

const SPEC_URL = new URL("../../openapi/nomad.yaml", import.meta.url);
const SPEC_ID = "nomad.yaml";

export interface ContractResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface OpenApiResponse {
  $ref?: string;
  headers?: Record<string, { required?: boolean }>;
  content?: Record<string, unknown>;
}

interface Located {
  pointer: string;
  response: OpenApiResponse;
}

/**
 * The OpenAPI document of the Nomad API (openapi/nomad.yaml) as a checker of real answers: says
 * what in a response disagrees with the operation's schema for its status.
 */
export class OpenApiContract {
  readonly #validators = new Map<string, ValidateFunction>();

  private constructor(
    private readonly document: {
      paths: Record<
        string,
        Record<string, { operationId?: string; responses?: Record<string, OpenApiResponse> }>
      >;
    },
    private readonly ajv: Ajv2020,
  ) {}

  static async load(): Promise<OpenApiContract> {
    const document = parse(await readFile(SPEC_URL, "utf8"));
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats.default(ajv);
    ajv.addSchema(document, SPEC_ID);
    return new OpenApiContract(document, ajv);
  }

  /** Disagreements between the response and the operation's documented answer for its status; empty when none. */
  problems(operationId: string, response: ContractResponse): string[] {
    const located = this.#locate(operationId, response.status);
    if (!located) return [`${operationId}: status ${response.status} is not documented`];
    const problems: string[] = [];
    for (const [name, header] of Object.entries(located.response.headers ?? {})) {
      const value = response.headers[name.toLowerCase()];
      if (header.required && value === undefined) problems.push(`header ${name} is missing`);
      if (typeof value === "string" && /index/i.test(name) && !/^\d+$/.test(value)) {
        problems.push(`header ${name} is not a raft index: ${value}`);
      }
    }
    return [...problems, ...this.#bodyProblems(located, response.body)];
  }

  /** For a streaming operation (the event stream): disagreements of one line with the 200 schema. */
  lineProblems(operationId: string, line: string): string[] {
    const located = this.#locate(operationId, 200);
    if (!located) return [`${operationId}: no 200 answer documented`];
    return this.#bodyProblems(located, line);
  }

  #bodyProblems({ pointer, response }: Located, body: string): string[] {
    const content = response.content ?? {};
    if (Object.keys(content).length === 0 && body === "") return []; // a documented empty answer (204)
    let json: unknown;
    let isJson = false;
    try {
      json = JSON.parse(body);
      isJson = true;
    } catch {
      // not JSON: only a text/plain answer fits
    }
    // A 409 of the variables API is JSON sent as text/plain (Go sniffs the type), so the body
    // decides which documented content applies, not the Content-Type header.
    if (isJson && "application/json" in content)
      return this.#validate(`${pointer}/content/application~1json/schema`, json);
    if ("text/plain" in content) return this.#validate(`${pointer}/content/text~1plain/schema`, body);
    return [
      `body fits no documented content (${Object.keys(content).join(", ") || "none"}): ${body.slice(0, 200)}`,
    ];
  }

  #validate(pointer: string, value: unknown): string[] {
    let validate = this.#validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${SPEC_ID}#${pointer}` });
      this.#validators.set(pointer, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (error) => `${error.instancePath || "(body)"} ${error.message ?? "is invalid"}`,
    );
  }

  #locate(operationId: string, status: number): Located | undefined {
    for (const [path, operations] of Object.entries(this.document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (operation.operationId !== operationId) continue;
        const responses = operation.responses ?? {};
        const key = String(status) in responses ? String(status) : "default";
        const response = responses[key];
        if (!response) return undefined;
        if (response.$ref) {
          const target = response.$ref.replace(/^#/, "");
          return { pointer: target, response: this.#resolve(target) };
        }
        return { pointer: `/paths/${escapePointer(path)}/${method}/responses/${key}`, response };
      }
    }
    throw new Error(`no operation ${operationId} in openapi/nomad.yaml`);
  }

  #resolve(pointer: string): OpenApiResponse {
    let node: unknown = this.document;
    for (const part of pointer.split("/").slice(1))
      node = (node as Record<string, unknown>)[unescapePointer(part)];
    return node as OpenApiResponse;
  }
}

function escapePointer(part: string): string {
  return part.replaceAll("~", "~0").replaceAll("/", "~1");
}

function unescapePointer(part: string): string {
  return part.replaceAll("~1", "/").replaceAll("~0", "~");
}

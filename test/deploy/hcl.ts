import { readFile } from "node:fs/promises";
import { parse } from "@cdktf/hcl2json";
import type { BlockSchema } from "./jobspec-schema.js";

// @cdktf/hcl2json is HashiCorp's HCL2 parser compiled to WebAssembly. Its JSON keeps the shape
// of the source: an unlabeled block is an array of bodies, a labeled block an object of label →
// array of bodies, a map attribute (`meta = { … }`) a plain object, and an expression that is not
// a literal (`var.image`, `"${node.unique.id}"`) the string "${…}".
export type HclBody = Record<string, unknown>;

export async function parseHcl(fileName: string, text: string): Promise<HclBody> {
  return parse(fileName, text);
}

export async function parseHclFile(path: string): Promise<HclBody> {
  return parseHcl(path, await readFile(path, "utf8"));
}

function isBody(value: unknown): value is HclBody {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isBodyList(value: unknown): value is HclBody[] {
  return Array.isArray(value) && value.every(isBody);
}

/** The bodies of an unlabeled block such as `update { … }` (empty when absent). */
export function blocks(body: HclBody, name: string): HclBody[] {
  const value = body[name];
  return isBodyList(value) ? value : [];
}

/** The body of an unlabeled block that must appear exactly once. */
export function onlyBlock(body: HclBody, name: string): HclBody {
  const found = blocks(body, name);
  if (found.length !== 1) throw new Error(`expected exactly one "${name}" block, found ${found.length}`);
  return found[0] as HclBody;
}

/** Label → body of a labeled block such as `group "web" { … }`. */
export function labeledBlocks(body: HclBody, name: string): Map<string, HclBody> {
  const value = body[name];
  const result = new Map<string, HclBody>();
  if (!isBody(value)) return result;
  for (const [label, bodies] of Object.entries(value)) {
    if (isBodyList(bodies)) for (const inner of bodies) result.set(label, inner);
  }
  return result;
}

/** The only labeled block of that name, with its label. */
export function onlyLabeledBlock(body: HclBody, name: string): [string, HclBody] {
  const found = [...labeledBlocks(body, name)];
  if (found.length !== 1) throw new Error(`expected exactly one "${name}" block, found ${found.length}`);
  return found[0] as [string, HclBody];
}

/**
 * Every key in `body` (recursively) that `schema` does not document, as a dotted path with block
 * labels (`job.web.group.app.task.server.kill_timout`). Also reports a block written as an
 * attribute or the other way round. A task's `config` is checked against its driver's schema.
 */
export function undocumentedKeys(body: HclBody, schema: BlockSchema, path = ""): string[] {
  const found: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    const at = path ? `${path}.${key}` : key;
    if (schema.attributes?.includes(key)) continue;
    if (schema.maps?.includes(key)) {
      if (!isBody(value) && !(isBodyList(value) && value.length === 1)) found.push(`${at} (expected a map)`);
      continue;
    }
    if (key === "config" && schema.driverConfigs) {
      const driver = String(body.driver);
      const driverSchema = schema.driverConfigs[driver];
      if (!driverSchema) found.push(`${at} (no schema for driver "${driver}")`);
      else found.push(...nestedKeys(value, { schema: driverSchema }, at));
      continue;
    }
    const nested = schema.blocks?.[key];
    if (!nested) {
      found.push(at);
      continue;
    }
    found.push(...nestedKeys(value, nested, at));
  }
  return found;
}

function nestedKeys(
  value: unknown,
  nested: { schema: BlockSchema; labeled?: boolean },
  at: string,
): string[] {
  if (nested.labeled) {
    if (!isBody(value)) return [`${at} (expected a labeled block)`];
    return Object.entries(value).flatMap(([label, bodies]) =>
      isBodyList(bodies)
        ? bodies.flatMap((inner) => undocumentedKeys(inner, nested.schema, `${at}.${label}`))
        : [`${at}.${label} (expected a block)`],
    );
  }
  if (!isBodyList(value)) return [`${at} (expected a block)`];
  return value.flatMap((inner) => undocumentedKeys(inner, nested.schema, at));
}

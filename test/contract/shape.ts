// The shape of a JSON value: every field path with the JSON types seen there. Arrays merge their
// elements (`[]`), and objects whose keys are data rather than field names (`Meta`, `TaskStates`, …)
// merge their values (`*`), so two answers about different jobs still have the same shape.

export type JsonType = "null" | "string" | "number" | "boolean" | "array" | "object";

interface Shape {
  types: Set<JsonType>;
  fields: Map<string, Shape>;
}

/** Fields whose keys are names chosen by users or by Nomad per object (task names, meta keys, …). */
const MAP_FIELDS = new Set([
  "Meta",
  "Items",
  "TaskStates",
  "TaskLifecycles",
  "TaskResources",
  "Tasks",
  "NodesAvailable",
  "Scores",
  "Details",
  "Config",
  "TaskGroups",
  "Labels",
  "Networks",
  "Env",
]);

function typeOf(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as JsonType;
}

function emptyShape(): Shape {
  return { types: new Set(), fields: new Map() };
}

function child(shape: Shape, key: string): Shape {
  let found = shape.fields.get(key);
  if (!found) {
    found = emptyShape();
    shape.fields.set(key, found);
  }
  return found;
}

function add(shape: Shape, value: unknown, name: string): void {
  const type = typeOf(value);
  shape.types.add(type);
  if (type === "array") {
    for (const item of value as unknown[]) add(child(shape, "[]"), item, "[]");
  } else if (type === "object") {
    const isMap = MAP_FIELDS.has(name);
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      add(child(shape, isMap ? "*" : key), item, key);
    }
  }
}

/** The merged shape of these values (e.g. every event of a topic). */
export function shapeOf(values: readonly unknown[]): Shape {
  const shape = emptyShape();
  for (const value of values) add(shape, value, "");
  return shape;
}

/**
 * Every difference between a recorded shape and the simulator's: a field missing on one side, or
 * seen with other JSON types (null vs object, string vs number, …), as `<path>: <what>`. Fields under
 * a path whose types already differ are compared only where both sides are objects or arrays.
 */
export function shapeDifferences(recorded: Shape, simulated: Shape, path = "$"): string[] {
  const differences: string[] = [];
  const types = (shape: Shape) => [...shape.types].sort().join("|");
  if (types(recorded) !== types(simulated)) {
    differences.push(`${path}: recorded ${types(recorded)}, simulator ${types(simulated)}`);
  }
  const keys = new Set([...recorded.fields.keys(), ...simulated.fields.keys()]);
  for (const key of [...keys].sort()) {
    const where = key === "[]" ? `${path}[]` : `${path}.${key}`;
    const mine = recorded.fields.get(key);
    const theirs = simulated.fields.get(key);
    if (!theirs) differences.push(`${where}: missing in the simulator`);
    else if (!mine) differences.push(`${where}: only in the simulator`);
    else differences.push(...shapeDifferences(mine, theirs, where));
  }
  return differences;
}

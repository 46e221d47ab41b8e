import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// The shape of src/ (docs/development.md): imports point one way — main/daemon/monitor → cycle/ →
// decide/ → policy, schedule, config → ports.ts → model/ — and adapters (nomad/, docker/, cluster/,
// webhooks/, actions) never reach into the core's stages or rules. No import cycle, `import type`
// included, and no module over 300 lines (the generated client aside).

const SRC = new URL("../src/", import.meta.url).pathname;
const MAX_LINES = 300;

/** Every module of src/ (generated code left out), as a path under src/ without `.ts`. */
function modules(): string[] {
  const found: string[] = [];
  (function walk(dir: string) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name !== "generated") walk(path);
      } else if (path.endsWith(".ts")) found.push(relative(SRC, path).replace(/\.ts$/, ""));
    }
  })(SRC);
  return found.sort();
}

/** What a module imports: other modules as paths under src/, packages and node: builtins as written. */
function importsOf(module: string): string[] {
  const text = readFileSync(join(SRC, `${module}.ts`), "utf8");
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gs)].map(([, spec = ""]) =>
    spec.startsWith(".")
      ? relative(SRC, resolve(dirname(join(SRC, module)), spec)).replace(/\.js$/, "")
      : spec,
  );
}

const all = modules();
const graph = new Map(all.map((module) => [module, importsOf(module)]));

/** The imports of the modules under `prefix` that `allowed` refuses, as "module → import". */
function breaking(prefix: (module: string) => boolean, allowed: (spec: string) => boolean): string[] {
  return [...graph]
    .filter(([module]) => prefix(module))
    .flatMap(([module, specs]) =>
      specs.filter((spec) => !allowed(spec)).map((spec) => `${module} → ${spec}`),
    );
}

const under =
  (...folders: string[]) =>
  (module: string) =>
    folders.some((folder) => module.startsWith(`${folder}/`));
const oneOf =
  (...names: string[]) =>
  (module: string) =>
    names.includes(module);
const ADAPTERS = (module: string) =>
  under("nomad", "docker", "cluster", "webhooks")(module) || oneOf("actions")(module);
const CORE = (spec: string) => under("decide", "cycle")(spec) || oneOf("monitor", "daemon", "main")(spec);

describe("src/: layers with one import direction", () => {
  it("has no import cycle, type imports included", () => {
    const cycles: string[][] = [];
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const strong = (module: string) => {
      index.set(module, index.size);
      low.set(module, index.get(module) as number);
      stack.push(module);
      for (const next of (graph.get(module) ?? []).filter((spec) => graph.has(spec))) {
        if (!index.has(next)) {
          strong(next);
          low.set(module, Math.min(low.get(module) as number, low.get(next) as number));
        } else if (stack.includes(next))
          low.set(module, Math.min(low.get(module) as number, index.get(next) as number));
      }
      if (low.get(module) !== index.get(module)) return;
      const component: string[] = [];
      for (let top = stack.pop(); top !== undefined; top = top === module ? undefined : stack.pop())
        component.push(top);
      if (component.length > 1) cycles.push(component.sort());
    };
    for (const module of all) if (!index.has(module)) strong(module);
    expect(cycles).toEqual([]);
  });

  it(`has no module over ${MAX_LINES} lines`, () => {
    const long = all.flatMap((module) => {
      const text = readFileSync(join(SRC, `${module}.ts`), "utf8");
      const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
      return lines > MAX_LINES ? [`${module}: ${lines}`] : [];
    });
    expect(long).toEqual([]);
  });

  it("model/ is a leaf: it imports only model/ and the generated Nomad types", () => {
    expect(
      breaking(under("model"), (spec) => under("model")(spec) || spec === "nomad/generated/types.gen"),
    ).toEqual([]);
  });

  it("ports.ts is interfaces over model/", () => {
    expect(breaking(oneOf("ports"), (spec) => under("model")(spec) || spec === "node:stream")).toEqual([]);
    expect(readFileSync(join(SRC, "ports.ts"), "utf8")).not.toMatch(/^export (class|function|const)/m);
  });

  it("decide/ is pure: no ports, clock, logger, metrics, I/O or stage; only the rules below it", () => {
    const rules = oneOf(
      "policy",
      "schedule",
      "schedule-meta",
      "duration",
      "signals/check-budget",
      "signals/meta",
      "signals/tcp",
    );
    expect(breaking(under("decide"), (spec) => under("decide", "model")(spec) || rules(spec))).toEqual([]);
  });

  it("cycle/ reaches Nomad, Docker and the cluster only through ports.ts", () => {
    const top = oneOf("monitor", "daemon", "main");
    expect(breaking(under("cycle"), (spec) => !ADAPTERS(spec) && !top(spec))).toEqual([]);
  });

  it("adapters never reach into the stages or the rules", () => {
    expect(breaking(ADAPTERS, (spec) => !CORE(spec))).toEqual([]);
  });

  it("config, policy and schedules parse without the webhook sender or the core", () => {
    const parsing = oneOf("config", "policy", "schedule", "schedule-meta", "signals/meta");
    expect(
      breaking(parsing, (spec) => !CORE(spec) && !(under("webhooks")(spec) && spec !== "webhooks/url")),
    ).toEqual([]);
  });
});

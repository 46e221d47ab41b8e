import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import type { TestProject } from "vitest/node";

// The monitor and the CLI that tests start as processes run from src/ transpiled once per test run, not
// under tsx: tsx's loader costs each process about half a second of CPU more, and the unit tier is bound
// by CPU. Type-stripping only, as tsx does; `tsc` checks the types in `npm test`.

const ROOT = new URL("../..", import.meta.url).pathname;
const SRC = join(ROOT, "src");
// Inside the project, so that the packages resolve from its node_modules as they do for src/.
const CACHE = join(ROOT, "node_modules/.cache/nomad-idle-monitor-tests");

/** vitest globalSetup: src/ transpiled into a directory of this run's own, removed afterwards. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await mkdir(CACHE, { recursive: true });
  const out = await mkdtemp(join(CACHE, "src-"));
  // Below node_modules, Node does not look further up for the project's "type": "module".
  await writeFile(join(out, "package.json"), '{ "type": "module" }\n');
  for (const file of await sourceFiles(SRC)) {
    const { outputText } = ts.transpileModule(await readFile(file, "utf8"), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    const target = join(out, "src", relative(SRC, file)).replace(/\.ts$/, ".js");
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  project.provide("transpiledSrc", join(out, "src"));
  return () => rm(out, { recursive: true, force: true });
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => join(entry.parentPath, entry.name));
}

// Fails when src/nomad/generated no longer matches what openapi-ts.config.ts produces from
// openapi/nomad.yaml: regenerates into a temporary folder and compares file by file.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@hey-api/openapi-ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const committedDir = path.join(repoRoot, "src", "nomad", "generated");

async function listFiles(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error) => {
    if (error.code === "ENOENT") return [];
    throw error;
  });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

async function differingFiles(expectedDir, actualDir) {
  const expected = await listFiles(expectedDir);
  const actual = await listFiles(actualDir);
  const differences = [];
  for (const file of new Set([...expected, ...actual])) {
    if (!actual.includes(file)) differences.push(`missing: ${file}`);
    else if (!expected.includes(file)) differences.push(`not generated any more: ${file}`);
    else {
      const [want, have] = await Promise.all([
        readFile(path.join(expectedDir, file)),
        readFile(path.join(actualDir, file)),
      ]);
      if (!want.equals(have)) differences.push(`changed: ${file}`);
    }
  }
  return differences.sort();
}

async function main() {
  // The config file is found relative to the working directory.
  process.chdir(repoRoot);
  const freshDir = await mkdtemp(path.join(tmpdir(), "nomad-generated-"));
  try {
    // Merged over openapi-ts.config.ts: only the output folder and the logging differ.
    await createClient({ output: { path: freshDir }, logs: { level: "silent", file: false } });
    const differences = await differingFiles(freshDir, committedDir);
    if (differences.length > 0) {
      const relativeDir = path.relative(repoRoot, committedDir);
      console.error(`${relativeDir} is stale (differs from openapi/nomad.yaml):`);
      for (const difference of differences) console.error(`  ${difference}`);
      console.error("Run `npm run generate` and commit the result.");
      process.exitCode = 1;
      return;
    }
    console.log("src/nomad/generated is up to date.");
  } finally {
    await rm(freshDir, { recursive: true, force: true });
  }
}

// openapi-ts wraps failures: JobError keeps the cause in originalError.error, ConfigValidationError in errors[].
function describeFailure(error) {
  if (Array.isArray(error?.errors)) return error.errors.map((item) => item.error.message).join("; ");
  const cause = error?.originalError?.error ?? error;
  return cause instanceof Error ? cause.message : String(cause);
}

main().catch((error) => {
  console.error(`Could not regenerate the Nomad client: ${describeFailure(error)}`);
  process.exitCode = 2;
});

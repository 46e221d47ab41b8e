import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The Prometheus the scrape test runs, or why there is none here. */
export type PrometheusBinary = { path: string } | { unavailable: string };

const INSTALL_SCRIPT = fileURLToPath(new URL("../../scripts/install-prometheus.sh", import.meta.url));

declare module "vitest" {
  export interface ProvidedContext {
    prometheus: PrometheusBinary;
  }
}

/**
 * Builds Prometheus with nomad_sd_configs once per machine (scripts/install-prometheus.sh: ~6 min on 2
 * cores the first time, then the cached binary). Outside CI a machine that cannot build it skips the
 * scrape test; under CI=true that is a failure.
 */
export async function ensurePrometheus(): Promise<PrometheusBinary> {
  const found = await new Promise<PrometheusBinary>((resolve) => {
    // The script's progress goes to the terminal; its one line on stdout is the binary's path.
    const child = spawn("sh", [INSTALL_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on("error", (error) => resolve({ unavailable: `${INSTALL_SCRIPT}: ${error.message}` }));
    child.on("close", (code) =>
      resolve(
        code === 0
          ? { path: stdout.trim() }
          : { unavailable: `${INSTALL_SCRIPT} failed (exit ${code}): no Prometheus with nomad_sd_configs` },
      ),
    );
  });
  if ("unavailable" in found && process.env.CI === "true") throw new Error(found.unavailable);
  return found;
}

import type { TestProject } from "vitest/node";
import { ensurePrometheus } from "../prometheus/binary.js";
import { EngineUnavailableError, ensureEngine } from "./engine.js";
import { ensureTestImage } from "./image.js";

/**
 * vitest globalSetup: ensures the engine and the test image once per run, before test files start in
 * parallel (so they never race to import the image), and stops dockerd afterwards if it started it.
 * Builds the scrape test's Prometheus the first time on a machine, before any test's timeout runs.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide("prometheus", await ensurePrometheus());
  try {
    const engine = await ensureEngine();
    await ensureTestImage(engine.docker);
    return () => engine.stop();
  } catch (error) {
    // Outside CI each Docker test file reports the skip itself (openWorldForTests); unit tests still run.
    if (error instanceof EngineUnavailableError && process.env.CI !== "true") return async () => {};
    throw error;
  }
}

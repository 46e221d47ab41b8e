import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts the Docker Engine if none answers and builds the local test image, once per run; builds
    // the scrape test's Prometheus the first time on a machine (scripts/install-prometheus.sh).
    globalSetup: ["./test/world/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts the Docker Engine if none answers and builds the local test image, once per run.
    globalSetup: ["./test/world/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

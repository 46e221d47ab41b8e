import { defineConfig } from "vitest/config";

// Two tiers, told apart by the file name. `npm run test:unit` runs the unit tier alone; `npx vitest run`
// (what `npm test` and CI run) runs both.
const DOCKER_TESTS = "test/**/*.docker.test.ts";

export default defineConfig({
  test: {
    // Most Docker tests wait — for idle timeouts, cycles, containers — rather than compute: on 2 cores,
    // 4 files at a time keep the machine busy without starving the monitors under test.
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          // Pure and in-process tests, child processes and loopback servers included: no Docker Engine.
          // Its set-up puts the engine out of reach, so a Docker test missing the name fails here.
          name: "unit",
          // src/ transpiled once for the monitor and CLI processes tests start.
          globalSetup: ["./test/support/transpile-src.ts"],
          // Worker threads: a quarter less CPU than a process per file, and this tier is bound by CPU.
          pool: "threads",
          include: ["test/**/*.test.ts"],
          exclude: [DOCKER_TESTS],
          env: {
            NOMAD_IDLE_MONITOR_UNIT_TIER: "true",
            // And for what does not go through test/world/engine.ts (the docker CLI, for one).
            DOCKER_HOST: "unix:///nonexistent/no-docker-in-the-unit-tier.sock",
          },
        },
      },
      {
        extends: true,
        test: {
          // Against the real Docker Engine: the test world's containers, monitors, the image.
          name: "docker",
          // A process per file: a sampler's descriptors, counted in /proc/self/fd, are the file's own.
          pool: "forks",
          include: [DOCKER_TESTS],
          // Starts the Docker Engine if none answers and builds the local test image, once per run, and
          // the scrape test's Prometheus the first time on a machine (scripts/install-prometheus.sh);
          // src/ transpiled once for the monitor and CLI processes tests start.
          globalSetup: ["./test/world/global-setup.ts", "./test/support/transpile-src.ts"],
        },
      },
    ],
  },
});

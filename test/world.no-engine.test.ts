import { beforeEach, describe, expect, it, vi } from "vitest";
import { UNIT_TIER_VARIABLE } from "./world/engine.js";
import { openWorldForTests } from "./world/world.js";

describe("opening a world without an engine", () => {
  const noEngineHere = "unix:///nonexistent/docker.sock";
  // As on a machine without an engine, in either tier: the unit tier's own guard is not what is tested.
  beforeEach(() => vi.stubEnv(UNIT_TIER_VARIABLE, undefined));

  it("fails under CI=true, saying what to install", async () => {
    vi.stubEnv("DOCKER_HOST", noEngineHere);
    vi.stubEnv("CI", "true");
    try {
      await expect(openWorldForTests()).rejects.toThrow(/apt-get install docker\.io busybox-static/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("outside CI skips the Docker tests and says why", async () => {
    vi.stubEnv("DOCKER_HOST", noEngineHere);
    vi.stubEnv("CI", "");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      await expect(openWorldForTests()).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Skipping Docker tests: .*DOCKER_HOST/));
    } finally {
      warn.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});

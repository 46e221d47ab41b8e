import { describe, expect, it } from "vitest";
import { waitFor } from "./monitor/harness.js";
import { runMain } from "./monitor/processes.js";

describe("the monitor process", () => {
  it("exits 2 and names every bad variable with its value and the valid form", async () => {
    const run = runMain({ CHECK_INTERVAL: "soon", DRY_RUN: "maybe" });
    const { code } = await run.exit;
    expect(code).toBe(2);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toEqual([
      expect.stringMatching(/^nomad-idle-monitor: NOMAD_NODE_ID is not set/),
      'nomad-idle-monitor: CHECK_INTERVAL="soon" is not valid: expected a Go/Nomad duration such as "90s", "15m" or "1h30m", or a whole number of seconds such as "3600"',
      'nomad-idle-monitor: DRY_RUN="maybe" is not valid: expected true or false',
    ]);
  });
});

describe("the monitor process with the seed's /etc/default/nomad-idle-monitor", () => {
  it("starts with its seconds, warns once on stderr that CONTAINER_FILTER is replaced by meta, stops on SIGTERM", async () => {
    const run = runMain({
      NOMAD_ADDR: "http://127.0.0.1:9",
      NOMAD_NODE_ID: "node-1",
      IDLE_TIMEOUT: "3600",
      CHECK_INTERVAL: "60",
      CONTAINER_FILTER: "dev-*",
    });
    let exited = false;
    void run.exit.then(() => {
      exited = true;
    });
    const warnedOrExited = () => exited || run.stderr.some((line) => line.includes("CONTAINER_FILTER"));
    await waitFor("the warning about CONTAINER_FILTER", warnedOrExited);
    run.child.kill("SIGTERM");
    const { code } = await run.exit;

    expect(code).toBe(0);
    expect(run.stderr.filter((line) => line.includes("CONTAINER_FILTER"))).toEqual([
      expect.stringMatching(
        /^\[\S+\] WARN: CONTAINER_FILTER="dev-\*" is ignored: .*"idle-monitor.enabled" = "true"/,
      ),
    ]);
  });
});

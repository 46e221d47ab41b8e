import { describe, expect, it } from "vitest";
import { runNode } from "./log/run.js";

const TIME = String.raw`\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\]`;

describe("log lines of the real logger, on file descriptors 1 and 2", () => {
  it("in text, are `[time] LEVEL: message` and nothing after it; warnings and errors on stderr", async () => {
    const output = await runNode(["test/log/emit.ts", "lines"], { LOG_FORMAT: "text" });
    expect(output.code).toBe(0);
    expect(output.stdout).toEqual([
      expect.stringMatching(new RegExp(`^${TIME} INFO: threshold 500 B per 10s$`)),
      expect.stringMatching(new RegExp(`^${TIME} DEBUG: reading: 12 B$`)),
    ]);
    expect(output.stderr).toEqual([
      expect.stringMatching(new RegExp(`^${TIME} WARN: job meta idle-monitor.timeout="soon" is not valid$`)),
      expect.stringMatching(new RegExp(`^${TIME} ERROR: cannot reach Nomad$`)),
    ]);
  });

  it("in json, keep the logger's bindings as keys; warnings and errors on stderr", async () => {
    const output = await runNode(["test/log/emit.ts", "lines"], { LOG_FORMAT: "json" });
    expect(output.code).toBe(0);
    const parse = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const bound = { job: "dev-idle", namespace: "default" };
    expect(parse(output.stdout)).toEqual([
      { level: 30, time: expect.any(Number), ...bound, msg: "threshold 500 B per 10s" },
      { level: 20, time: expect.any(Number), ...bound, msg: "reading: 12 B" },
    ]);
    expect(parse(output.stderr)).toEqual([
      {
        level: 40,
        time: expect.any(Number),
        ...bound,
        msg: 'job meta idle-monitor.timeout="soon" is not valid',
      },
      { level: 50, time: expect.any(Number), msg: "cannot reach Nomad" },
    ]);
  });
});

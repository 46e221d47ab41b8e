import pino from "pino";
import { describe, expect, it } from "vitest";
import { Actions } from "../src/actions.js";
import { type Job, NomadError, type Submitted } from "../src/model/nomad.js";
import type { NomadApi } from "../src/ports.js";

const silent = pino({ level: "silent" });
/** The action was planned on the job as read at JobModifyIndex 40. */
const target = { namespace: "default", jobId: "dev", jobModifyIndex: 40 };
const token = { load: async () => undefined };

/** The job as Nomad returns it, with one group `web`. */
function job(overrides: Partial<Job> & { count?: number } = {}): Job {
  const { count = 2, ...rest } = overrides;
  return {
    ID: "dev",
    Name: "dev",
    Namespace: "default",
    Type: "service",
    Stop: false,
    Status: "running",
    Version: 3,
    Meta: { "idle-monitor.enabled": "true" },
    TaskGroups: [{ Name: "web", Count: count, Meta: null, Networks: null, Scaling: null, Tasks: [] }],
    CreateIndex: 10,
    ModifyIndex: 40,
    JobModifyIndex: 40,
    ...rest,
  } as Job;
}

/**
 * A Nomad whose stop and scale calls all go unanswered (unavailable), counting them; the job read back
 * is `readBack` (undefined: gone), or the read fails too when it is "unavailable".
 */
function unansweredNomad(readBack: Job | undefined | "unavailable" = job()) {
  const calls: string[] = [];
  const unavailable = (what: string): never => {
    calls.push(what);
    throw new NomadError("unavailable", undefined, `${what} job dev: ECONNRESET (socket hang up)`);
  };
  const nomad = {
    stopJob: async (): Promise<Submitted> => unavailable("stop"),
    scaleGroup: async (): Promise<Submitted> => unavailable("scale"),
    async job(): Promise<Job | undefined> {
      calls.push("read");
      if (readBack === "unavailable") throw new NomadError("unavailable", 500, "read job dev: HTTP 500");
      return readBack;
    },
  } satisfies Pick<NomadApi, "stopJob" | "scaleGroup" | "job">;
  return { nomad, calls };
}

describe("Actions: a call Nomad did not answer is never sent again blind", () => {
  it("item 4: a stop that went unanswered is sent once, and the job read back still running makes it a failure to look at again next cycle", async () => {
    const { nomad, calls } = unansweredNomad(job({ JobModifyIndex: 41 }));
    const actions = new Actions({ nomad, token, log: silent, dryRun: false });

    const outcome = await actions.stopJob(target, "idle");

    expect(outcome.kind).toBe("failed");
    expect(calls).toEqual(["stop", "read"]);
  });

  it("item 4: a stop whose answer was lost is confirmed by reading the job: stopped since the plan, it is done", async () => {
    const { nomad, calls } = unansweredNomad(job({ Stop: true, JobModifyIndex: 43 }));
    const actions = new Actions({ nomad, token, log: silent, dryRun: false });

    expect(await actions.stopJob(target, "idle")).toEqual({
      kind: "done",
      evalId: undefined,
      jobModifyIndex: 43,
    });
    expect(calls).toEqual(["stop", "read"]);
  });

  it("item 4: a job already stopped at the index planned on was not stopped by this call: not done", async () => {
    const { nomad } = unansweredNomad(job({ Stop: true }));
    const actions = new Actions({ nomad, token, log: silent, dryRun: false });

    expect((await actions.stopJob(target, "idle")).kind).toBe("failed");
  });

  it.each([
    ["gone", undefined],
    ["unreadable", "unavailable" as const],
  ])(
    "item 4: a stop that went unanswered, the job read back %s: failed, not sent again",
    async (_what, readBack) => {
      const { nomad, calls } = unansweredNomad(readBack);
      const actions = new Actions({ nomad, token, log: silent, dryRun: false });

      expect((await actions.stopJob(target, "idle")).kind).toBe("failed");
      expect(calls).toEqual(["stop", "read"]);
    },
  );

  it("item 4: a scale whose answer was lost is done when the group read back is at 0 since the plan, and not sent again when it is not", async () => {
    const scaled = unansweredNomad(job({ count: 0, JobModifyIndex: 44 }));
    const lost = new Actions({ nomad: scaled.nomad, token, log: silent, dryRun: false });
    expect(await lost.scaleToZero(target, "web", "idle")).toEqual({
      kind: "done",
      evalId: undefined,
      jobModifyIndex: 44,
    });
    expect(scaled.calls).toEqual(["scale", "read"]);

    const notScaled = unansweredNomad(job({ count: 2, JobModifyIndex: 44 }));
    const failed = new Actions({ nomad: notScaled.nomad, token, log: silent, dryRun: false });
    expect((await failed.scaleToZero(target, "web", "idle")).kind).toBe("failed");
    expect(notScaled.calls).toEqual(["scale", "read"]);
  });
});

describe("Actions after shutdown began", () => {
  it("starts no call at all when the signal aborted before the action", async () => {
    const stopping = new AbortController();
    stopping.abort();
    const { nomad, calls } = unansweredNomad();
    const actions = new Actions({ nomad, token, log: silent, dryRun: false });

    const outcome = await actions.stopJob(target, "idle", stopping.signal);

    expect(outcome.kind).toBe("failed");
    expect(calls).toEqual([]);
  });
});

import pino from "pino";
import { describe, expect, it } from "vitest";
import { Actions } from "../src/actions.js";
import { systemClock } from "../src/clock.js";
import { NomadError } from "../src/model/nomad.js";
import type { NomadApi } from "../src/ports.js";

const silent = pino({ level: "silent" });
const target = { namespace: "default", jobId: "dev" };
const token = { load: async () => undefined };

/** A Nomad whose stop calls all fail as unavailable, counting them. */
function unavailableNomad(onCall: (count: number) => void = () => undefined) {
  let calls = 0;
  const nomad = {
    async stopJob(): Promise<never> {
      calls += 1;
      onCall(calls);
      throw new NomadError("unavailable", 500, "stop job dev: HTTP 500 No cluster leader");
    },
    scaleGroup: async () => ({ evalId: "unused", jobModifyIndex: 0 }),
  } satisfies Pick<NomadApi, "stopJob" | "scaleGroup">;
  return { nomad, calls: () => calls };
}

describe("Actions after shutdown began", () => {
  it("defect 4: starts no new stop call once the signal aborts during a retry's backoff", async () => {
    const stopping = new AbortController();
    // The first call fails; SIGTERM lands while the retry loop sleeps before the second.
    const { nomad, calls } = unavailableNomad(() => setTimeout(() => stopping.abort(), 20));
    const actions = new Actions({
      nomad,
      token,
      clock: systemClock,
      log: silent,
      dryRun: false,
      retry: { attempts: 4, backoff: { initialMs: 200, maxMs: 200 } },
    });

    const outcome = await actions.stopJob(target, "idle", stopping.signal);

    expect(outcome.kind).toBe("failed");
    expect(calls()).toBe(1);
  });

  it("starts no call at all when the signal aborted before the action", async () => {
    const stopping = new AbortController();
    stopping.abort();
    const { nomad, calls } = unavailableNomad();
    const actions = new Actions({ nomad, token, clock: systemClock, log: silent, dryRun: false });

    const outcome = await actions.stopJob(target, "idle", stopping.signal);

    expect(outcome.kind).toBe("failed");
    expect(calls()).toBe(0);
  });
});

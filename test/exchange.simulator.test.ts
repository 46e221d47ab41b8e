import pino from "pino";
import { describe, expect, it } from "vitest";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import type { AllocRecord } from "../src/model/cluster.js";
import { exchangeTiming } from "../src/model/timing.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import { NomadSimulator } from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

describe("reports through the Nomad API (simulator)", () => {
  it("splits a report larger than one Variable's 64 KiB over several, and another node reads it back whole", async () => {
    const sim = await NomadSimulator.start();
    try {
      sim.addNode("a");
      const api = new NomadHttpApi({
        config: { nomadAddr: sim.address, nomadRegion: undefined, tls: {} as never },
        token: () => sim.managementToken,
      });
      const paths = new StatePaths("nomad/jobs/idle-monitor");
      const clock = new FakeClock();
      const log = pino({ level: "silent" });
      const exchange = (nodeId: string) =>
        new ClusterExchange({
          store: api.variables("default", sim.managementToken),
          paths,
          nodeId,
          clock,
          log,
          timing: exchangeTiming(1_000),
        });
      const writer = exchange("node-a");
      const reader = exchange("node-b");
      const allocs: Record<string, AllocRecord> = {};
      for (let i = 0; i < 800; i++)
        allocs[`${String(i).padStart(8, "0")}-aaaa-bbbb-cccc-dddddddddddd`] = {
          state: "quiet",
          quietForMs: 1_000,
          counters: { [`${"e".repeat(64)}`]: 987_654_321 },
          countersAt: 1,
        };
      // The reader writes first: what is written after it is known to be fresh.
      await reader.publish({ v: 1, nodeId: "node-b", writtenAt: 0, allocs: {}, cooldowns: {} }, true);
      await writer.publish({ v: 1, nodeId: "node-a", writtenAt: 0, allocs, cooldowns: {} }, true);
      expect(writer.sharing).toBe(true);
      const parts = sim.listVariables("default", "nomad/jobs/idle-monitor/activity/node-a/");
      expect(parts.length).toBeGreaterThan(1);
      const evidence = await reader.peerEvidence(["node-a"]);
      expect(evidence).toHaveLength(800);
      expect(evidence?.every((peer) => peer.state === "quiet")).toBe(true);
    } finally {
      await sim.close();
    }
  });
});

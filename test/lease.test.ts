import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import { exchangeTiming } from "../src/model/timing.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import { NomadSimulator } from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

const SECOND = 1_000;
/** CHECK_INTERVAL 1 s: the lease lasts three intervals. */
const INTERVAL = SECOND;
const LEASE_MS = 3 * INTERVAL;
const SKEW = 60 * SECOND;
const paths = new StatePaths("nomad/jobs/idle-monitor");
const silent = pino({ level: "silent" });

let sim: NomadSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** Two monitors sharing the simulator's Variables over HTTP, node b's clock `skewMs` ahead of node a's. */
async function twoNodes(skewMs: number) {
  const a = new FakeClock();
  const b = new FakeClock(a.now() + skewMs);
  sim = await NomadSimulator.start({ clock: a });
  const api = new NomadHttpApi({
    config: {
      nomadAddr: sim.address,
      nomadRegion: undefined,
      tls: { caCert: undefined, clientCert: undefined, clientKey: undefined, serverName: undefined },
    },
    token: () => sim?.managementToken,
  });
  const store = api.variables("default", sim.managementToken);
  const node = (nodeId: string, clock: FakeClock) =>
    new ClusterExchange({ store, paths, nodeId, clock, log: silent, timing: exchangeTiming(INTERVAL) });
  return {
    a: node("node-a", a),
    b: node("node-b", b),
    advance: (ms: number) => Promise.all([a, b].map((clock) => clock.advance(ms))),
  };
}

describe("the start-at lease with the nodes' clocks apart", () => {
  it.each([
    { direction: "ahead", skewMs: SKEW },
    { direction: "behind", skewMs: -SKEW },
  ])(
    "issue 19 item 6: the start-at lease is held by one node at a time and taken over in time, node b's clock 60 s $direction",
    async ({ skewMs }) => {
      const { a, b, advance } = await twoNodes(skewMs);
      expect(await a.lease("start-at", LEASE_MS)).toBeDefined();

      // Both monitors run their cycles for a while: a renews, and b never holds the lease meanwhile.
      for (let cycle = 0; cycle < 20; cycle++) {
        await advance(INTERVAL);
        const byB = await b.lease("start-at", LEASE_MS);
        const byA = await a.lease("start-at", LEASE_MS);
        expect([byA !== undefined, byB !== undefined], `cycle ${cycle}`).toEqual([true, false]);
      }

      // a dies after its last cycle: b takes over within two lease times of its own clock, not a skew later.
      let cycles = 0;
      while ((await b.lease("start-at", LEASE_MS)) === undefined && cycles < 100) {
        await advance(INTERVAL);
        cycles++;
      }
      expect(cycles * INTERVAL).toBeGreaterThanOrEqual(LEASE_MS / 2);
      expect(cycles * INTERVAL).toBeLessThanOrEqual(2 * LEASE_MS);
      expect(await a.lease("start-at", LEASE_MS)).toBeUndefined();
    },
  );
});

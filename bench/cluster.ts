// `npm run bench:cluster`: what deciding as a cluster costs one node. One simulated hour of 60 s cycles
// on fake time, with 100 opted-in allocations on this node and 3 other nodes publishing too, against the
// project's Nomad API simulator over real HTTP on loopback: Variable writes per node per hour (quiet,
// active, and flapping allocations), and the wall time that publishing and reading add to a cycle.
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import type { AllocRecord, NodeReport } from "../src/model/cluster.js";
import { exchangeTiming } from "../src/model/timing.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import { NomadSimulator } from "../test/sim/index.js";
import { FakeClock } from "../test/support/fake-clock.js";

const ALLOCATIONS = 100;
const PEERS = 3;
const INTERVAL_MS = 60_000;
const CYCLES = 60;

type Pattern = "quiet" | "active" | "flapping (each allocation changes state every 5th cycle)";

function records(pattern: Pattern, cycle: number, now: number): Record<string, AllocRecord> {
  const allocs: Record<string, AllocRecord> = {};
  for (let i = 0; i < ALLOCATIONS; i++) {
    const id = `${String(i).padStart(8, "0")}-1111-2222-3333-444444444444`;
    const quiet = pattern === "quiet" || (pattern !== "active" && Math.floor((cycle + i) / 5) % 2 === 0);
    const quietSince = quiet ? now - (((cycle + i) % 5) + 1) * INTERVAL_MS : now;
    allocs[id] = {
      state: quiet ? "quiet" : "active",
      quietSince: pattern === "quiet" ? 0 : quietSince,
      bytesSinceActive: 0,
      counters: { [`${"c".repeat(64)}`]: 1_000_000 + cycle },
      countersAt: now,
      ...(quiet ? { quietForMs: now - quietSince } : {}),
    };
  }
  return allocs;
}

async function run(pattern: Pattern) {
  const sim = await NomadSimulator.start();
  try {
    sim.addNode("bench");
    const api = new NomadHttpApi({
      config: { nomadAddr: sim.address, nomadRegion: undefined, tls: {} as never },
      token: () => sim.managementToken,
    });
    const clock = new FakeClock();
    const exchange = (nodeId: string) =>
      new ClusterExchange({
        store: api.variables("default", sim.managementToken),
        paths: new StatePaths("nomad/jobs/idle-monitor"),
        nodeId,
        clock,
        log: pino({ level: "silent" }),
        timing: exchangeTiming(INTERVAL_MS),
      });
    const self = exchange("node-0");
    const peers = Array.from({ length: PEERS }, (_, index) => exchange(`node-${index + 1}`));
    const cycleMs: number[] = [];
    const report = (nodeId: string, cycle: number): Omit<NodeReport, "heartbeatMs"> => ({
      v: 1,
      nodeId,
      writtenAt: clock.now(),
      allocs: records(pattern, cycle, clock.now()),
      cooldowns: {},
    });
    const ownWrites = () =>
      sim.calls.filter((call) => call.method === "PUT" && call.path.includes("/activity/node-0/")).length;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      for (const [index, peer] of peers.entries()) await peer.publish(report(`node-${index + 1}`, cycle));
      const started = performance.now();
      await self.publish(report("node-0", cycle));
      await self.refresh();
      cycleMs.push(performance.now() - started);
      await clock.advance(INTERVAL_MS);
    }
    const sorted = [...cycleMs].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return {
      pattern,
      writesPerHour: ownWrites(),
      // Every GET is this node's (the others only publish here); its own writes are PUTs to its report.
      requestsPerCycle:
        sim.calls.filter((call) => call.method === "GET" || call.path.includes("/activity/node-0/")).length /
        CYCLES,
      addedMsPerCycle: { min: sorted[0], median: at(0.5), p90: at(0.9), max: sorted.at(-1) },
    };
  } finally {
    await sim.close();
  }
}

const started = new Date().toISOString();
const load = loadavg()
  .map((value) => value.toFixed(2))
  .join(" ");
console.log(`nomad-idle-monitor cluster bench — ${started}, load average ${load}`);
console.log(
  `${ALLOCATIONS} opted-in allocations on this node, ${PEERS} other nodes, ${CYCLES} cycles of ${INTERVAL_MS / 1000} s (one hour, fake time), simulator over HTTP`,
);
const results = [];
for (const pattern of [
  "quiet",
  "active",
  "flapping (each allocation changes state every 5th cycle)",
] as const) {
  const result = await run(pattern);
  results.push(result);
  const ms = (value: number | undefined) => `${(value ?? 0).toFixed(2)} ms`;
  console.log(
    `${pattern}: ${result.writesPerHour} writes per node per hour, ${result.requestsPerCycle.toFixed(1)} Nomad requests per cycle; added per cycle ${ms(result.addedMsPerCycle.median)} median (min ${ms(result.addedMsPerCycle.min)}, p90 ${ms(result.addedMsPerCycle.p90)}, max ${ms(result.addedMsPerCycle.max)})`,
  );
}
console.log(JSON.stringify({ started, load, allocations: ALLOCATIONS, peers: PEERS, results }));

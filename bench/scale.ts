// `npm run bench:scale -- --nodes N`: what the monitors of an N-node cluster ask of the Nomad servers. The
// monitors' own code — the cycle, the allocation watch, the cluster exchange, the action token — runs for
// every node in one process, on fake time, against an in-memory Nomad that counts each request and the
// bytes it answers (bench/scale/fake-nomad.ts). One simulated hour at a 60 s interval; the figures are
// per node and per minute over the last 50 minutes (the first 10 are start-up).
import { setMaxListeners } from "node:events";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import pino from "pino";
import { Actions } from "../src/actions.js";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import { parseConfig } from "../src/config.js";
import { MonitorMetrics } from "../src/metrics.js";
import type { Reading } from "../src/model/readings.js";
import { exchangeTiming } from "../src/model/timing.js";
import { Monitor } from "../src/monitor.js";
import { ActionToken } from "../src/nomad/token.js";
import type { NetworkSampler } from "../src/ports.js";
import { emptyCounts, FakeNomad, type NodeCounts } from "./scale/fake-nomad.js";
import { HeapClock } from "./scale/heap-clock.js";
import { nodeName, Workload } from "./scale/workload.js";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "100" },
    allocations: { type: "string", default: "20" },
    "multi-node-share": { type: "string", default: "0.1" },
    churn: { type: "string" },
    minutes: { type: "string", default: "60" },
  },
});
const nodes = positive("nodes", values.nodes);
const allocationsPerNode = positive("allocations", values.allocations);
const multiNodeShare = Number(values["multi-node-share"]);
if (!(multiNodeShare >= 0 && multiNodeShare <= 1))
  throw new Error(`--multi-node-share=${values["multi-node-share"]}: a share from 0 to 1`);
// Default churn: each node gets one new job an hour (and one goes), cluster-wide nodes/60 a minute.
const churnPerMinute = values.churn === undefined ? nodes / 60 : Number(values.churn);
if (!(churnPerMinute >= 0)) throw new Error(`--churn=${values.churn}: placements per minute, 0 or more`);
const minutes = positive("minutes", values.minutes);
const WARM_UP_MINUTES = Math.min(10, Math.floor(minutes / 6));
const INTERVAL_MS = 60_000;
const TOKEN_REFRESH_MS = 5 * 60_000;

function positive(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name}=${text}: a whole number above 0`);
  return value;
}

const load = loadavg()[0]?.toFixed(2);
const startedWall = Date.now();
const clock = new HeapClock(Date.UTC(2030, 0, 1));
const nomad = new FakeNomad(clock);
const workload = new Workload(nomad, { nodes, allocationsPerNode, multiNodeShare, timeout: "6h" });
workload.populate();
const log = pino({ level: "silent" });
// A shutdown signal per monitor, as each has its own process in a cluster: thousands of listeners on one
// signal would make each of their sleeps cost a walk over all of them (EventTarget checks for duplicates).
const stops: AbortController[] = [];
const running: Array<Promise<void>> = [];

/** Quiet allocations: the same counters every reading. */
const quietSampler: NetworkSampler = {
  async sample(allocIds, at) {
    return new Map(
      allocIds.map((allocId): [string, Reading] => [
        allocId,
        { allocId, at, state: "measured", counters: new Map([[`ns-${allocId}`, 1_000]]) },
      ]),
    );
  },
};

for (let index = 0; index < nodes; index++) {
  const nodeId = nodeName(index);
  const parsed = parseConfig({
    NOMAD_ADDR: "http://nomad.invalid:4646",
    NOMAD_TOKEN: "workload-identity",
    NOMAD_NODE_ID: nodeId,
    NOMAD_ALLOC_ID: `monitor-${nodeId}`,
    NOMAD_JOB_ID: "idle-monitor",
    CHECK_INTERVAL: `${INTERVAL_MS / 1000}s`,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const { config } = parsed;
  const api = nomad.api(nodeId);
  const token = new ActionToken(api, config, log);
  await token.load();
  const monitor = new Monitor({
    config,
    metrics: new MonitorMetrics(() => clock.now()),
    cluster: new ClusterExchange({
      store: nomad.variables(nodeId),
      paths: new StatePaths("nomad/jobs/idle-monitor"),
      nodeId,
      clock,
      log,
      timing: exchangeTiming(config.checkIntervalMs),
    }),
    nodeId,
    nomad: api,
    token,
    sampler: quietSampler,
    actions: new Actions({ nomad: api, token, log, dryRun: false }),
    clock,
    log,
  });
  // As the daemon does: the monitors start within an interval of each other, and refresh the token.
  clock.after(Math.floor((index * INTERVAL_MS) / nodes), () => {
    const stop = new AbortController();
    // A monitor's own sleeps, blocking query and timers: more than the default 10 at once.
    setMaxListeners(0, stop.signal);
    stops.push(stop);
    running.push(monitor.run(stop.signal));
    clock.every(TOKEN_REFRESH_MS, () => void token.load().catch(() => undefined));
  });
}
let churned = 0;
if (churnPerMinute > 0) {
  let seed = 1;
  const random = () => {
    seed = (seed * 48_271) % 2_147_483_647;
    return seed;
  };
  clock.every(Math.max(1, Math.round(60_000 / churnPerMinute)), () => {
    workload.replaceOne(random);
    churned += 1;
  });
}

const start = clock.now();
await clock.advanceTo(start + WARM_UP_MINUTES * 60_000);
const before = snapshot();
const eventBytesBefore = nomad.clusterEventBytes;
await clock.advanceTo(start + minutes * 60_000);
const after = snapshot();
const eventBytes = nomad.clusterEventBytes - eventBytesBefore;
for (const stop of stops) stop.abort();
await clock.advanceTo(clock.now() + 1);
await Promise.all(running);

function snapshot(): Map<string, NodeCounts> {
  return new Map(
    [...nomad.counts].map(([node, counts]) => [node, { ...counts, byKind: new Map(counts.byKind) }]),
  );
}

const measuredMinutes = minutes - WARM_UP_MINUTES;
const total = emptyCounts();
for (const [node, end] of after) {
  const begin = before.get(node) ?? emptyCounts();
  for (const key of [
    "requests",
    "variableReads",
    "variableWrites",
    "variableLists",
    "listEntries",
    "bytesRead",
  ] as const)
    total[key] += end[key] - begin[key];
  for (const [kind, value] of end.byKind)
    total.byKind.set(kind, (total.byKind.get(kind) ?? 0) + value - (begin.byKind.get(kind) ?? 0));
}
const perNodeMinute = (value: number) => value / nodes / measuredMinutes;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

console.log(
  `bench:scale — ${nodes} nodes × ${allocationsPerNode} opted-in allocations (${Math.round(multiNodeShare * 100)}% in jobs on two nodes), all quiet; ${round(churnPerMinute)} placements a minute cluster-wide; ${minutes} simulated minutes at a 60 s interval, the last ${measuredMinutes} measured; load average ${load} at the start`,
);
console.log("\nper node, per minute (steady state):");
console.log("| what | per node per minute |\n|---|---|");
for (const [kind, value] of [...total.byKind].sort(([a], [b]) => a.localeCompare(b)))
  if (value > 0) console.log(`| ${kind} | ${round(perNodeMinute(value), 3)} |`);
console.log(`| **all requests to Nomad** | **${round(perNodeMinute(total.requests), 3)}** |`);
console.log(`| Variable list entries returned | ${round(perNodeMinute(total.listEntries), 1)} |`);
console.log(`| bytes answered (not the event stream) | ${round(perNodeMinute(total.bytesRead), 0)} |`);
console.log("| event stream bytes received | 0 (no subscription) |");
console.log(
  `| for comparison: what one event stream subscription would receive at this churn | ${round(eventBytes / measuredMinutes, 0)} |`,
);
console.log(
  `\ncluster-wide: ${round(total.requests / measuredMinutes / 60, 1)} requests/s to the servers, ${round((nodes * eventBytes) / measuredMinutes / 60 / 1e6, 2)} MB/s if every node subscribed to the event stream; ${churned} placements in all; ${round((Date.now() - startedWall) / 1000, 1)} s wall, peak RSS ${round(process.resourceUsage().maxRSS / 1024, 0)} MB`,
);
console.log(
  JSON.stringify({
    nodes,
    allocationsPerNode,
    multiNodeShare,
    churnPerMinute: round(churnPerMinute),
    requestsPerNodePerMinute: round(perNodeMinute(total.requests), 3),
    variableReadsPerNodePerMinute: round(perNodeMinute(total.variableReads), 3),
    variableWritesPerNodePerMinute: round(perNodeMinute(total.variableWrites), 3),
    variableListsPerNodePerMinute: round(perNodeMinute(total.variableLists), 3),
    listEntriesPerNodePerMinute: round(perNodeMinute(total.listEntries), 1),
    bytesReadPerNodePerMinute: Math.round(perNodeMinute(total.bytesRead)),
    streamBytesPerNodePerMinute: 0,
    eventStreamBytesPerSubscriberPerMinute: Math.round(eventBytes / measuredMinutes),
    loadAverage: Number(load),
  }),
);

// The bench's containers, held by a process of their own: the test world removes the containers of any
// world whose owner process is gone, so containers kept between bench runs (--reuse) need an owner that
// stays alive. Forked detached by the bench; creates the allocations, writes their description to a state
// file, and removes them all when it gets SIGTERM.
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mapBounded } from "../src/docker/bounded.js";
import { type AllocationSpec, DockerWorld, type PlacedAllocation } from "../test/world/world.js";

export const STATE_DIR = join(tmpdir(), "nomad-idle-monitor-bench");
const TASKS = ["web", "sidecar"];
/** Every BRIDGE_EVERY-th allocation is bridge-mode (pause container + tasks sharing its namespace). */
const BRIDGE_EVERY = 4;
/** Allocations created (and removed) at once: each takes ~300 ms of dockerd work. */
export const SETUP_CONCURRENCY = 12;

export interface KeptWorld {
  keeperPid: number;
  containers: number;
  allocations: PlacedAllocation[];
  setupMs: number;
  createdAt: string;
}

export type FromKeeper =
  | { kind: "progress"; created: number; of: number }
  | { kind: "ready"; world: KeptWorld }
  | { kind: "failed"; message: string };

export function statePath(containers: number): string {
  return join(STATE_DIR, `world-${containers}.json`);
}

/** The world kept for this many containers, if its keeper still lives. */
export function keptWorld(containers: number): KeptWorld | undefined {
  try {
    const world = JSON.parse(readFileSync(statePath(containers), "utf8")) as KeptWorld;
    process.kill(world.keeperPid, 0);
    return world;
  } catch {
    return undefined;
  }
}

/**
 * Allocations of two tasks until `containers` are placed: three of four in host mode (each task its own
 * namespace), one of four in bridge mode (pause container + two tasks, one namespace), as a node running a
 * mix of jobs has. The last allocation is shrunk to land on exactly `containers`.
 */
function planAllocations(containers: number): AllocationSpec[] {
  const specs: AllocationSpec[] = [];
  let remaining = containers;
  while (remaining > 0) {
    const bridge = specs.length % BRIDGE_EVERY === BRIDGE_EVERY - 1 && remaining >= TASKS.length + 1;
    const tasks = TASKS.slice(0, bridge ? TASKS.length : Math.min(TASKS.length, remaining));
    specs.push({ allocId: randomUUID(), tasks, networkMode: bridge ? "bridge" : "host" });
    remaining -= tasks.length + (bridge ? 1 : 0);
  }
  return specs;
}

/** A line of the keeper's log ($STATE_DIR/keeper-<N>.log). */
function log(text: string): void {
  console.log(`${new Date().toISOString()} ${text}`);
}

async function keep(containers: number): Promise<void> {
  const send = (message: FromKeeper) => process.send?.(message);
  const abort = new AbortController();
  const world = await DockerWorld.open();
  let removing = false;
  const removeAll = () => {
    abort.abort();
    if (removing) return;
    removing = true;
    void (async () => {
      const started = performance.now();
      log(`removing ${allocIds.length} allocations`);
      const step = Math.ceil(allocIds.length / 20);
      const failures = await world.removeAllocations(allocIds, (removed) => {
        if (removed % step === 0) log(`removed ${removed}/${allocIds.length} allocations`);
      });
      for (const { allocId, error } of failures) log(`not removed: allocation ${allocId}: ${error}`);
      // What is left goes with the next world that opens, this keeper being gone by then.
      let complete = failures.length === 0;
      if (complete)
        await world.close().catch((error: unknown) => {
          log(`closing the world: ${error}`);
          complete = false;
        });
      rmSync(statePath(containers), { force: true });
      log(
        `removal ended after ${((performance.now() - started) / 1000).toFixed(1)} s, ${failures.length} allocations left`,
      );
      process.exit(complete ? 0 : 1);
    })();
  };
  const specs = planAllocations(containers);
  const allocIds = specs.map((spec) => spec.allocId);
  process.on("SIGTERM", removeAll);
  process.on("SIGINT", removeAll);

  const started = performance.now();
  let created = 0;
  let failure: unknown;
  const placed = await mapBounded(specs, SETUP_CONCURRENCY, async (spec) => {
    if (failure !== undefined || abort.signal.aborted) return undefined;
    try {
      const allocation = await world.createAllocation(spec);
      created++;
      if (created % Math.ceil(specs.length / 20) === 0) send({ kind: "progress", created, of: specs.length });
      return allocation;
    } catch (error) {
      failure ??= error;
      return undefined;
    }
  });
  if (abort.signal.aborted) return;
  if (failure !== undefined) {
    send({
      kind: "failed",
      message: `setup failed after ${created} of ${specs.length} allocations: ${failure}`,
    });
    removeAll();
    return;
  }
  const kept: KeptWorld = {
    keeperPid: process.pid,
    containers,
    allocations: placed as PlacedAllocation[],
    setupMs: performance.now() - started,
    createdAt: new Date().toISOString(),
  };
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(statePath(containers), JSON.stringify(kept));
  send({ kind: "ready", world: kept });
  // Stays alive, holding the containers, until SIGTERM.
  setInterval(() => {}, 1 << 30);
}

if (process.argv[2] === "--keep") await keep(Number(process.argv[3]));

// The benches' side of the world keeper (world-keeper.ts): containers created by a keeper process of their
// own, reused by later runs (--reuse) of either bench (`npm run bench`, `npm run bench:signals`) until removed.
import { type ChildProcess, fork } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type FromKeeper, type KeptWorld, keptWorld, STATE_DIR, statePath } from "./world-keeper.js";

export interface Setup {
  world: KeptWorld;
  /** Every container, pause containers included, in allocation order. */
  containerIds: string[];
  /** Created by this run (not reused). */
  created: boolean;
  keeper?: ChildProcess;
}

/** The containers: kept ones (`reuse`), or new ones created by a keeper process. */
export async function setUp(
  options: { containers: number; reuse: boolean },
  signal: AbortSignal,
  say: (text: string) => void,
): Promise<Setup> {
  const kept = options.reuse ? keptWorld(options.containers) : undefined;
  if (kept) return { world: kept, containerIds: containerIdsOf(kept), created: false };
  mkdirSync(STATE_DIR, { recursive: true });
  const keeperLog = openSync(join(STATE_DIR, `keeper-${options.containers}.log`), "a");
  const keeper = fork(
    fileURLToPath(new URL("world-keeper.ts", import.meta.url)),
    ["--keep", String(options.containers)],
    {
      detached: true,
      execArgv: ["--import", "tsx"],
      // Not the terminal: a kept keeper outlives this process, and would hold its output open.
      stdio: ["ignore", keeperLog, keeperLog, "ipc"],
    },
  );
  closeSync(keeperLog);
  const onAbort = () => keeper.kill("SIGTERM");
  signal.addEventListener("abort", onAbort);
  try {
    const world = await new Promise<KeptWorld>((resolveWorld, reject) => {
      keeper.on("message", (message: FromKeeper) => {
        if (message.kind === "progress") say(`  created ${message.created}/${message.of} allocations`);
        if (message.kind === "failed") reject(new Error(message.message));
        if (message.kind === "ready") resolveWorld(message.world);
      });
      keeper.once("exit", (code) =>
        reject(new Error(`the world keeper exited (${code}) before the world was ready`)),
      );
    });
    return { world, containerIds: containerIdsOf(world), created: true, keeper };
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function containerIdsOf(world: KeptWorld): string[] {
  return world.allocations.flatMap((allocation) => [
    ...(allocation.pause ? [allocation.pause.id] : []),
    ...allocation.tasks.map((task) => task.id),
  ]);
}

/** Terminates a keeper (it removes its containers) and waits until it is gone; returns the time it took. */
export async function removeKept(keeperPid: number): Promise<number> {
  const started = performance.now();
  try {
    process.kill(keeperPid, "SIGTERM");
  } catch {
    return 0;
  }
  for (;;) {
    try {
      process.kill(keeperPid, 0);
    } catch {
      return performance.now() - started;
    }
    await sleep(200);
  }
}

/** Removes every world kept by --reuse runs, saying how long each took. */
export async function clean(say: (text: string) => void): Promise<number> {
  let files: string[] = [];
  try {
    files = readdirSync(STATE_DIR).filter((file) => /^world-\d+\.json$/.test(file));
  } catch {
    // nothing kept
  }
  if (files.length === 0) say("no containers kept by --reuse runs");
  for (const file of files) {
    const containers = Number(file.match(/\d+/)?.[0]);
    const world = keptWorld(containers);
    if (!world) {
      await rm(statePath(containers), { force: true });
      continue;
    }
    say(`removing the ${containers} containers kept since ${world.createdAt}...`);
    say(`removed in ${((await removeKept(world.keeperPid)) / 1000).toFixed(1)} s`);
  }
  return 0;
}

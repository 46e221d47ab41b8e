// The benches' side of the world keeper (world-keeper.ts): containers created by a keeper process of their
// own, reused by later runs (--reuse) of either bench (`npm run bench`, `npm run bench:signals`) until removed.
import { type ChildProcess, fork } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type Dockerode from "dockerode";
import { ensureEngine } from "../test/world/engine.js";
import { containersOwnedBy } from "../test/world/world.js";
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

export interface CleanUp {
  ms: number;
  /** The keeper's containers still there at the end; undefined when Docker did not say. */
  left: number | undefined;
}

/** How long a keeper may take to remove its containers: generous next to the ~0.3 s each takes. */
const removalBudgetMs = (containers: number) => 120_000 + containers * 1_000;
const PROGRESS_EVERY_MS = 30_000;

/**
 * Tells a keeper to remove its containers and waits until it is gone, saying how many are left every
 * 30 s; a keeper still there after the budget is killed (its containers then go with the next test
 * world or bench that opens). Returns the time it took and what is left.
 */
export async function removeKept(
  world: KeptWorld,
  docker: Dockerode,
  say: (text: string) => void,
): Promise<CleanUp> {
  const started = performance.now();
  const left = async () => (await containersOwnedBy(docker, world.keeperPid).catch(() => undefined))?.length;
  if (!signal(world.keeperPid, "SIGTERM")) return { ms: 0, left: await left() };
  const budgetMs = removalBudgetMs(world.containers);
  let progressAt = started + PROGRESS_EVERY_MS;
  while (signal(world.keeperPid, 0)) {
    const now = performance.now();
    if (now - started > budgetMs) {
      say(
        `the keeper (pid ${world.keeperPid}) did not finish within ${budgetMs / 1000} s: killed; ` +
          `its log is in ${STATE_DIR}, and the next test world or bench to open removes what is left`,
      );
      signal(world.keeperPid, "SIGKILL");
      break;
    }
    if (now > progressAt) {
      say(`  removing: ${(await left()) ?? "(Docker did not say how many)"} containers left`);
      progressAt = performance.now() + PROGRESS_EVERY_MS;
    }
    await sleep(200);
  }
  return { ms: performance.now() - started, left: await left() };
}

/** "removed in 301.2 s", or what is left. */
export function cleanUpText({ ms, left }: CleanUp): string {
  const taken = `${(ms / 1000).toFixed(1)} s`;
  if (left === 0) return `removed in ${taken}`;
  return `${left ?? "an unknown number of"} containers left after ${taken} (the keeper's log: ${STATE_DIR})`;
}

/** Sends `signal` (0: none, only whether it exists); false when there is no such process. */
function signal(pid: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
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
  const engine = await ensureEngine();
  let complete = true;
  for (const file of files) {
    const containers = Number(file.match(/\d+/)?.[0]);
    const world = keptWorld(containers);
    if (!world) {
      await rm(statePath(containers), { force: true });
      continue;
    }
    say(`removing the ${containers} containers kept since ${world.createdAt}...`);
    const cleanUp = await removeKept(world, engine.docker, say);
    say(cleanUpText(cleanUp));
    complete &&= cleanUp.left === 0;
  }
  await engine.stop();
  return complete ? 0 : 1;
}

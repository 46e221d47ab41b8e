import type { Clock } from "../clock.js";
import type { VariableStore } from "../ports.js";
import type { StatePaths } from "./paths.js";

export interface ClaimsOptions {
  store: VariableStore;
  paths: StatePaths;
  nodeId: string;
  clock: Clock;
  /** How long a claim whose duration cannot be read is kept. */
  retentionMs: number;
}

interface SeenClaim {
  modifyIndex: number;
  /** This node's clock when it first saw this ModifyIndex. */
  firstSeenAt: number;
  durationMs: number;
}

/**
 * Claims on actions, one Variable per job, written with `cas=0` so that two nodes never both act. A claim
 * lasts `durationMs` (the cooldown) from when each reader first saw it, then any monitor removes it. This
 * node's own claim (an earlier attempt, or from before a restart) does not stop it.
 */
export class Claims {
  readonly #options: ClaimsOptions;
  readonly #seen = new Map<string, SeenClaim>();

  constructor(options: ClaimsOptions) {
    this.#options = options;
  }

  /** Throws when the Variables cannot be written or read. */
  async claim(
    namespace: string,
    jobId: string,
    action: string,
    durationMs: number,
  ): Promise<"claimed" | "held"> {
    const { store, paths, nodeId, clock } = this.#options;
    const path = paths.claim(namespace, jobId);
    const items = { node: nodeId, action, durationMs: String(durationMs), job: jobId, namespace };
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await store.write(path, items, 0);
      if (result.kind === "written") return "claimed";
      const { current } = result;
      if (current.items.node === nodeId) return "claimed";
      const seen = this.#seen.get(path);
      const now = clock.now();
      if (seen?.modifyIndex !== current.modifyIndex) {
        this.#seen.set(path, {
          modifyIndex: current.modifyIndex,
          firstSeenAt: now,
          durationMs: Number(current.items.durationMs ?? durationMs),
        });
        return "held";
      }
      if (now - seen.firstSeenAt < seen.durationMs) return "held";
      if ((await store.delete(path, current.modifyIndex)) === "conflict") return "held";
    }
    return "held";
  }

  /** Among the claims listed now (path → ModifyIndex), those past their time; what is not listed is forgotten. */
  async expired(
    listed: ReadonlyMap<string, number>,
    now: number,
  ): Promise<Array<{ path: string; modifyIndex: number }>> {
    const { store, retentionMs } = this.#options;
    const expired: Array<{ path: string; modifyIndex: number }> = [];
    for (const [path, modifyIndex] of listed) {
      const seen = this.#seen.get(path);
      if (seen?.modifyIndex !== modifyIndex) {
        const current = await store.read(path).catch(() => undefined);
        this.#seen.set(path, {
          modifyIndex,
          firstSeenAt: now,
          durationMs: Number(current?.items.durationMs ?? retentionMs),
        });
        continue;
      }
      if (now - seen.firstSeenAt >= seen.durationMs) expired.push({ path, modifyIndex });
    }
    for (const path of this.#seen.keys()) if (!listed.has(path)) this.#seen.delete(path);
    return expired;
  }
}

import type { Clock } from "../clock.js";
import type { Lease, VariableStore } from "../ports.js";
import type { StatePaths } from "./paths.js";

export interface LeasesOptions {
  store: VariableStore;
  paths: StatePaths;
  nodeId: string;
  clock: Clock;
}

interface LeaseState {
  ours: boolean;
  expiresAt: number;
  modifyIndex: number;
  /** Ours only: up to when what came due was dealt with; written with the next renewal. */
  evaluatedAt: number | undefined;
}

/**
 * Leases in Variables whose items say who holds them, until when, and up to when their holders dealt with
 * what came due (Nomad 1.6 has no Variable locks): taken when absent, expired or already this node's,
 * always with check-and-set, so that two monitors racing for one never both get it. Expiry is compared on
 * the reader's clock. The holder renews a lease only once half its time has passed, and one seen held by
 * another is not read again before it expires: in steady state one write per half lease, cluster-wide.
 */
export class Leases {
  readonly #options: LeasesOptions;
  readonly #known = new Map<string, LeaseState>();

  constructor(options: LeasesOptions) {
    this.#options = options;
  }

  /** The lease, or undefined when another holds it or it was taken meanwhile; throws when it cannot be read or written. */
  async lease(name: string, durationMs: number): Promise<Lease | undefined> {
    const { store, paths, nodeId, clock } = this.#options;
    const now = clock.now();
    const known = this.#known.get(name);
    if (known && !known.ours && now < known.expiresAt) return undefined;
    if (known?.ours && known.expiresAt - now > durationMs / 2) return leaseOf(known);
    const path = paths.lease(name);
    try {
      const current = await store.read(path);
      const expiresAt = Number(current?.items.expiresAt);
      if (current && current.items.node !== nodeId && expiresAt > now) {
        this.#known.set(name, {
          ours: false,
          expiresAt,
          modifyIndex: current.modifyIndex,
          evaluatedAt: undefined,
        });
        return undefined;
      }
      const stored = Number(current?.items.evaluatedAt);
      const evaluatedAt = known?.ours ? known.evaluatedAt : stored > 0 ? stored : undefined;
      const items = {
        node: nodeId,
        expiresAt: String(now + durationMs),
        evaluatedAt: String(evaluatedAt ?? 0),
      };
      const taken = await store.write(path, items, current?.modifyIndex ?? 0);
      if (taken.kind === "conflict") {
        this.#known.delete(name);
        return undefined;
      }
      const held = { ours: true, expiresAt: now + durationMs, modifyIndex: taken.modifyIndex, evaluatedAt };
      this.#known.set(name, held);
      return leaseOf(held);
    } catch (error) {
      this.#known.delete(name);
      throw error;
    }
  }
}

function leaseOf(state: LeaseState): Lease {
  return {
    evaluatedAt: state.evaluatedAt,
    evaluated: (at) => {
      state.evaluatedAt = at;
    },
  };
}

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
  /** The lease Variable's ModifyIndex as this node last saw it. */
  modifyIndex: number;
  /** This node's clock when it first saw that ModifyIndex (ours: when it wrote it). */
  seenAt: number;
  /** How long its holder promised to renew within (the longer of its and this node's lease). */
  durationMs: number;
  /** Ours only: up to when what came due was dealt with; written with the next renewal. */
  evaluatedAt: number | undefined;
}

/**
 * Leases in Variables whose items say who holds them and up to when their holders dealt with what came
 * due (Nomad 1.6 has no Variable locks): taken when absent, already this node's, or expired — always with
 * check-and-set, so that two monitors racing for one never both get it. Expiry is never a time written on
 * another machine's clock: a lease held by another node counts as held while its ModifyIndex moved within
 * the last lease time as this node observed it (README "Across nodes"), so clocks apart by any amount
 * change nothing. The holder renews a lease once half its time has passed; another node reads it once per
 * lease time: in steady state one write per half lease, cluster-wide, and a lease whose holder died is
 * taken over within two lease times.
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
    if (known && now - known.seenAt < (known.ours ? durationMs / 2 : known.durationMs)) {
      return known.ours ? leaseOf(known) : undefined;
    }
    const path = paths.lease(name);
    try {
      const current = await store.read(path);
      const theirs = current !== undefined && current.items.node !== nodeId;
      const moved = current?.modifyIndex !== known?.modifyIndex;
      if (theirs && (moved || known?.ours)) {
        // New to this node, or renewed since it last looked: held for a lease time from now.
        const promised = Number(current.items.durationMs);
        this.#known.set(name, {
          ours: false,
          modifyIndex: current.modifyIndex,
          seenAt: now,
          durationMs: Math.max(durationMs, Number.isFinite(promised) ? promised : 0),
          evaluatedAt: undefined,
        });
        return undefined;
      }
      const stored = Number(current?.items.evaluatedAt);
      const evaluatedAt = known?.ours ? known.evaluatedAt : stored > 0 ? stored : undefined;
      const items = { node: nodeId, durationMs: String(durationMs), evaluatedAt: String(evaluatedAt ?? 0) };
      const taken = await store.write(path, items, current?.modifyIndex ?? 0);
      if (taken.kind === "conflict") {
        this.#known.delete(name);
        return undefined;
      }
      const held = { ours: true, modifyIndex: taken.modifyIndex, seenAt: now, durationMs, evaluatedAt };
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

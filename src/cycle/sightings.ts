import type { WatchedGroup } from "../decide/eligibility.js";
import type { StateStore } from "./state.js";

/**
 * When this monitor first saw each allocation, on its own clock: what "started after a firing" is judged
 * by, never a time Nomad wrote on another machine's clock.
 */
export class Sightings {
  readonly #seenAt: Map<string, number>;

  constructor(store: StateStore) {
    this.#seenAt = store.map("allocation");
  }

  /** The allocations of this node's last report were seen by the time it was written, at the latest. */
  restore(allocIds: readonly string[], writtenAt: number): void {
    for (const allocId of allocIds) this.#seenAt.set(allocId, writtenAt);
  }

  /** The group's allocations this monitor had not seen before are seen now, at the latest. */
  see(group: WatchedGroup, at: number): void {
    for (const alloc of group.allocations) if (!this.#seenAt.has(alloc.id)) this.#seenAt.set(alloc.id, at);
  }

  /** When each of the group's allocations was first seen; one not seen yet, `now`. */
  of(group: WatchedGroup, now: number): number[] {
    return group.allocations.map((alloc) => this.#seenAt.get(alloc.id) ?? now);
  }

  /** The allocations this monitor saw at or before `instant`. */
  by(instant: number): Set<string> {
    return new Set([...this.#seenAt].filter(([, at]) => at <= instant).map(([allocId]) => allocId));
  }
}

/** The kinds of keys the cycle keeps state under: an allocation ID, a watched group's key, a job's key. */
export type StateKind = "allocation" | "group" | "job";

/** State kept per key: which keys it holds something for, and how to let go of one. */
export interface KeyedState {
  keys(): Iterable<string>;
  forget(key: string): void;
}

/** What is on this node now, per kind: the keys whose state stays. */
export type Present = Readonly<Record<StateKind, ReadonlySet<string>>>;

interface Part {
  kind: StateKind;
  state: KeyedState;
  /** Kept until this instant, whether or not its key is present (a cooldown outlives its allocations). */
  until?: (key: string) => number | undefined;
}

/**
 * The one owner of what the cycle keeps per allocation, per watched group and per job. Every stage
 * registers its keyed state here, and one `forget()` each cycle lets go of every key that left the node:
 * nothing is pruned by hand, and nothing grows with the allocations a node ever ran.
 */
export class StateStore {
  readonly #parts: Part[] = [];

  /** Registers state kept while its key is present. */
  add(kind: StateKind, state: KeyedState): void {
    this.#parts.push({ kind, state });
  }

  /** A map whose entries are kept while their key is present. */
  map<V>(kind: StateKind): Map<string, V> {
    const map = new Map<string, V>();
    this.add(kind, mapState(map));
    return map;
  }

  /**
   * A map of instants whose entries are kept until their time has come, whether or not their key is
   * present (and are gone then even if it is).
   */
  deadlines(kind: StateKind): Map<string, number> {
    const map = new Map<string, number>();
    this.#parts.push({ kind, state: mapState(map), until: (key) => map.get(key) });
    return map;
  }

  /** Forgets, in every part, each key that `present` lacks, and each deadline that has come by `now`. */
  forget(present: Present, now: number): void {
    for (const { kind, state, until } of this.#parts) {
      for (const key of [...state.keys()]) {
        const kept = until ? (until(key) ?? now) > now : present[kind].has(key);
        if (!kept) state.forget(key);
      }
    }
  }

  /** How many keys of `kind` some part still holds state for. */
  size(kind: StateKind): number {
    const keys = new Set<string>();
    for (const part of this.#parts) {
      if (part.kind === kind) for (const key of part.state.keys()) keys.add(key);
    }
    return keys.size;
  }
}

function mapState(map: Map<string, unknown>): KeyedState {
  return { keys: () => map.keys(), forget: (key) => map.delete(key) };
}

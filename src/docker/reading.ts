import type { Reading } from "../idle.js";

export type { NamespaceCounters, Reading } from "../idle.js";

/** What the monitor needs from a source of network counters. */
export interface NetworkSampler {
  /** One reading per requested allocation. Throws only when the Docker Engine cannot be reached at all. */
  sample(allocIds: readonly string[], at: number): Promise<Map<string, Reading>>;
  /** false when no container's process could be found under PROC_ROOT in the last cycle that looked. */
  procRootVisible?(): boolean | undefined;
}

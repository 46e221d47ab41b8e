import type { ClusterPort } from "../../src/ports.js";

/**
 * The cluster port of a monitor that shares nothing — no state policy, one node: it reports and reads
 * no one, claims every action and keeps no wake record. `overrides` replace any part, for instance
 * with one that fails the test if it is called.
 */
export function clusterOfOne(overrides: Partial<ClusterPort> = {}): ClusterPort {
  return {
    sharing: false,
    restore: async () => undefined,
    publish: async () => undefined,
    peerEvidence: async () => [],
    sweep: async () => undefined,
    claim: async () => "claimed",
    recordWake: async () => undefined,
    wakeRecords: async () => [],
    wakeRecord: async () => undefined,
    settleWake: async () => undefined,
    lease: async () => undefined,
    ...overrides,
  };
}

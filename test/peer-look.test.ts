import { describe, expect, it } from "vitest";
import { nextPeerLook } from "../src/decide/peer-look.js";
import type { PeerEvidence } from "../src/model/cluster.js";

// When a job that waits on other nodes is worth another look (decide/peer-look.ts), as a table on fixed
// times: a 15-minute timeout, a 60 s interval, a 3-minute heartbeat.

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const NOW = Date.UTC(2026, 11, 1, 9, 0, 0);
const base = { timeoutMs: 15 * MINUTE, now: NOW, intervalMs: MINUTE, heartbeatMs: 3 * MINUTE };
const remote = [{ ID: "b1", NodeID: "node-b" }];

function said(
  state: PeerEvidence["state"],
  ageMs: number | undefined,
  idleForMs?: number,
  reported?: PeerEvidence["reported"],
): PeerEvidence {
  return { nodeId: "node-b", allocId: "b1", state, idleForMs, ageMs, ...(reported ? { reported } : {}) };
}

describe("nextPeerLook: waiting on other nodes costs nothing per cycle, and never misses the moment", () => {
  const cases: Array<{
    name: string;
    evidence: PeerEvidence[];
    decidingSince?: number;
    deciding: boolean;
    nextLookAt: number;
  }> = [
    {
      name: "a node that reports activity (written a minute ago): not before a timeout after that",
      evidence: [said("active", MINUTE, 0)],
      deciding: false,
      nextLookAt: NOW - MINUTE + 15 * MINUTE,
    },
    {
      name: "a node quiet for 5 minutes (as of 2 minutes ago): once the rest of its timeout has passed",
      evidence: [said("stale", 2 * MINUTE, undefined, { state: "quiet", idleForMs: 5 * MINUTE })],
      deciding: false,
      nextLookAt: NOW - 2 * MINUTE + 10 * MINUTE,
    },
    {
      name: "a node whose report's age is unknown: counted from a live writer's heartbeat, an interval late",
      evidence: [said("stale", undefined, undefined, { state: "active", idleForMs: 0 })],
      deciding: false,
      nextLookAt: NOW - 4 * MINUTE + 15 * MINUTE,
    },
    {
      name: "a node quiet for the timeout, fresh: decide now, with it",
      evidence: [said("quiet", 30 * SECOND, 16 * MINUTE)],
      deciding: true,
      nextLookAt: NOW,
    },
    {
      name: "a node quiet for the timeout but not written recently: decide now (it writes every cycle once it decides too)",
      evidence: [said("stale", 3 * MINUTE, undefined, { state: "quiet", idleForMs: 15 * MINUTE })],
      deciding: true,
      nextLookAt: NOW,
    },
    {
      name: "a node that will be idle within the next interval: decide now",
      evidence: [said("quiet", 0, 14.5 * MINUTE)],
      deciding: true,
      nextLookAt: NOW,
    },
    {
      name: "no report: ask again after a heartbeat",
      evidence: [],
      deciding: false,
      nextLookAt: NOW + 3 * MINUTE,
    },
    {
      name: "a node that cannot measure: ask again after a heartbeat",
      evidence: [said("unknown", 0)],
      deciding: false,
      nextLookAt: NOW + 3 * MINUTE,
    },
    {
      name: "deciding for five intervals with a node that never answers (its monitor died): back off for a heartbeat",
      evidence: [said("stale", 8 * MINUTE, undefined, { state: "quiet", idleForMs: 20 * MINUTE })],
      decidingSince: NOW - 5 * MINUTE,
      deciding: false,
      nextLookAt: NOW + 3 * MINUTE,
    },
    {
      name: "deciding for four intervals: go on",
      evidence: [said("stale", 8 * MINUTE, undefined, { state: "quiet", idleForMs: 20 * MINUTE })],
      decidingSince: NOW - 4 * MINUTE,
      deciding: true,
      nextLookAt: NOW,
    },
  ];

  for (const { name, evidence, decidingSince, deciding, nextLookAt } of cases) {
    it(name, () => {
      const look = nextPeerLook({ ...base, remote, evidence, decidingSince });
      expect(look.decidingSince !== undefined).toBe(deciding);
      expect(look.nextLookAt).toBe(nextLookAt);
      if (deciding) expect(look.decidingSince).toBe(decidingSince ?? NOW);
    });
  }

  it("with two nodes, waits for the later of them: the job is idle only when both are", () => {
    const look = nextPeerLook({
      ...base,
      remote: [...remote, { ID: "c1", NodeID: "node-c" }],
      evidence: [said("quiet", 0, 16 * MINUTE), { ...said("active", 0, 0), nodeId: "node-c", allocId: "c1" }],
      decidingSince: undefined,
    });
    expect(look).toEqual({ decidingSince: undefined, nextLookAt: NOW + 15 * MINUTE });
  });
});

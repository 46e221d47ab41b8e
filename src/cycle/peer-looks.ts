import type { GroupOutcome, GroupVerdict } from "../decide/causes.js";
import { nextPeerLook, type PeerLook } from "../decide/peer-look.js";
import type { PeerEvidence } from "../model/cluster.js";
import type { AllocationListStub } from "../model/nomad.js";
import { exchangeTiming } from "../model/timing.js";
import type { StateStore } from "./state.js";

/**
 * The jobs that wait on other nodes: when each is worth another look (decide/peer-look.ts), and whether
 * this node is deciding one with its peers now — then its report goes out every cycle.
 */
export class PeerLooks {
  readonly #looks: Map<string, PeerLook & { at: number }>;

  constructor(
    store: StateStore,
    private readonly checkIntervalMs: number,
  ) {
    this.#looks = store.map("job");
  }

  /** Whether the job may be read again now. */
  due(key: string, now: number): boolean {
    return (this.#looks.get(key)?.nextLookAt ?? now) <= now;
  }

  /** Only while the last look was recent: a job no longer idle here is not decided any more. */
  deciding(now: number): boolean {
    for (const look of this.#looks.values())
      if (look.decidingSince !== undefined && now - look.at <= 2 * this.checkIntervalMs) return true;
    return false;
  }

  /** After a plan: a wait that only other nodes can end sets the next look; anything else, next cycle. */
  remember(
    key: string,
    plan: {
      outcomes: readonly GroupOutcome[];
      remote: readonly AllocationListStub[];
      peers: readonly PeerEvidence[];
      verdicts: readonly GroupVerdict[];
      now: number;
    },
  ): void {
    const { outcomes, remote, peers, verdicts, now } = plan;
    if (!outcomes.some(waitsOnPeers)) {
      this.#looks.delete(key);
      return;
    }
    const { heartbeatMs } = exchangeTiming(this.checkIntervalMs);
    const look = nextPeerLook({
      remote,
      evidence: peers,
      timeoutMs: Math.min(...verdicts.map((verdict) => verdict.policy.timeoutMs)),
      now,
      intervalMs: this.checkIntervalMs,
      heartbeatMs,
      decidingSince: this.#looks.get(key)?.decidingSince,
    });
    this.#looks.set(key, { ...look, at: now });
  }
}

/** A wait that only other nodes can end: they have not reported the job idle, or another node acts. */
function waitsOnPeers(outcome: GroupOutcome): boolean {
  if (outcome.kind !== "wait") return false;
  const { cause } = outcome;
  if (cause.kind === "awaiting-nodes" || cause.kind === "other-node-acts") return true;
  return cause.kind === "other-groups" && cause.groups.some(({ why }) => why.kind === "not-seen-here");
}

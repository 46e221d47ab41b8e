import type { PeerEvidence } from "../model/cluster.js";
import type { AllocationListStub } from "../model/nomad.js";
import { DECIDING_INTERVALS } from "../model/timing.js";

export interface PeerLookInput {
  /** The job's live allocations on other nodes, as the fresh look found them. */
  remote: ReadonlyArray<Pick<AllocationListStub, "ID" | "NodeID">>;
  /** What those nodes' reports said, read with the fresh look. */
  evidence: readonly PeerEvidence[];
  /** The shortest idle timeout among the job's watched groups here: looking early is safe, late is not. */
  timeoutMs: number;
  now: number;
  intervalMs: number;
  /** A live monitor writes its report at least this often. */
  heartbeatMs: number;
  /** Since when this node has been deciding the job (writing its report every cycle), if it is. */
  decidingSince: number | undefined;
}

export interface PeerLook {
  /** Set while this node decides the job with its peers: its report goes out every cycle. */
  decidingSince: number | undefined;
  /** Not before this is the job read again, nor its nodes' reports. */
  nextLookAt: number;
}

/**
 * When a job that waits on other nodes is worth another look, so that waiting costs the Nomad servers
 * nothing per cycle. Each remote allocation gives the earliest time it can have been quiet for the
 * timeout: an active one not before a timeout after it was last seen active, a quiet one once the rest of
 * its timeout has passed, counted from when its report was written at the earliest (its age as this node
 * bounds it, else a live writer's heartbeat) — what a report says bounds when its allocation can be idle,
 * even once it no longer counts for the decision itself. A node with no report, or one that cannot
 * measure, is asked again after a heartbeat. When every remote allocation may be idle by
 * the next cycle the node decides: it looks every cycle and writes its report every cycle, so that the
 * others see it alive — for DECIDING_INTERVALS at most when they never answer (a node whose monitor
 * died), then again after a heartbeat.
 */
export function nextPeerLook(input: PeerLookInput): PeerLook {
  const { remote, evidence, timeoutMs, now, intervalMs, heartbeatMs } = input;
  let latest = now;
  let deciding = true;
  for (const alloc of remote) {
    const said = evidence.find((peer) => peer.allocId === alloc.ID && peer.nodeId === alloc.NodeID);
    // A heartbeat is written at the first cycle after it is due: up to an interval late.
    const readyAt = earliestIdle(said, timeoutMs, now, heartbeatMs + intervalMs);
    if (readyAt === undefined || readyAt > now + intervalMs) deciding = false;
    latest = Math.max(latest, readyAt ?? now + heartbeatMs);
  }
  if (!deciding) return { decidingSince: undefined, nextLookAt: latest };
  const since = input.decidingSince ?? now;
  if (now - since >= DECIDING_INTERVALS * intervalMs)
    return { decidingSince: undefined, nextLookAt: now + heartbeatMs };
  return { decidingSince: since, nextLookAt: now };
}

/** The earliest the allocation can have been quiet for the timeout; undefined: nothing says (ask again later). */
function earliestIdle(
  said: PeerEvidence | undefined,
  timeoutMs: number,
  now: number,
  heartbeatMs: number,
): number | undefined {
  if (!said) return undefined;
  const { state, idleForMs } =
    said.state === "stale" ? (said.reported ?? { state: "unknown", idleForMs: undefined }) : said;
  if (state === "unknown") return undefined;
  // How long ago, at most, it was written: its age as this node bounds it, else within a live writer's heartbeat.
  const writtenWithin = said.ageMs ?? heartbeatMs;
  const quietFor = state === "quiet" ? (idleForMs ?? 0) : 0;
  return Math.max(now, now - writtenWithin + timeoutMs - quietFor);
}

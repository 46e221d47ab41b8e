import pino from "pino";
import { describe, expect, it } from "vitest";
import { ClusterExchange } from "../src/cluster/exchange.js";
import { StatePaths } from "../src/cluster/paths.js";
import type { AllocRecord, NodeReport } from "../src/model/cluster.js";
import { NomadError } from "../src/model/nomad.js";
import type { ExchangeTiming } from "../src/model/timing.js";
import type { StoredVariable, VariableStore, VariableWrite } from "../src/ports.js";
import { FakeClock } from "./support/fake-clock.js";

/**
 * Nomad Variables as the recordings of Nomad 1.6.5 show them (test/fixtures/nomad-1.6.5/var-*.http):
 * check-and-set with 409 and the current Variable, 64 KiB counted as keys plus values (500, never
 * passes), lists of metadata answered at the table's index. In memory, so every write can be counted.
 */
class MemoryVariables implements VariableStore {
  readonly variables = new Map<string, StoredVariable>();
  index = 100;
  writes = 0;
  reads = 0;
  lists = 0;

  async list(prefix: string) {
    this.lists += 1;
    const entries = [...this.variables.entries()]
      .filter(([path]) => path.startsWith(prefix))
      .map(([path, variable]) => ({ path, modifyIndex: variable.modifyIndex }));
    return { entries, index: this.index };
  }

  async read(path: string) {
    this.reads += 1;
    const variable = this.variables.get(path);
    return variable && structuredClone(variable);
  }

  async write(path: string, items: Record<string, string>, cas: number): Promise<VariableWrite> {
    const size = Object.entries(items).reduce((sum, [key, value]) => sum + key.length + value.length, 0);
    if (size > 64 * 1024)
      throw new NomadError(
        "rejected",
        500,
        "write variable: HTTP 500 variables are limited to 64KiB in total size",
      );
    const current = this.variables.get(path);
    if ((current?.modifyIndex ?? 0) !== cas) {
      if (current) return { kind: "conflict", current: structuredClone(current) };
      throw new Error(`cas ${cas} on a missing variable`);
    }
    this.writes += 1;
    this.index += 1;
    this.variables.set(path, { items: { ...items }, modifyIndex: this.index });
    return { kind: "written", modifyIndex: this.index };
  }

  async delete(path: string, cas: number) {
    const current = this.variables.get(path);
    if (current && current.modifyIndex !== cas) return "conflict" as const;
    this.index += 1;
    this.variables.delete(path);
    return "deleted" as const;
  }
}

const SECOND = 1_000;
const timing: ExchangeTiming = {
  intervalMs: 10 * SECOND,
  heartbeatMs: 30 * SECOND,
  staleMarginMs: 20 * SECOND,
  retentionMs: 600 * SECOND,
  freshMs: 20 * SECOND,
  sweepMs: 300 * SECOND,
};
const paths = new StatePaths("nomad/jobs/idle-monitor");
const silent = pino({ level: "silent" });

function node(nodeId: string, store: VariableStore, clock: FakeClock) {
  return new ClusterExchange({ store, paths, nodeId, clock, log: silent, timing });
}

function report(
  nodeId: string,
  allocs: Record<string, AllocRecord>,
  writtenAt = 0,
): Omit<NodeReport, "heartbeatMs"> {
  return { v: 1, nodeId, writtenAt, allocs, cooldowns: {} };
}

const quiet = (quietForMs: number): AllocRecord => ({ state: "quiet", quietForMs, quietSince: 1_000 });

/** One cycle of two nodes deciding a job together: each writes its report (a, then b), then time passes. */
async function decidingCycle(a: ClusterExchange, b: ClusterExchange, clock: FakeClock, quietForMs: number) {
  await a.publish(report("node-a", { a1: quiet(quietForMs) }), true);
  await b.publish(report("node-b", { b1: quiet(quietForMs) }), true);
  await clock.advance(timing.intervalMs);
}

describe("ClusterExchange", () => {
  it("issue 19 item 7: reads another node's report when asked, with the quiet time as written, and counts it only while written within freshMs (two intervals, not heartbeat + two)", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const a = node("node-a", store, clock);
    const b = node("node-b", store, clock);
    for (let cycle = 0; cycle < 3; cycle++)
      await decidingCycle(a, b, clock, 60 * SECOND + cycle * 10 * SECOND);
    expect(await b.peerEvidence(["node-a"])).toEqual([
      // Written after b's write of the cycle before: at most two intervals ago.
      { nodeId: "node-a", allocId: "a1", state: "quiet", idleForMs: 80 * SECOND, ageMs: 20 * SECOND },
    ]);
    expect(b.sharing).toBe(true);

    // node-a's monitor dies while b goes on: within two intervals its word no longer counts.
    for (let cycle = 0; cycle < 2; cycle++) {
      await b.publish(report("node-b", { b1: quiet(SECOND) }), true);
      await clock.advance(timing.intervalMs);
    }
    await b.publish(report("node-b", { b1: quiet(SECOND) }), true);
    expect(await b.peerEvidence(["node-a"])).toEqual([
      {
        nodeId: "node-a",
        allocId: "a1",
        state: "stale",
        idleForMs: undefined,
        ageMs: 40 * SECOND,
        reported: { state: "quiet", idleForMs: 80 * SECOND },
      },
    ]);
  });

  it("reads nothing of other nodes unless asked: a cycle's publish costs no read and no list", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const nodes = ["a", "b", "c"].map((name) => node(`node-${name}`, store, clock));
    for (let cycle = 0; cycle < 30; cycle++) {
      for (const [index, exchange] of nodes.entries())
        await exchange.publish(report(`node-${index}`, { [`x${index}`]: quiet(cycle * SECOND) }), false);
      await clock.advance(timing.intervalMs);
    }
    expect(store.reads).toBe(0);
    expect(store.lists).toBe(0);
  });

  it("writes once per heartbeat when only allocation states change, at once when a cooldown changes, and every interval while deciding", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const a = node("node-a", store, clock);
    for (let cycle = 0; cycle < 6; cycle++) {
      // Quiet, then active, then quiet again: the heartbeat carries it (a restart measures the gap itself).
      const state: AllocRecord = cycle % 2 === 0 ? quiet(cycle * SECOND) : { state: "active" };
      await a.publish(report("node-a", { a1: state }), false);
      await clock.advance(timing.intervalMs);
    }
    // 60 s: the first write, then one heartbeat at 30 s.
    expect(store.writes).toBe(2);
    await a.publish({ ...report("node-a", { a1: quiet(SECOND) }), cooldowns: { "default/dev": 1 } }, false);
    expect(store.writes).toBe(3);
    for (let cycle = 0; cycle < 3; cycle++) {
      await clock.advance(timing.intervalMs);
      await a.publish(report("node-a", { a1: quiet(SECOND) }), true);
    }
    // The cooldown is gone from the report (a change), then two more cycles of deciding.
    expect(store.writes).toBe(6);
  });

  it("holds a report that no longer fits one Variable in several, and reads it back whole", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const a = node("node-a", store, clock);
    const b = node("node-b", store, clock);
    const allocs: Record<string, AllocRecord> = {};
    for (let i = 0; i < 1_500; i++) {
      allocs[`${String(i).padStart(8, "0")}-aaaa-bbbb-cccc-dddddddddddd`] = {
        ...quiet(SECOND),
        counters: { [`container-${"f".repeat(56)}-${i}`]: 123_456_789 },
        countersAt: 1_700_000_000_000,
      };
    }
    await b.publish(report("node-b", {}), true);
    await a.publish(report("node-a", allocs), true);
    const parts = [...store.variables.keys()].filter((path) =>
      path.startsWith("nomad/jobs/idle-monitor/activity/node-a/"),
    );
    expect(parts.length).toBeGreaterThan(1);
    const evidence = await b.peerEvidence(["node-a"]);
    expect(evidence).toHaveLength(1_500);
    expect(evidence?.every((peer) => peer.state === "quiet")).toBe(true);

    // Shrunk again: the parts it no longer needs are removed.
    await clock.advance(timing.intervalMs);
    await a.publish(report("node-a", { only: quiet(SECOND) }), true);
    expect([...store.variables.keys()].filter((path) => path.includes("/activity/node-a/"))).toEqual([
      "nomad/jobs/idle-monitor/activity/node-a/0",
    ]);
    expect((await b.peerEvidence(["node-a"]))?.map((peer) => peer.allocId)).toEqual(["only"]);
  });

  it("does not count a report it finds before it has written anything itself (its age is unknown)", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const a = node("node-a", store, clock);
    await a.publish(report("node-a", { a1: quiet(SECOND) }), true);
    const b = node("node-b", store, clock);
    expect((await b.peerEvidence(["node-a"]))?.[0]?.state).toBe("stale");
    await decidingCycle(a, b, clock, 31 * SECOND);
    await a.publish(report("node-a", { a1: quiet(41 * SECOND) }), true);
    expect((await b.peerEvidence(["node-a"]))?.[0]).toMatchObject({ state: "quiet", idleForMs: 41 * SECOND });
    expect(await b.peerEvidence(["node-nobody"])).toEqual([]);
  });

  it("lets one node claim an action; another is refused until the claim expired, then takes it", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const a = node("node-a", store, clock);
    const b = node("node-b", store, clock);
    expect(await a.claim("default", "dev/one", "stop", 60 * SECOND)).toBe("claimed");
    expect(await b.claim("default", "dev/one", "stop", 60 * SECOND)).toBe("held");
    expect(await a.claim("default", "dev/one", "stop", 60 * SECOND)).toBe("claimed");
    await clock.advance(59 * SECOND);
    expect(await b.claim("default", "dev/one", "stop", 60 * SECOND)).toBe("held");
    await clock.advance(2 * SECOND);
    expect(await b.claim("default", "dev/one", "stop", 60 * SECOND)).toBe("claimed");
    expect([...store.variables.keys()].filter((path) => path.includes("/claims/"))).toEqual([
      "nomad/jobs/idle-monitor/claims/default~2Fdev~2Fone",
    ]);
  });

  it("sweeps, once per sweep interval, the reports of nodes gone for the retention time and expired claims, and nothing else", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const gone = node("node-gone", store, clock);
    const a = node("node-a", store, clock);
    await gone.publish(report("node-gone", { g1: quiet(SECOND) }), false);
    await gone.claim("default", "dev", "stop", 30 * SECOND);
    let lists = 0;
    for (let elapsed = 0; elapsed <= 1_000; elapsed += 10) {
      await a.publish(report("node-a", { a1: quiet(SECOND + elapsed * SECOND) }), false);
      const before = store.lists;
      await a.sweep();
      lists += store.lists - before;
      await clock.advance(10 * SECOND);
    }
    expect(lists).toBe(4);
    expect([...store.variables.keys()].sort()).toEqual(["nomad/jobs/idle-monitor/activity/node-a/0"]);
  });

  it("reads this node's own last report back after a restart, and writes over it", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const before = node("node-a", store, clock);
    await before.publish(
      { ...report("node-a", { a1: quiet(SECOND) }), cooldowns: { "default/dev": 5 } },
      false,
    );
    const after = node("node-a", store, clock);
    expect(await after.restore()).toMatchObject({
      nodeId: "node-a",
      allocs: { a1: { state: "quiet" } },
      cooldowns: { "default/dev": 5 },
    });
    await after.publish(
      { ...report("node-a", { a2: quiet(SECOND) }), cooldowns: { "default/dev": 5 } },
      true,
    );
    expect(store.writes).toBe(2);
  });

  it("stops sharing when its Variables cannot be written, and says so", async () => {
    const store = new MemoryVariables();
    store.write = async () => {
      throw new NomadError("auth", 403, "write variable: HTTP 403 Permission denied");
    };
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
    const a = new ClusterExchange({ store, paths, nodeId: "node-a", clock: new FakeClock(), log, timing });
    await a.publish(report("node-a", { a1: quiet(SECOND) }), false);
    expect(a.sharing).toBe(false);
    expect(lines).toEqual([
      "cannot publish this node's activity report in Nomad Variables: write variable: HTTP 403 Permission denied; jobs whose allocations span nodes are left alone until it can",
    ]);
  });
});

describe("notices of the exchange", () => {
  it("issue 19 item 9: claims that cannot be written are said once a minute, not remembered per job they were about", async () => {
    const store = new MemoryVariables();
    store.write = async () => {
      throw new NomadError("unavailable", 500, "write variable: HTTP 500 No cluster leader");
    };
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
    const clock = new FakeClock();
    const a = new ClusterExchange({ store, paths, nodeId: "node-a", clock, log, timing });
    for (let job = 0; job < 100; job++)
      expect(await a.claim("default", `preview-${job}`, "stop", 60 * SECOND)).toBe("unavailable");
    expect(lines).toEqual([
      "cannot claim the action on job preview-0 in Nomad Variables: write variable: HTTP 500 No cluster leader; jobs whose allocations span nodes are left alone until it can",
    ]);
    await clock.advance(60 * SECOND);
    await a.claim("default", "preview-100", "stop", 60 * SECOND);
    expect(lines).toHaveLength(2);
  });
});

describe("the lease one monitor of the cluster holds (start-at)", () => {
  const LEASE_MS = 180 * SECOND;

  it("is held by one node at a time, renewed once half its time has passed, and taken over once it stopped moving", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const a = node("node-a", store, clock);
    const b = node("node-b", store, clock);

    const first = await a.lease("start-at", LEASE_MS);
    expect(first?.evaluatedAt).toBeUndefined();
    expect(await b.lease("start-at", LEASE_MS)).toBeUndefined();
    first?.evaluated(clock.now());
    const evaluatedAt = clock.now();

    // Cycles within the first half: no write, and b does not read again before the expiry it saw.
    const writes = store.writes;
    const reads = store.reads;
    for (let cycle = 0; cycle < 5; cycle++) {
      await clock.advance(10 * SECOND);
      expect(await a.lease("start-at", LEASE_MS)).toBeDefined();
      expect(await b.lease("start-at", LEASE_MS)).toBeUndefined();
    }
    expect(store.writes).toBe(writes);
    expect(store.reads).toBe(reads);

    // Past half its time: renewed, and what was evaluated goes with it.
    await clock.advance(50 * SECOND);
    expect(await a.lease("start-at", LEASE_MS)).toBeDefined();
    expect(store.writes).toBe(writes + 1);
    expect(store.variables.get("nomad/jobs/idle-monitor/leases/start-at")?.items).toMatchObject({
      node: "node-a",
      evaluatedAt: String(evaluatedAt),
    });

    // a stops renewing (it died): b sees the renewal at its next look, takes the lease once it has not
    // moved for a lease time since, and learns up to when a dealt with firings.
    await clock.advance(LEASE_MS - SECOND);
    expect(await b.lease("start-at", LEASE_MS)).toBeUndefined();
    await clock.advance(LEASE_MS - SECOND);
    expect(await b.lease("start-at", LEASE_MS)).toBeUndefined();
    await clock.advance(2 * SECOND);
    const taken = await b.lease("start-at", LEASE_MS);
    expect(taken?.evaluatedAt).toBe(evaluatedAt);
    expect(await a.lease("start-at", LEASE_MS)).toBeUndefined();
  });

  it("is never held by two nodes racing for it", async () => {
    const store = new MemoryVariables();
    const clock = new FakeClock();
    const nodes = ["a", "b", "c", "d"].map((name) => node(`node-${name}`, store, clock));
    const held = await Promise.all(nodes.map((exchange) => exchange.lease("start-at", LEASE_MS)));
    expect(held.filter((lease) => lease !== undefined)).toHaveLength(1);
  });
});

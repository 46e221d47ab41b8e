import { describe, expect, it } from "vitest";
import { NodeAllocations } from "../src/allocations.js";
import type { Allocation, Job } from "../src/model/nomad.js";

const NODE = "node-a";

function job(id: string, modifyIndex = 10, meta: Record<string, string> | null = null): Job {
  return {
    ID: id,
    Name: id,
    Namespace: "default",
    Type: "service",
    Stop: false,
    Status: "running",
    Version: 0,
    Meta: meta,
    TaskGroups: [],
    CreateIndex: 1,
    ModifyIndex: modifyIndex,
    JobModifyIndex: modifyIndex,
    SubmitTime: 0,
  };
}

function alloc(id: string, overrides: Partial<Allocation> = {}): Allocation {
  return {
    ID: id,
    Namespace: "default",
    Name: `dev.web[0]`,
    NodeID: NODE,
    NodeName: "a",
    JobID: "dev",
    Job: null,
    TaskGroup: "web",
    DesiredStatus: "run",
    ClientStatus: "running",
    TaskStates: {
      server: {
        State: "running",
        Failed: false,
        Restarts: 0,
        StartedAt: "2026-11-25T10:00:00Z",
        FinishedAt: "",
      },
    },
    CreateIndex: 5,
    ModifyIndex: 5,
    AllocModifyIndex: 5,
    CreateTime: 1_700_000_000_000_000_000,
    ModifyTime: 1_700_000_000_000_000_000,
    ...overrides,
  };
}

const liveIds = (view: NodeAllocations) => view.live().map((a) => a.id);

describe("NodeAllocations", () => {
  it("keeps only this node's live allocations, each with the job it came with", () => {
    const view = new NodeAllocations(NODE);
    expect(view.seeded).toBe(false);
    view.reconcile([alloc("a1", { Job: job("dev") }), alloc("other", { NodeID: "node-b" })]);
    expect(view.seeded).toBe(true);
    expect(liveIds(view)).toEqual(["a1"]);
    expect(view.live()[0]?.job?.ID).toBe("dev");
  });

  it.each<[string, Partial<Allocation>, boolean]>([
    ["pending and desired to run", { ClientStatus: "pending" }, true],
    ["running but desired to stop", { DesiredStatus: "stop" }, false],
    ["evicted", { DesiredStatus: "evict" }, false],
    ["complete", { ClientStatus: "complete" }, false],
    ["failed", { ClientStatus: "failed" }, false],
    ["lost", { ClientStatus: "lost" }, false],
  ])("an allocation %s is live: %s", (_name, status, live) => {
    const view = new NodeAllocations(NODE);
    view.reconcile([alloc("a1", { ...status, ModifyIndex: 6 })]);
    expect(liveIds(view)).toEqual(live ? ["a1"] : []);
  });

  it("each list is the whole truth: what it no longer has (garbage-collected) is gone", () => {
    const view = new NodeAllocations(NODE);
    view.reconcile([alloc("gone"), alloc("kept")]);
    view.reconcile([alloc("kept")]);
    expect(liveIds(view)).toEqual(["kept"]);
  });

  it("tells of allocations new to it, but not of the first list (which brings everything)", () => {
    const view = new NodeAllocations(NODE);
    expect(view.reconcile([alloc("a1")])).toBe(false);
    expect(view.reconcile([alloc("a1", { ModifyIndex: 9 })])).toBe(false);
    expect(view.reconcile([alloc("a1"), alloc("a2")])).toBe(true);
    expect(view.reconcile([alloc("a2", { NodeID: "node-b" }), alloc("b1", { NodeID: "node-b" })])).toBe(
      false,
    );
  });

  it("keeps the newest version of each job: from the allocations, or read afresh, and only for jobs running here", () => {
    const view = new NodeAllocations(NODE);
    expect(view.updateJob(job("elsewhere"))).toBe(false);
    view.reconcile([alloc("a1", { ModifyIndex: 6, Job: job("dev", 10) })]);
    expect(view.updateJob(job("dev", 11, { "idle-monitor.enabled": "true" }))).toBe(true);
    expect(view.updateJob(job("dev", 10))).toBe(false);
    // An allocation not updated in place still carries the older version: the newer one stays.
    view.reconcile([alloc("a1", { ModifyIndex: 6, Job: job("dev", 10) })]);
    expect(view.live()[0]?.job?.Meta).toEqual({ "idle-monitor.enabled": "true" });
  });

  it("starts an allocation's clock when its tasks last started", () => {
    const view = new NodeAllocations(NODE);
    view.reconcile([alloc("a1", { ModifyIndex: 6 }), alloc("a2", { ModifyIndex: 7, TaskStates: null })]);
    expect(view.live().find((a) => a.id === "a1")?.startedAt).toBe(Date.parse("2026-11-25T10:00:00Z"));
    expect(view.live().find((a) => a.id === "a2")?.startedAt).toBe(1_700_000_000_000);
  });
});

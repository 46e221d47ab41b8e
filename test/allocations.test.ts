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
  it("keeps only this node's live allocations, whatever the event type was", () => {
    const view = new NodeAllocations(NODE);
    view.reconcile(
      [alloc("a1", { Job: job("dev") }), alloc("other", { NodeID: "node-b" })],
      view.listRequested(),
    );
    expect(liveIds(view)).toEqual(["a1"]);
    expect(view.upsert(alloc("b2", { NodeID: "node-b", ModifyIndex: 9 }))).toBe(false);
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
    view.upsert(alloc("a1", { ...status, ModifyIndex: 6 }));
    expect(liveIds(view)).toEqual(live ? ["a1"] : []);
  });

  it("ignores an event older than what it knows (a resumed stream replays)", () => {
    const view = new NodeAllocations(NODE);
    view.upsert(alloc("a1", { ModifyIndex: 20, DesiredStatus: "stop" }));
    expect(view.upsert(alloc("a1", { ModifyIndex: 12, DesiredStatus: "run" }))).toBe(false);
    expect(liveIds(view)).toEqual([]);
  });

  it("drops what a new list no longer has, but not what an event told after the list was requested", () => {
    const view = new NodeAllocations(NODE);
    view.reconcile([alloc("gone"), alloc("kept")], view.listRequested());
    const relist = view.listRequested();
    view.upsert(alloc("newer", { ModifyIndex: 30 }));
    view.reconcile([alloc("kept")], relist);
    expect(liveIds(view).sort()).toEqual(["kept", "newer"]);
  });

  it("defect 3: a relist drops a garbage-collected allocation whose terminal event was missed, whatever its last ModifyIndex", () => {
    const view = new NodeAllocations(NODE);
    view.reconcile([alloc("ghost"), alloc("kept")], view.listRequested());
    // An update of the ghost arrived; its terminal event was lost in a stream gap, then Nomad collected it.
    view.upsert(alloc("ghost", { ModifyIndex: 40 }));
    // The list's index is the highest ModifyIndex it holds (5 here), lower than the ghost's last one.
    view.reconcile([alloc("kept")], view.listRequested());
    expect(liveIds(view)).toEqual(["kept"]);
  });

  it("takes jobs from Job events only for jobs running here, newest version wins", () => {
    const view = new NodeAllocations(NODE);
    expect(view.updateJob(job("elsewhere"))).toBe(false);
    view.upsert(alloc("a1", { ModifyIndex: 6 }));
    expect(view.live()[0]?.job).toBeUndefined();
    expect(view.updateJob(job("dev", 11, { "idle-monitor.enabled": "true" }))).toBe(true);
    expect(view.updateJob(job("dev", 10))).toBe(false);
    expect(view.live()[0]?.job?.Meta).toEqual({ "idle-monitor.enabled": "true" });
  });

  it("starts an allocation's clock when its tasks last started", () => {
    const view = new NodeAllocations(NODE);
    view.upsert(alloc("a1", { ModifyIndex: 6 }));
    expect(view.live()[0]?.startedAt).toBe(Date.parse("2026-11-25T10:00:00Z"));
    view.upsert(alloc("a2", { ModifyIndex: 7, TaskStates: null }));
    expect(view.live().find((a) => a.id === "a2")?.startedAt).toBe(1_700_000_000_000);
  });
});

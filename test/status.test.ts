import { describe, expect, it } from "vitest";
import type { AllocRecord, NodeReport } from "../src/model/cluster.js";
import type { AllocationListStub, Job } from "../src/model/nomad.js";
import { computeStatus, nodeStatus } from "../src/status/compute.js";
import type { GroupStatus, JobSeen, PublishedReport, StatusInput } from "../src/status/types.js";

const NOW = Date.UTC(2026, 11, 1, 9, 0, 0);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
// A 60 s check interval: heartbeat 3m, stale after 5m.
const HEARTBEAT = 3 * MINUTE;

function record(
  group: string,
  state: AllocRecord["state"],
  quietForMs?: number,
  action = "stop",
): AllocRecord {
  return {
    namespace: "default",
    job: "dev",
    group,
    timeoutMs: 15 * MINUTE,
    action,
    state,
    ...(quietForMs === undefined ? {} : { quietForMs }),
    bytesSinceActive: 40,
  };
}

function report(
  nodeId: string,
  allocs: Record<string, AllocRecord>,
  ageMs: number | null = 0,
): PublishedReport {
  const published: NodeReport = { v: 1, nodeId, heartbeatMs: HEARTBEAT, writtenAt: 0, allocs, cooldowns: {} };
  return { report: published, writtenAt: ageMs === null ? undefined : NOW - ageMs };
}

function job(
  groups: Array<{ name: string; meta?: Record<string, string> }>,
  overrides: Partial<Job> = {},
): Job {
  return {
    ID: "dev",
    Name: "dev",
    Namespace: "default",
    Type: "service",
    Stop: false,
    Meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "15m" },
    TaskGroups: groups.map((group) => ({
      Name: group.name,
      Count: 1,
      Meta: group.meta ?? null,
      Tasks: [{ Name: "server", Driver: "docker", Meta: null }],
    })),
    JobModifyIndex: 40,
    ...overrides,
  } as Job;
}

function alloc(id: string, group: string, nodeId: string): AllocationListStub {
  return {
    ID: id,
    Name: `dev.${group}[0]`,
    Namespace: "default",
    NodeID: nodeId,
    NodeName: `name-${nodeId}`,
    JobID: "dev",
    TaskGroup: group,
    DesiredStatus: "run",
    ClientStatus: "running",
    CreateIndex: 20,
    ModifyIndex: 20,
    CreateTime: 0,
    ModifyTime: 0,
  };
}

const found = (j: Job, allocations: AllocationListStub[]): JobSeen => ({
  kind: "found",
  job: j,
  allocations,
});
const jobs = (seen: JobSeen) => new Map([["default/dev", seen]]);

/** The fields a table row shows, for compact expectations: group, state, nodes, idle for, time to action, waits. */
function summary(row: GroupStatus): [string, string, string, number | undefined, number | undefined, string] {
  const waits = row.waits.map((wait) => wait.kind).join(",");
  return [row.group, row.state, row.nodes.join(","), row.idleForMs, row.timeToActionMs, waits];
}

const cases: Array<{ name: string; input: StatusInput; expected: ReturnType<typeof summary>[] }> = [
  {
    name: "quiet on two nodes: the least idle allocation counts, the reports' age included",
    input: {
      now: NOW,
      reports: [
        report("a", { a1: record("web", "quiet", 5 * MINUTE) }, 30 * SECOND),
        report("b", { b1: record("web", "quiet", 10 * MINUTE) }),
      ],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a"), alloc("b1", "web", "b")])),
    },
    expected: [["web", "quiet", "name-a,name-b", 5 * MINUTE + 30 * SECOND, 9 * MINUTE + 30 * SECOND, ""]],
  },
  {
    name: "past its timeout: due now",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 20 * MINUTE) })],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a")])),
    },
    expected: [["web", "quiet", "name-a", 20 * MINUTE, 0, ""]],
  },
  {
    name: "active on one node",
    input: {
      now: NOW,
      reports: [
        report("a", { a1: record("web", "quiet", 5 * MINUTE) }),
        report("b", { b1: record("web", "active") }),
      ],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a"), alloc("b1", "web", "b")])),
    },
    expected: [["web", "active", "name-a,name-b", undefined, undefined, "active"]],
  },
  {
    name: "unknown on one node",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "unknown") })],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a")])),
    },
    expected: [["web", "unknown", "name-a", undefined, undefined, "unknown"]],
  },
  {
    name: "a stale report: its node is awaited",
    input: {
      now: NOW,
      reports: [
        report("a", { a1: record("web", "quiet", 5 * MINUTE) }),
        report("b", { b1: record("web", "quiet", 9 * MINUTE) }, 6 * MINUTE),
      ],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a"), alloc("b1", "web", "b")])),
    },
    expected: [["web", "unknown", "name-a,name-b", undefined, undefined, "node-awaited"]],
  },
  {
    name: "a live allocation no report names: its node is awaited",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 5 * MINUTE) })],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a"), alloc("c1", "web", "c")])),
    },
    expected: [["web", "unknown", "name-a,name-c", undefined, undefined, "node-awaited"]],
  },
  {
    name: "stop with a group that is not opted in: partly opted in",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 20 * MINUTE) })],
      jobs: jobs(
        found(job([{ name: "web" }, { name: "db", meta: { "idle-monitor.enabled": "false" } }]), [
          alloc("a1", "web", "a"),
          alloc("a2", "db", "a"),
        ]),
      ),
    },
    expected: [["web", "waiting", "name-a", 20 * MINUTE, undefined, "partly-opted-in"]],
  },
  {
    name: "meta that became invalid",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 20 * MINUTE) })],
      jobs: jobs(
        found(job([{ name: "web", meta: { "idle-monitor.timeout": "soon" } }]), [alloc("a1", "web", "a")]),
      ),
    },
    expected: [["web", "waiting", "name-a", 20 * MINUTE, undefined, "invalid-meta"]],
  },
  {
    name: "stop waits for the job's other group to be idle as long",
    input: {
      now: NOW,
      reports: [
        report("a", { a1: record("web", "quiet", 20 * MINUTE), a2: record("api", "quiet", 10 * MINUTE) }),
      ],
      jobs: jobs(
        found(job([{ name: "web" }, { name: "api" }]), [alloc("a1", "web", "a"), alloc("a2", "api", "a")]),
      ),
    },
    expected: [
      ["api", "quiet", "name-a", 10 * MINUTE, 5 * MINUTE, ""],
      ["web", "quiet", "name-a", 20 * MINUTE, 5 * MINUTE, ""],
    ],
  },
  {
    name: "scale-to-zero does not wait for other groups",
    input: {
      now: NOW,
      reports: [
        report("a", {
          a1: record("web", "quiet", 20 * MINUTE, "scale-to-zero"),
          a2: record("api", "active"),
        }),
      ],
      jobs: jobs(
        found(job([{ name: "web", meta: { "idle-monitor.action": "scale-to-zero" } }, { name: "api" }]), [
          alloc("a1", "web", "a"),
          alloc("a2", "api", "a"),
        ]),
      ),
    },
    expected: [
      ["api", "active", "name-a", undefined, undefined, "other-group,active"],
      ["web", "quiet", "name-a", 20 * MINUTE, 0, ""],
    ],
  },
  {
    name: "a stopped job",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) })],
      jobs: jobs(found(job([{ name: "web" }], { Stop: true }), [])),
    },
    // No live allocations any more: nothing to show per node, only why it waits.
    expected: [["web", "waiting", "", undefined, undefined, "job-stopped"]],
  },
  {
    name: "a job the token cannot read: shown from the reports alone",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) })],
      jobs: jobs({ kind: "unreadable", reason: "HTTP 403 Permission denied" }),
    },
    expected: [["web", "waiting", "a", MINUTE, undefined, "job-unreadable"]],
  },
  {
    name: "no jobs read at all (this node's view): counts down from the reports",
    input: { now: NOW, reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) })] },
    expected: [["web", "quiet", "a", MINUTE, 14 * MINUTE, ""]],
  },
  {
    name: "a report whose write time is not known counts as stale",
    input: { now: NOW, reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) }, null)] },
    expected: [["web", "unknown", "a", undefined, undefined, "node-awaited"]],
  },
];

describe("computeStatus", () => {
  it.each(cases)("$name", ({ input, expected }) => {
    expect(computeStatus(input).map(summary)).toEqual(expected);
  });

  it("names the last action from the claim, with how long ago on the same clock", () => {
    const [row] = computeStatus({
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) })],
      claims: [{ namespace: "default", jobId: "dev", node: "a", action: "stop", at: NOW - 90 * SECOND }],
    });
    expect(row?.lastAction).toEqual({ node: "a", action: "stop", agoMs: 90 * SECOND });
  });

  it("keeps each allocation's last reading", () => {
    const [row] = computeStatus({
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) }, 10 * SECOND)],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a")])),
    });
    expect(row?.allocations).toEqual([
      {
        allocId: "a1",
        nodeId: "a",
        node: "name-a",
        clientStatus: "running",
        state: "quiet",
        idleForMs: 70 * SECOND,
        bytesSinceActive: 40,
        reportAgeMs: 10 * SECOND,
      },
    ]);
  });

  it("skips records written before reports named their job", () => {
    expect(
      computeStatus({ now: NOW, reports: [report("a", { a1: { state: "quiet", quietForMs: 1 } })] }),
    ).toEqual([]);
  });
});

describe("nodeStatus (the monitor's /v1/status)", () => {
  it("is this node's report alone, just written", () => {
    const { report: own } = report("a", { a1: record("web", "quiet", 2 * MINUTE) });
    expect(nodeStatus(own, NOW).map(summary)).toEqual([["web", "quiet", "a", 2 * MINUTE, 13 * MINUTE, ""]]);
  });
});

import { describe, expect, it } from "vitest";
import type { AllocRecord, NodeReport } from "../src/cluster/report.js";
import type { AllocationListStub, Job } from "../src/ports.js";
import {
  computeStatus,
  type GroupStatus,
  type JobSeen,
  nodeStatus,
  type PublishedReport,
  type StatusInput,
} from "../src/status.js";

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

/** The fields a table row shows, for compact expectations. */
function summary(row: GroupStatus) {
  return {
    group: row.group,
    state: row.state,
    nodes: row.nodes,
    idleForMs: row.idleForMs,
    timeToActionMs: row.timeToActionMs,
    waits: row.waits.map((wait) => wait.kind),
  };
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
    expected: [
      {
        group: "web",
        state: "quiet",
        nodes: ["name-a", "name-b"],
        idleForMs: 5 * MINUTE + 30 * SECOND,
        timeToActionMs: 9 * MINUTE + 30 * SECOND,
        waits: [],
      },
    ],
  },
  {
    name: "past its timeout: due now",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 20 * MINUTE) })],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a")])),
    },
    expected: [
      {
        group: "web",
        state: "quiet",
        nodes: ["name-a"],
        idleForMs: 20 * MINUTE,
        timeToActionMs: 0,
        waits: [],
      },
    ],
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
    expected: [
      {
        group: "web",
        state: "active",
        nodes: ["name-a", "name-b"],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["active"],
      },
    ],
  },
  {
    name: "unknown on one node",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "unknown") })],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a")])),
    },
    expected: [
      {
        group: "web",
        state: "unknown",
        nodes: ["name-a"],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["unknown"],
      },
    ],
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
    expected: [
      {
        group: "web",
        state: "unknown",
        nodes: ["name-a", "name-b"],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["node-awaited"],
      },
    ],
  },
  {
    name: "a live allocation no report names: its node is awaited",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 5 * MINUTE) })],
      jobs: jobs(found(job([{ name: "web" }]), [alloc("a1", "web", "a"), alloc("c1", "web", "c")])),
    },
    expected: [
      {
        group: "web",
        state: "unknown",
        nodes: ["name-a", "name-c"],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["node-awaited"],
      },
    ],
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
    expected: [
      {
        group: "web",
        state: "waiting",
        nodes: ["name-a"],
        idleForMs: 20 * MINUTE,
        timeToActionMs: undefined,
        waits: ["partly-opted-in"],
      },
    ],
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
    expected: [
      {
        group: "web",
        state: "waiting",
        nodes: ["name-a"],
        idleForMs: 20 * MINUTE,
        timeToActionMs: undefined,
        waits: ["invalid-meta"],
      },
    ],
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
      {
        group: "api",
        state: "quiet",
        nodes: ["name-a"],
        idleForMs: 10 * MINUTE,
        timeToActionMs: 5 * MINUTE,
        waits: [],
      },
      {
        group: "web",
        state: "quiet",
        nodes: ["name-a"],
        idleForMs: 20 * MINUTE,
        timeToActionMs: 5 * MINUTE,
        waits: [],
      },
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
      {
        group: "api",
        state: "active",
        nodes: ["name-a"],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["other-group", "active"],
      },
      {
        group: "web",
        state: "quiet",
        nodes: ["name-a"],
        idleForMs: 20 * MINUTE,
        timeToActionMs: 0,
        waits: [],
      },
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
    expected: [
      {
        group: "web",
        state: "waiting",
        nodes: [],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["job-stopped"],
      },
    ],
  },
  {
    name: "a job the token cannot read: shown from the reports alone",
    input: {
      now: NOW,
      reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) })],
      jobs: jobs({ kind: "unreadable", reason: "HTTP 403 Permission denied" }),
    },
    expected: [
      {
        group: "web",
        state: "waiting",
        nodes: ["a"],
        idleForMs: MINUTE,
        timeToActionMs: undefined,
        waits: ["job-unreadable"],
      },
    ],
  },
  {
    name: "no jobs read at all (this node's view): counts down from the reports",
    input: { now: NOW, reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) })] },
    expected: [
      {
        group: "web",
        state: "quiet",
        nodes: ["a"],
        idleForMs: MINUTE,
        timeToActionMs: 14 * MINUTE,
        waits: [],
      },
    ],
  },
  {
    name: "a report whose write time is not known counts as stale",
    input: { now: NOW, reports: [report("a", { a1: record("web", "quiet", 1 * MINUTE) }, null)] },
    expected: [
      {
        group: "web",
        state: "unknown",
        nodes: ["a"],
        idleForMs: undefined,
        timeToActionMs: undefined,
        waits: ["node-awaited"],
      },
    ],
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
    expect(nodeStatus(own, NOW).map(summary)).toEqual([
      {
        group: "web",
        state: "quiet",
        nodes: ["a"],
        idleForMs: 2 * MINUTE,
        timeToActionMs: 13 * MINUTE,
        waits: [],
      },
    ]);
  });
});

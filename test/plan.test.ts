import { describe, expect, it } from "vitest";
import type { GroupOutcome, GroupVerdict } from "../src/decide/causes.js";
import { describeWait, waitKey } from "../src/decide/describe.js";
import type { EligibilityRules } from "../src/decide/eligibility.js";
import { planFiring } from "../src/decide/firing.js";
import type { GroupDecision } from "../src/decide/idle-timer.js";
import { planJob } from "../src/decide/plan.js";
import { cooldownAfter, triage } from "../src/decide/triage.js";
import type { PeerEvidence } from "../src/model/cluster.js";
import type { ActionOutcome } from "../src/model/events.js";
import type { AllocationListStub, Job } from "../src/model/nomad.js";
import type { GroupPolicy } from "../src/policy.js";
import { testPolicy } from "./support/policy.js";

const NOW = Date.UTC(2026, 11, 1, 9, 0, 0);
const MINUTE = 60_000;
const HERE = "node-here";
const THERE = "node-there";
const rules: EligibilityRules = {
  defaults: { timeoutMs: 15 * MINUTE, thresholdBytes: 500, checkIntervalMs: MINUTE, timezone: "UTC" },
  namespaces: "*",
  self: { namespace: "default", jobId: "idle-monitor" },
};

type GroupSpec = {
  name: string;
  meta?: Record<string, string>;
  count?: number;
  min?: number;
  image?: string;
  driver?: string;
};

/** A job as Nomad returns it; every group opted in through the job's meta unless its own says otherwise. */
function job(groups: GroupSpec[], overrides: Partial<Job> = {}): Job {
  return {
    ID: "dev",
    Name: "dev",
    Namespace: "default",
    Type: "service",
    Stop: false,
    Status: "running",
    Version: 3,
    Meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "15m" },
    TaskGroups: groups.map((group) => ({
      Name: group.name,
      Count: group.count ?? 1,
      Meta: group.meta ?? null,
      Networks: null,
      Scaling: group.min === undefined ? null : { Min: group.min, Max: 5, Enabled: true },
      Tasks: [
        {
          Name: "server",
          Driver: group.driver ?? "docker",
          Meta: null,
          Config: { image: group.image ?? "app:1" },
        },
      ],
    })),
    CreateIndex: 10,
    ModifyIndex: 40,
    JobModifyIndex: 40,
    SubmitTime: 0,
    ...overrides,
  } as Job;
}

function alloc(
  id: string,
  group: string,
  nodeId = HERE,
  status: Partial<AllocationListStub> = {},
): AllocationListStub {
  return {
    ID: id,
    Name: `dev.${group}[0]`,
    Namespace: "default",
    NodeID: nodeId,
    NodeName: nodeId,
    JobID: "dev",
    TaskGroup: group,
    DesiredStatus: "run",
    ClientStatus: "running",
    CreateIndex: 20,
    ModifyIndex: 20,
    CreateTime: 0,
    ModifyTime: 0,
    ...status,
  };
}

const stopPolicy: GroupPolicy = testPolicy({ timeoutMs: 15 * MINUTE, thresholdBytes: 500, action: "stop" });
const scalePolicy: GroupPolicy = { ...stopPolicy, action: "scale-to-zero" };
const idle: GroupDecision = { kind: "idle", idleForMs: 16 * MINUTE, bytesSeen: 40, reason: "idle for 16m" };
const active: GroupDecision = { kind: "active", idleForMs: 2 * MINUTE, reason: "quiet for 2m of 15m" };
const unknown: GroupDecision = {
  kind: "unknown",
  reason: "allocation a2 unknown: container missing",
  unmeasured: ["a2"],
  why: "container missing",
};

function verdict(
  group: string,
  decision: GroupDecision,
  measured: string[],
  policy = stopPolicy,
): GroupVerdict {
  return { group, policy, decision, measured: new Set(measured) };
}

const TAKEOVER = 2 * MINUTE;

function quiet(allocId: string, idleForMs: number): PeerEvidence {
  return { nodeId: THERE, allocId, state: "quiet", idleForMs, ageMs: 0 };
}

interface PlanCase {
  name: string;
  rule: string;
  decidedOn?: Job;
  fresh: Job | undefined;
  verdicts: GroupVerdict[];
  allocations: AllocationListStub[];
  peers?: PeerEvidence[];
  cooldownUntil?: number;
  expected: Array<{
    group: string;
    kind: GroupOutcome["kind"];
    cause?: string;
    otherNodes?: string[];
    awaited?: string;
    /** For `other-groups`: each other group and why it holds the stop back. */
    others?: string;
  }>;
}

const oneGroup = job([{ name: "web" }]);
const scaleJob = job([{ name: "web", meta: { "idle-monitor.action": "scale-to-zero" } }]);
const twoGroups = job([{ name: "web" }, { name: "db" }]);

const cases: PlanCase[] = [
  {
    name: "one idle group, every live allocation measured here: stop the job",
    rule: "stop vs scale",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "an idle group set to scale-to-zero is scaled, not the job stopped",
    rule: "stop vs scale",
    fresh: scaleJob,
    decidedOn: scaleJob,
    verdicts: [verdict("web", idle, ["a1"], scalePolicy)],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "scale" }],
  },
  {
    name: "scale one group while another waits: both outcomes in one job",
    rule: "stop vs scale",
    fresh: job([{ name: "web", meta: { "idle-monitor.action": "scale-to-zero" } }, { name: "db" }]),
    decidedOn: job([{ name: "web", meta: { "idle-monitor.action": "scale-to-zero" } }, { name: "db" }]),
    verdicts: [verdict("web", idle, ["a1"], scalePolicy), verdict("db", active, ["a2"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [
      { group: "web", kind: "scale" },
      { group: "db", kind: "wait", cause: "not-idle" },
    ],
  },
  {
    name: "two idle stop groups: the job is stopped",
    rule: "stop vs scale",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"]), verdict("db", idle, ["a2"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [
      { group: "web", kind: "stop" },
      { group: "db", kind: "stop" },
    ],
  },
  {
    name: "stop waits while another live group is active",
    rule: "partly-opted jobs",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"]), verdict("db", active, ["a2"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [
      { group: "web", kind: "wait", cause: "other-groups" },
      { group: "db", kind: "wait", cause: "not-idle" },
    ],
  },
  {
    name: "stop waits while another live group did not opt in",
    rule: "partly-opted jobs",
    fresh: job([{ name: "web" }, { name: "db", meta: { "idle-monitor.enabled": "false" } }]),
    decidedOn: job([{ name: "web" }, { name: "db", meta: { "idle-monitor.enabled": "false" } }]),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [{ group: "web", kind: "wait", cause: "other-groups" }],
  },
  {
    name: "stop waits while another group is unknown",
    rule: "partly-opted jobs",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"]), verdict("db", unknown, [])],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [
      { group: "web", kind: "wait", cause: "other-groups" },
      { group: "db", kind: "wait", cause: "not-idle" },
    ],
  },
  {
    name: "a group with no live allocation anywhere does not hold a stop back",
    rule: "partly-opted jobs",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db", HERE, { ClientStatus: "complete" })],
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "an idle group that also runs on a node that has not reported waits",
    rule: "allocations elsewhere",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
    expected: [{ group: "web", kind: "wait", cause: "awaiting-nodes", awaited: "node-there=no report" }],
  },
  {
    name: "multi-node, all idle for the timeout: the node of the lowest allocation ID acts, once",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
    peers: [quiet("b1", 15 * MINUTE)],
    expected: [{ group: "web", kind: "stop", otherNodes: [THERE] }],
  },
  {
    name: "multi-node, all idle: the other node (not the lowest allocation ID) leaves it to the first",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["c1"])],
    allocations: [alloc("c1", "web"), alloc("b1", "web", THERE)],
    peers: [quiet("b1", 16 * MINUTE)],
    expected: [{ group: "web", kind: "wait", cause: "other-node-acts" }],
  },
  {
    name: "multi-node, the acting node did not act: the next node takes over one takeover delay later",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", { ...idle, idleForMs: 15 * MINUTE + TAKEOVER }, ["c1"])],
    allocations: [alloc("c1", "web"), alloc("b1", "web", THERE)],
    peers: [quiet("b1", 15 * MINUTE + TAKEOVER)],
    expected: [{ group: "web", kind: "stop", otherNodes: [THERE] }],
  },
  {
    name: "multi-node, one allocation active on another node: wait",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
    peers: [{ nodeId: THERE, allocId: "b1", state: "active", idleForMs: 0, ageMs: 0 }],
    expected: [{ group: "web", kind: "wait", cause: "awaiting-nodes", awaited: "node-there=active" }],
  },
  {
    name: "multi-node, quiet on another node but not for the timeout yet: wait",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
    peers: [quiet("b1", 14 * MINUTE)],
    expected: [
      { group: "web", kind: "wait", cause: "awaiting-nodes", awaited: "node-there=not quiet long enough" },
    ],
  },
  {
    name: "multi-node, a stale report (its monitor is down) never counts as idle",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
    peers: [{ nodeId: THERE, allocId: "b1", state: "stale", idleForMs: undefined, ageMs: 0 }],
    expected: [{ group: "web", kind: "wait", cause: "awaiting-nodes", awaited: "node-there=stale report" }],
  },
  {
    name: "multi-node, an unknown allocation on another node never counts as idle",
    rule: "cluster",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
    peers: [{ nodeId: THERE, allocId: "b1", state: "unknown", idleForMs: undefined, ageMs: 0 }],
    expected: [{ group: "web", kind: "wait", cause: "awaiting-nodes", awaited: "node-there=unknown" }],
  },
  {
    name: "multi-node, a group that runs only on another node and is idle there lets the job stop",
    rule: "cluster",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "db", THERE)],
    peers: [quiet("b1", 20 * MINUTE)],
    expected: [{ group: "web", kind: "stop", otherNodes: [THERE] }],
  },
  {
    name: "a group that runs only on a node that has not reported holds the stop back",
    rule: "allocations elsewhere",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("b1", "db", THERE)],
    expected: [{ group: "web", kind: "wait", cause: "other-groups" }],
  },
  {
    name: "item 5: another group's allocation on this node that was not measured (placed after the snapshot) holds the stop back",
    rule: "allocations here",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [{ group: "web", kind: "wait", cause: "other-groups", others: "db=unmeasured-here" }],
  },
  {
    name: "item 5: so does another group's pending allocation on this node",
    rule: "allocations here",
    fresh: twoGroups,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("a2", "db", HERE, { ClientStatus: "pending" })],
    expected: [{ group: "web", kind: "wait", cause: "other-groups", others: "db=unmeasured-here" }],
  },
  {
    name: "item 5: a scale of the idle group does not wait for another group's allocations",
    rule: "allocations here",
    fresh: job([{ name: "web", meta: { "idle-monitor.action": "scale-to-zero" } }, { name: "db" }]),
    decidedOn: job([{ name: "web", meta: { "idle-monitor.action": "scale-to-zero" } }, { name: "db" }]),
    verdicts: [verdict("web", idle, ["a1"], scalePolicy)],
    allocations: [alloc("a1", "web"), alloc("a2", "db")],
    expected: [{ group: "web", kind: "scale" }],
  },
  {
    name: "a scaling block with min above zero blocks the scale",
    rule: "scaling min",
    fresh: job([{ name: "web", min: 1, meta: { "idle-monitor.action": "scale-to-zero" } }]),
    decidedOn: job([{ name: "web", min: 1, meta: { "idle-monitor.action": "scale-to-zero" } }]),
    verdicts: [verdict("web", idle, ["a1"], scalePolicy)],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "scaling-min" }],
  },
  {
    name: "min zero scales",
    rule: "scaling min",
    fresh: job([{ name: "web", min: 0, meta: { "idle-monitor.action": "scale-to-zero" } }]),
    decidedOn: job([{ name: "web", min: 0, meta: { "idle-monitor.action": "scale-to-zero" } }]),
    verdicts: [verdict("web", idle, ["a1"], scalePolicy)],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "scale" }],
  },
  {
    name: "in its cooldown the job is left alone",
    rule: "cooldown",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    cooldownUntil: NOW + MINUTE,
    expected: [{ group: "web", kind: "wait", cause: "cooldown" }],
  },
  {
    name: "once the cooldown is over it is acted on again",
    rule: "cooldown",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    cooldownUntil: NOW,
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "re-read: the job is gone",
    rule: "re-read outcomes",
    fresh: undefined,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [],
    expected: [{ group: "web", kind: "wait", cause: "job-gone" }],
  },
  {
    name: "re-read: the job was stopped meanwhile",
    rule: "re-read outcomes",
    fresh: job([{ name: "web" }], { Stop: true, JobModifyIndex: 41 }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "job-stopped" }],
  },
  {
    name: "defect 1: re-read: the job was re-run with other tasks at the deadline — wait and measure again",
    rule: "re-read outcomes",
    fresh: job([{ name: "web", image: "app:2" }], { JobModifyIndex: 55, Version: 4 }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "job-changed" }],
  },
  {
    name: "item 13: re-read: another copy of the job (a scale) writes its tasks' Config keys in another order — no change",
    rule: "re-read outcomes",
    decidedOn: withConfig(oneGroup, { image: "app:1", ports: ["http"], args: ["-f"] }),
    fresh: withConfig(job([{ name: "web", count: 2 }], { JobModifyIndex: 55 }), {
      ports: ["http"],
      args: ["-f"],
      image: "app:1",
    }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "defect 1: re-read: the group's policy changed (a longer timeout)",
    rule: "re-read outcomes",
    fresh: job([{ name: "web", meta: { "idle-monitor.timeout": "2h" } }], { JobModifyIndex: 55 }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "job-changed" }],
  },
  {
    name: "defect 1: re-read: the job's type changed",
    rule: "re-read outcomes",
    fresh: job([{ name: "web" }], { JobModifyIndex: 55, Type: "batch" }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "job-changed" }],
  },
  {
    name: "re-read: the group opted out meanwhile",
    rule: "re-read outcomes",
    fresh: job([{ name: "web", meta: { "idle-monitor.enabled": "false" } }], { JobModifyIndex: 55 }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "not-eligible" }],
  },
  {
    name: "re-read: a change of count alone (a scale) does not reset the wait",
    rule: "re-read outcomes",
    fresh: job([{ name: "web", count: 2 }], { JobModifyIndex: 55, Version: 4 }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "re-read: a new allocation of the group on this node that was not measured",
    rule: "re-read outcomes",
    fresh: job([{ name: "web", count: 2 }], { JobModifyIndex: 55 }),
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("a3", "web", HERE, { ClientStatus: "pending" })],
    expected: [{ group: "web", kind: "wait", cause: "unmeasured-allocations" }],
  },
  {
    name: "re-read: the same index, nothing changed: act",
    rule: "re-read outcomes",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"])],
    allocations: [alloc("a1", "web"), alloc("old", "web", HERE, { DesiredStatus: "stop" })],
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "idle in a keep-alive window (09:00, window 08:00–18:59): not stopped for idleness",
    rule: "schedule",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"], scheduled({ "idle-monitor.keep-alive": "* 8-18 * * *" }))],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "keep-alive" }],
  },
  {
    name: "idle outside its keep-alive windows: stopped",
    rule: "schedule",
    fresh: oneGroup,
    verdicts: [
      verdict("web", idle, ["a1"], scheduled({ "idle-monitor.keep-alive": "* 19-23 * * *; * 0-7 * * *" })),
    ],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "stop" }],
  },
  {
    name: "active in a keep-alive window: its activity is what is said",
    rule: "schedule",
    fresh: oneGroup,
    verdicts: [verdict("web", active, ["a1"], scheduled({ "idle-monitor.keep-alive": "* 8-18 * * *" }))],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "not-idle" }],
  },
  {
    name: "idle before exclude-until: left alone",
    rule: "schedule",
    fresh: oneGroup,
    verdicts: [
      verdict("web", idle, ["a1"], scheduled({ "idle-monitor.exclude-until": "2026-12-01T12:00:00Z" })),
    ],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "wait", cause: "excluded" }],
  },
  {
    name: "idle once exclude-until has passed: stopped",
    rule: "schedule",
    fresh: oneGroup,
    verdicts: [verdict("web", idle, ["a1"], scheduled({ "idle-monitor.exclude-until": "2026-11-30" }))],
    allocations: [alloc("a1", "web")],
    expected: [{ group: "web", kind: "stop" }],
  },
];

/** The job with every task's driver Config replaced, its keys in the order given. */
function withConfig(base: Job, config: Record<string, unknown>): Job {
  return {
    ...base,
    TaskGroups: base.TaskGroups.map((group) => ({
      ...group,
      Tasks: group.Tasks.map((task) => ({ ...task, Config: config })),
    })),
  };
}

/** The stop policy with schedule meta, as groupPolicy reads it. */
function scheduled(meta: Record<string, string>): GroupPolicy {
  return testPolicy({ timeoutMs: 15 * MINUTE, thresholdBytes: 500, action: "stop" }, meta);
}

/** An outcome in the terms of the table: its kind, the cause's kind, and for awaited nodes who and why. */
function summary(outcome: GroupOutcome) {
  if (outcome.kind !== "wait")
    return { group: outcome.group, kind: outcome.kind, otherNodes: outcome.otherNodes };
  const { cause } = outcome;
  const awaited =
    cause.kind === "awaiting-nodes"
      ? { awaited: cause.nodes.map(({ node, why }) => `${node}=${why}`).join(",") }
      : {};
  const others =
    cause.kind === "other-groups" && cause.groups.some(({ why }) => why.kind === "unmeasured-here")
      ? { others: cause.groups.map(({ group, why }) => `${group}=${why.kind}`).join(",") }
      : {};
  return {
    group: outcome.group,
    kind: outcome.kind,
    cause: cause.kind,
    otherNodes: [],
    ...awaited,
    ...others,
  };
}

describe("planJob: one outcome per group", () => {
  it.each(cases)("$rule: $name", (spec) => {
    const outcomes = planJob({
      nodeId: HERE,
      decidedOn: spec.decidedOn ?? (spec.fresh?.TaskGroups.length === 2 ? twoGroups : oneGroup),
      verdicts: spec.verdicts,
      fresh: spec.fresh,
      allocations: spec.allocations,
      peers: spec.peers ?? [],
      takeoverMs: TAKEOVER,
      triage: triage(spec.verdicts, spec.cooldownUntil, NOW),
      rules,
    });
    expect(outcomes.map(summary)).toEqual(spec.expected.map((expected) => ({ otherNodes: [], ...expected })));
  });

  it("names every rule at least once", () => {
    const named = new Set(cases.map((spec) => spec.rule));
    for (const rule of [
      "stop vs scale",
      "partly-opted jobs",
      "allocations elsewhere",
      "scaling min",
      "cluster",
      "cooldown",
      "re-read outcomes",
      "allocations here",
      "schedule",
    ]) {
      expect(named).toContain(rule);
    }
  });
});

describe("planFiring: a stop-at acts whatever the activity, on what the job says now", () => {
  const stopAt = { "idle-monitor.stop-at": "0 9 * * *" };
  const firing = NOW;
  const cases: Array<{
    name: string;
    fresh: Job | undefined;
    allocations?: AllocationListStub[];
    expected: Array<Record<string, unknown>>;
  }> = [
    {
      name: "the job still has the stop-at: stopped as a whole, other nodes included",
      fresh: job([{ name: "web", meta: stopAt }]),
      allocations: [alloc("a1", "web"), alloc("b1", "web", THERE)],
      expected: [{ group: "web", kind: "stop", otherNodes: [THERE] }],
    },
    {
      name: "scale-to-zero: the group is scaled",
      fresh: job([{ name: "web", meta: { ...stopAt, "idle-monitor.action": "scale-to-zero" } }]),
      expected: [{ group: "web", kind: "scale", otherNodes: [] }],
    },
    {
      name: "scale-to-zero with a scaling min above zero: left as it is",
      fresh: job([{ name: "web", min: 1, meta: { ...stopAt, "idle-monitor.action": "scale-to-zero" } }]),
      expected: [{ group: "web", kind: "wait", cause: "scaling-min" }],
    },
    {
      name: "item 4: at a retry, the group's allocations here were all placed after the firing (run again): not acting",
      fresh: job([{ name: "web", meta: stopAt }]),
      allocations: [
        alloc("a1", "web", HERE, { DesiredStatus: "stop", ClientStatus: "complete" }),
        alloc("n1", "web"),
      ],
      expected: [{ group: "web", kind: "wait", cause: "started-after-firing" }],
    },
    {
      name: "item 6: one live allocation here seen before the firing: stopped",
      fresh: job([{ name: "web", meta: stopAt }]),
      allocations: [alloc("a1", "web"), alloc("n1", "web")],
      expected: [{ group: "web", kind: "stop", otherNodes: [] }],
    },
    {
      name: "the stop-at was changed meanwhile: it no longer fires then",
      fresh: job([{ name: "web", meta: { "idle-monitor.stop-at": "0 20 * * *" } }]),
      expected: [{ group: "web", kind: "wait", cause: "job-changed" }],
    },
    {
      name: "excluded: left alone",
      fresh: job([{ name: "web", meta: { ...stopAt, "idle-monitor.exclude-until": "2026-12-24" } }]),
      expected: [{ group: "web", kind: "wait", cause: "excluded" }],
    },
    {
      name: "a keep-alive window does not hold a stop-at back",
      fresh: job([{ name: "web", meta: { ...stopAt, "idle-monitor.keep-alive": "* * * * *" } }]),
      expected: [{ group: "web", kind: "stop", otherNodes: [] }],
    },
    {
      name: "the job was stopped meanwhile",
      fresh: job([{ name: "web", meta: stopAt }], { Stop: true }),
      expected: [{ group: "web", kind: "wait", cause: "job-stopped" }],
    },
    {
      name: "the job is gone",
      fresh: undefined,
      expected: [{ group: "web", kind: "wait", cause: "job-gone" }],
    },
  ];
  it.each(cases)("$name", ({ fresh, allocations, expected }) => {
    const outcomes = planFiring({
      nodeId: HERE,
      fired: [{ group: "web", policy: scheduledStop }],
      firing,
      fresh,
      allocations: allocations ?? [alloc("a1", "web")],
      // What this node saw before the firing: a1 (n1 is new since).
      seenByFiring: new Set(["a1", "b1"]),
      now: NOW + 20_000,
      rules,
    });
    expect(outcomes.map(summary)).toEqual(expected.map((outcome) => ({ otherNodes: [], ...outcome })));
  });
});

const scheduledStop = testPolicy(
  { timeoutMs: 15 * MINUTE, thresholdBytes: 500, action: "stop" },
  {
    "idle-monitor.stop-at": "0 9 * * *",
  },
);

describe("after an action", () => {
  const cooldownMs = 5 * MINUTE;
  const outcomes: Array<{
    name: string;
    rule: string;
    outcome: ActionOutcome;
    cooldownUntil: number | undefined;
  }> = [
    {
      name: "done: the job is left alone while it drains",
      rule: "cooldown",
      outcome: { kind: "done", evalId: "e1", jobModifyIndex: 12 },
      cooldownUntil: NOW + cooldownMs,
    },
    {
      name: "item 1: a dry run's decision is no action: it starts no cooldown that a live monitor would keep",
      rule: "dry run",
      outcome: { kind: "dry-run" },
      cooldownUntil: undefined,
    },
    {
      name: "refused for an active deployment: tried again next cycle",
      rule: "active deployment",
      outcome: { kind: "refused", message: "HTTP 400 job scaling blocked due to active deployment" },
      cooldownUntil: undefined,
    },
    {
      name: "failed: tried again",
      rule: "failure",
      outcome: { kind: "failed", message: "HTTP 500" },
      cooldownUntil: undefined,
    },
  ];
  it.each(outcomes)("$rule: $name", ({ outcome, cooldownUntil }) => {
    expect(cooldownAfter(outcome, NOW, cooldownMs)).toBe(cooldownUntil);
  });
});

describe("a wait is said again when", () => {
  const awaiting = (
    ...nodes: Array<[string, "no report" | "stale report" | "active" | "unknown" | "not quiet long enough"]>
  ) => waitKey({ kind: "awaiting-nodes", nodes: nodes.map(([node, why]) => ({ node, why })) });
  it.each([
    [
      "a node that had not reported reports activity",
      awaiting(["b", "no report"]),
      awaiting(["b", "active"]),
      true,
    ],
    ["a reporting node goes silent", awaiting(["b", "active"]), awaiting(["b", "stale report"]), true],
    ["another node is awaited", awaiting(["b", "active"]), awaiting(["c", "active"]), true],
    [
      "a node turns from active to quiet but not for long enough",
      awaiting(["b", "active"]),
      awaiting(["b", "not quiet long enough"]),
      false,
    ],
    [
      "a node's report goes from missing to stale",
      awaiting(["b", "no report"]),
      awaiting(["b", "stale report"]),
      false,
    ],
  ])("%s: %s", (_name, before, after, saidAgain) => {
    expect(before !== after).toBe(saidAgain);
  });
});

describe("the log line of a wait is rendered from its cause", () => {
  it.each<[string, Parameters<typeof describeWait>[2], string]>([
    [
      "job-changed",
      { kind: "job-changed", changes: ["tasks"] },
      "job dev group web changed (tasks) since it was measured; measuring it again from now before acting",
    ],
    [
      "awaiting-nodes",
      {
        kind: "awaiting-nodes",
        nodes: [
          { node: "b", why: "stale report" },
          { node: "c", why: "active" },
        ],
      },
      "job dev group web is idle here, but not acting while node b has not reported recently, node c reports activity",
    ],
    [
      "scaling-min",
      { kind: "scaling-min", min: 1 },
      "job dev group web is idle, but its scaling block has min = 1, so it cannot be scaled to 0; leaving it",
    ],
    [
      "other-groups",
      {
        kind: "other-groups",
        groups: [
          { group: "db", why: { kind: "not-eligible", eligibility: { kind: "not-opted-in" } } },
          { group: "api", why: { kind: "waiting", cause: { kind: "not-idle", decision: active } } },
        ],
      },
      "job dev group web is idle, but not stopping the job while group db is not opted in, group api is active (quiet for 2m of 15m)",
    ],
    [
      "other-groups: item 5, another group's allocation here not measured yet",
      {
        kind: "other-groups",
        groups: [
          {
            group: "db",
            why: { kind: "unmeasured-here", allocIds: ["d6f0a1b2-0000-4000-8000-000000000000"] },
          },
        ],
      },
      "job dev group web is idle, but not stopping the job while group db has 1 allocation on this node that was not measured yet (d6f0a1b2)",
    ],
    [
      "cooldown",
      { kind: "cooldown", untilMs: NOW + 90_000 },
      "job dev group web is idle, but the job was acted on recently; leaving it alone for 1m30s more (ACTION_COOLDOWN)",
    ],
    [
      "excluded",
      { kind: "excluded", untilMs: Date.UTC(2026, 11, 4, 23, 0), timezone: "Europe/Berlin" },
      "job dev group web: excluded until 2026-12-05 00:00 Europe/Berlin (idle-monitor.exclude-until); not acting on it before then",
    ],
    [
      "keep-alive",
      {
        kind: "keep-alive",
        windows: ["* 8-18 * * 1-5", "* 10-12 * * 6"],
        untilMs: Date.UTC(2026, 11, 1, 17, 0),
        timezone: "Europe/Berlin",
      },
      'job dev group web is idle, but in its keep-alive window ("* 8-18 * * 1-5"; "* 10-12 * * 6") until 2026-12-01 18:00 Europe/Berlin; not stopping it for idleness before then',
    ],
  ])("%s", (_name, cause, line) => {
    expect(describeWait("dev", "web", cause, NOW)).toBe(line);
  });
});

import { describe, expect, it } from "vitest";
import type { PlannedAction } from "../src/decide/causes.js";
import { claimLetsAct, mustClaim, spansNodes } from "../src/decide/claim.js";
import { groupFingerprint } from "../src/decide/job-change.js";
import type { ClaimResult } from "../src/model/cluster.js";
import type { Job } from "../src/model/nomad.js";
import { testPolicy } from "./support/policy.js";

describe("the claim rule: one node acts on a job", () => {
  const here: PlannedAction = { group: "web", kind: "stop", otherNodes: [] };
  const spanning: PlannedAction = { group: "web", kind: "stop", otherNodes: ["b"] };

  it("a job spans nodes when one of its planned actions concerns allocations elsewhere", () => {
    expect(spansNodes([here])).toBe(false);
    expect(spansNodes([here, { ...spanning, kind: "scale", group: "db" }])).toBe(true);
  });

  const cases: Array<{
    name: string;
    sharing: boolean;
    spans: boolean;
    result?: ClaimResult;
    acts: boolean;
  }> = [
    {
      name: "reports not shared, the job only here: acts without a claim",
      sharing: false,
      spans: false,
      acts: true,
    },
    { name: "reports shared: claimed, acts", sharing: true, spans: false, result: "claimed", acts: true },
    {
      name: "reports shared: another node holds the claim",
      sharing: true,
      spans: false,
      result: "held",
      acts: false,
    },
    {
      name: "claims cannot be written, the job only here: acts all the same",
      sharing: true,
      spans: false,
      result: "unavailable",
      acts: true,
    },
    {
      name: "claims cannot be written, the job spans nodes: does not act",
      sharing: false,
      spans: true,
      result: "unavailable",
      acts: false,
    },
    {
      name: "the job spans nodes, claimed: acts",
      sharing: false,
      spans: true,
      result: "claimed",
      acts: true,
    },
    {
      name: "the job spans nodes, held elsewhere: does not act",
      sharing: true,
      spans: true,
      result: "held",
      acts: false,
    },
  ];

  it.each(cases)("$name", ({ sharing, spans, result, acts }) => {
    const claims = mustClaim(sharing, spans);
    expect(claims).toBe(result !== undefined);
    expect(claims ? claimLetsAct(result as ClaimResult, spans) : true).toBe(acts);
  });
});

describe("the fingerprint of a group: what its idle timer depends on", () => {
  const policy = testPolicy({ timeoutMs: 900_000, thresholdBytes: 500, action: "stop" });
  const job = (overrides: { image?: string; count?: number; type?: string } = {}) =>
    ({
      ID: "dev",
      Namespace: "default",
      Type: overrides.type ?? "service",
      JobModifyIndex: 40,
      TaskGroups: [
        {
          Name: "web",
          Count: overrides.count ?? 1,
          Tasks: [{ Name: "server", Driver: "docker", Config: { image: overrides.image ?? "app:1" } }],
        },
        { Name: "db", Count: 1, Tasks: [{ Name: "pg", Driver: "docker", Config: { image: "pg:16" } }] },
      ],
    }) as unknown as Job;
  const base = groupFingerprint(job(), "web", policy);

  it.each([
    { name: "the same job again", fingerprint: groupFingerprint(job(), "web", policy), changed: false },
    {
      name: "a scale (count alone)",
      fingerprint: groupFingerprint(job({ count: 3 }), "web", policy),
      changed: false,
    },
    {
      name: "another image",
      fingerprint: groupFingerprint(job({ image: "app:2" }), "web", policy),
      changed: true,
    },
    {
      name: "another job type",
      fingerprint: groupFingerprint(job({ type: "batch" }), "web", policy),
      changed: true,
    },
    {
      name: "another policy (a longer timeout)",
      fingerprint: groupFingerprint(job(), "web", { ...policy, timeoutMs: 3_600_000 }),
      changed: true,
    },
  ])("$name: changed $changed", ({ fingerprint, changed }) => {
    expect(fingerprint !== base).toBe(changed);
  });

  it("another group's change does not touch this group's fingerprint", () => {
    const other = job();
    const db = other.TaskGroups[1];
    if (db?.Tasks?.[0]) db.Tasks[0].Config = { image: "pg:17" };
    expect(groupFingerprint(other, "web", policy)).toBe(base);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatePaths } from "../src/cluster/paths.js";
import { encodeReport } from "../src/cluster/report.js";
import type { AllocRecord, NodeReport } from "../src/model/cluster.js";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import { serviceJob } from "./monitor/harness.js";
import { NomadSimulator } from "./sim/index.js";
import { type CliRun, runCli } from "./support/cli.js";
import { HeldClock } from "./support/held-clock.js";

const STATUS_POLICY = new URL("../nomad/idle-monitor-status-policy.hcl", import.meta.url).pathname;
const MINUTE = 60_000;
const paths = new StatePaths("nomad/jobs/idle-monitor");
/** How long after the reports were written status runs, on the simulator's clock (the CLI's too). */
const REPORTS_AGE_MS = 2_000;

/** Every token of the scenario, and everything the CLI printed: no output may hold a token. */
const secrets = new Set<string>();
const outputs: string[] = [];

let sim: NomadSimulator;
let clock: HeldClock;
/** A cluster with ACLs where no monitor runs. */
let empty: NomadSimulator;
let statusToken: string;
let env: Record<string, string>;
const nodes: Record<string, string> = {};
const allocOf: Record<string, string> = {};

async function run(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
  const result = await runCli(args, { ...env, ...extraEnv });
  outputs.push(result.stdout, result.stderr);
  return result;
}

function record(job: string, group: string, state: AllocRecord["state"], quietForMs?: number): AllocRecord {
  return {
    namespace: job === "team-app" ? "team" : "default",
    job,
    group,
    timeoutMs: 15 * MINUTE,
    action: "stop",
    state,
    ...(quietForMs === undefined ? {} : { quietForMs, quietSince: 1, counters: { eth0: 1234 } }),
    bytesSinceActive: 40,
  };
}

/** What a node's monitor writes (exchange.ts): its report, in parts, under its activity path. */
function publish(node: string, allocs: Record<string, AllocRecord>, heartbeatMs = 3 * MINUTE): void {
  const report: NodeReport = {
    v: 1,
    nodeId: nodes[node] ?? node,
    heartbeatMs,
    writtenAt: 0,
    allocs,
    cooldowns: {},
  };
  for (const [part, items] of encodeReport(report, 1).entries())
    sim.putVariable("default", paths.reportPart(report.nodeId, part), items);
}

function allocId(job: string, node: string, group = "web"): string {
  const id = allocOf[`${job}/${group}/${node}`];
  if (!id) throw new Error(`no allocation of ${job}/${group} on ${node}`);
  return id;
}

beforeAll(async () => {
  // The Nomad agent's clock, which the CLI measures ages on (its Date header): held, so they are exact.
  clock = new HeldClock(Math.floor(Date.now() / 1_000) * 1_000);
  sim = await NomadSimulator.start({ clock });
  empty = await NomadSimulator.start();
  secrets.add(empty.managementToken);
  for (const name of ["a", "b", "c"]) nodes[name] = sim.addNode(name);
  const spread = (node: string) => [nodes[node] ?? ""];
  await sim.registerJob(serviceJob("spread", { groups: [{ name: "web", count: 2 }] }), {
    nodes: { web: [...spread("a"), ...spread("b")] },
  });
  await sim.registerJob(
    serviceJob("mixed", {
      groups: [{ name: "web" }, { name: "db", meta: { "idle-monitor.enabled": "false" } }],
    }),
    { nodes: { web: spread("a"), db: spread("a") } },
  );
  await sim.registerJob(serviceJob("busy"), { nodes: { web: spread("b") } });
  await sim.registerJob(serviceJob("lagging"), { nodes: { web: spread("c") } });
  await sim.registerJob(serviceJob("team-app", { namespace: "team" }), { nodes: { web: spread("a") } });
  await sim.whenSettled();
  for (const alloc of sim.allocations()) {
    const node = Object.entries(nodes).find(([, id]) => id === alloc.NodeID)?.[0];
    allocOf[`${alloc.JobID}/${alloc.TaskGroup}/${node}`] = alloc.ID;
  }

  // Node c's monitor promised a write every 100 ms and went silent: its report is stale by the time status runs.
  publish("c", { [allocId("lagging", "c")]: record("lagging", "web", "quiet", 20 * MINUTE) }, 100);
  publish("a", {
    [allocId("spread", "a")]: record("spread", "web", "quiet", 5 * MINUTE),
    [allocId("mixed", "a")]: record("mixed", "web", "quiet", 20 * MINUTE),
    [allocId("team-app", "a")]: record("team-app", "web", "quiet", 1 * MINUTE),
  });
  publish("b", {
    [allocId("spread", "b")]: record("spread", "web", "quiet", 10 * MINUTE),
    [allocId("busy", "b")]: record("busy", "web", "active"),
  });
  sim.putVariable("default", paths.claim("default", "spread"), {
    node: nodes.b ?? "",
    action: "stop",
    durationMs: String(5 * MINUTE),
    job: "spread",
    namespace: "default",
  });
  // What the status policy must not reach: the action token, and records that hold job specifications.
  const actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
  sim.putVariable("default", "nomad/jobs/idle-monitor", { token: actionToken });
  sim.putVariable("default", "nomad/jobs/idle-monitor/wake/default/spread", { spec: "{}" });

  statusToken = sim.createToken(await simulatorPolicyFromFile(STATUS_POLICY));
  for (const secret of [statusToken, actionToken, sim.managementToken]) secrets.add(secret);
  env = { NOMAD_ADDR: sim.address, NOMAD_TOKEN: statusToken };
  clock.advance(REPORTS_AGE_MS);
});

afterAll(async () => {
  for (const secret of secrets) for (const output of outputs) expect(output).not.toContain(secret);
  expect(outputs.length).toBeGreaterThan(0);
  await sim?.close();
  await empty?.close();
});

/** The table's lines as cells (columns are separated by two or more spaces). */
function cells(table: string): string[][] {
  return table
    .trim()
    .split("\n")
    .map((line) => line.split(/ {2,}/));
}

// Each run starts node with tsx: seconds on a busy machine.
describe("nomad-idle-monitor status", { timeout: 180_000 }, () => {
  it("prints one line per watched group across the cluster, with the status policy's token", async () => {
    const { code, stdout, stderr } = await run(["status"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const [header, ...rows] = cells(stdout);
    expect(header).toEqual([
      "Namespace",
      "Job",
      "Group",
      "Action",
      "Nodes",
      "State",
      "Idle For",
      "Timeout",
      "Time to Action",
      "Last Action",
    ]);
    const byJob = Object.fromEntries(rows.map((row) => [`${row[0]}/${row[1]}`, row]));
    expect(Object.keys(byJob).sort()).toEqual([
      "default/busy",
      "default/lagging",
      "default/mixed",
      "default/spread",
      "team/team-app",
    ]);
    // Quiet on a for 5m and on b for 10m when reported 2s ago: the least idle counts; 15m timeout.
    expect(byJob["default/spread"]).toEqual([
      "default",
      "spread",
      "web",
      "stop",
      "a,b",
      "quiet",
      "5m2s",
      "15m",
      "9m58s",
      "stop by b 2s ago",
    ]);
    expect(byJob["default/busy"]?.slice(4, 9)).toEqual(["b", "active", "-", "15m", "waits: active on b"]);
    expect(byJob["default/mixed"]?.slice(5, 9)).toEqual([
      "waiting",
      "20m2s",
      "15m",
      "waits: partly opted in (group db not)",
    ]);
    expect(byJob["default/lagging"]?.slice(4, 9)).toEqual([
      "c",
      "unknown",
      "-",
      "15m",
      "waits: node c awaited (stale report)",
    ]);
  });

  it("answers JSON for scripts, with the clock the ages were measured on", async () => {
    const { code, stdout } = await run(["status", "-json"]);
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout);
    expect(parsed.ageClock).toBe("nomad-agent");
    expect(Date.parse(parsed.now)).toBe(clock.now());
    const spread = parsed.groups.find((group: { job: string }) => group.job === "spread");
    expect(spread).toMatchObject({
      namespace: "default",
      job: "spread",
      group: "web",
      action: "stop",
      timeoutMs: 15 * MINUTE,
      nodes: ["a", "b"],
      state: "quiet",
      waits: [],
      lastAction: { node: nodes.b, action: "stop" },
    });
    expect(spread.idleForMs).toBe(5 * MINUTE + REPORTS_AGE_MS);
    expect(spread.timeToActionMs).toBe(15 * MINUTE - spread.idleForMs);
    expect(spread.allocations.map((alloc: { node: string }) => alloc.node).sort()).toEqual(["a", "b"]);
    const busy = parsed.groups.find((group: { job: string }) => group.job === "busy");
    expect(busy.waits).toEqual([{ kind: "active", nodes: ["b"], text: "active on b" }]);
  });

  it("filters by the jobs' namespace", async () => {
    const { code, stdout } = await run(["status", "--namespace=team", "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).groups.map((group: { job: string }) => group.job)).toEqual(["team-app"]);
  });

  it("status <job> shows the job per allocation and node with the last readings", async () => {
    const { code, stdout } = await run(["status", "spread"]);
    expect(code).toBe(0);
    const [head, groups, allocations] = stdout.trim().split("\n\n");
    expect(head).toBe("ID        = spread\nNamespace = default");
    expect(groups?.split("\n")[0]).toBe("Task Groups");
    const [title, header, ...rows] = (allocations ?? "").split("\n");
    expect(title).toBe("Allocations");
    expect(header?.split(/ {2,}/)).toEqual([
      "ID",
      "Node",
      "Group",
      "Status",
      "Reading",
      "Idle For",
      "Since Active",
      "Reported",
    ]);
    const byNode = Object.fromEntries(rows.map((row) => row.split(/ {2,}/)).map((row) => [row[1], row]));
    expect(byNode.a).toEqual([
      allocId("spread", "a").slice(0, 8),
      "a",
      "web",
      "running",
      "quiet",
      "5m2s",
      "40 B",
      "2s ago",
    ]);
    expect(byNode.b?.slice(0, 5)).toEqual([
      allocId("spread", "b").slice(0, 8),
      "b",
      "web",
      "running",
      "quiet",
    ]);
  });

  it("exits 3 for a job no monitor watches", async () => {
    const { code, stdout, stderr } = await run(["status", "nope"]);
    expect(code).toBe(3);
    expect(stdout).toBe("");
    expect(stderr).toContain('No watched job "nope"');
  });

  it("exits 4 and shows the reports alone where the token may not read the jobs", async () => {
    const stateOnly = sim.createToken({
      variables: { default: { "nomad/jobs/idle-monitor/activity/*": ["read", "list"] } },
    });
    secrets.add(stateOnly);
    const { code, stdout, stderr } = await run(["status", "--json"], { NOMAD_TOKEN: stateOnly });
    expect(code).toBe(4);
    expect(stderr).toContain("needs read-job");
    const spread = JSON.parse(stdout).groups.find((group: { job: string }) => group.job === "spread");
    expect(spread.waits.map((wait: { kind: string }) => wait.kind)).toEqual(["job-unreadable"]);
  });

  it("exits 1 when Nomad refuses the token or cannot be reached", async () => {
    const [refused, unreachable] = await Promise.all([
      run(["status"], { NOMAD_TOKEN: "00000000-0000-0000-0000-000000000000" }),
      run(["status", "-address=http://127.0.0.1:1"]),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^Error querying Nomad: .*HTTP 403/);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("ECONNREFUSED");
  });

  it("issue 19 item 10: exits 1 with the reason when no token or a token without the status policy sees no report; 0 when there is none", async () => {
    // Nomad answers both lists with 200 and nothing in them (anonymous: Nomad's anonymous token).
    const jobsOnly = sim.createToken({ namespaces: { "*": ["read-job"] } });
    secrets.add(jobsOnly);
    const [anonymous, withoutPolicy, nothingThere] = await Promise.all([
      run(["status"], { NOMAD_TOKEN: "" }),
      run(["status", "-json"], { NOMAD_TOKEN: jobsOnly }),
      run(["status"], { NOMAD_TOKEN: empty.managementToken, NOMAD_ADDR: empty.address }),
    ]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stdout).toBe("");
    expect(anonymous.stderr).toMatch(
      /^Error querying Nomad: read variable nomad\/jobs\/idle-monitor\/activity\/\S+: HTTP 403 Permission denied: NOMAD_TOKEN is not set, .*\(the cluster has ACLs\)\. Set NOMAD_TOKEN to a token with the status policy \(nomad\/idle-monitor-status-policy\.hcl\)\n$/,
    );
    expect(withoutPolicy.code).toBe(1);
    expect(withoutPolicy.stdout).toBe("");
    expect(withoutPolicy.stderr).toMatch(
      /HTTP 403 Permission denied: this token may not read the monitors' reports under nomad\/jobs\/idle-monitor\/activity\/ in namespace "default"; it needs the status policy/,
    );
    // A cluster where no monitor reported yet, with a token that may see everything: nothing there.
    expect(nothingThere.code).toBe(0);
    expect(nothingThere.stdout).toBe("No watched jobs\n");
    expect(nothingThere.stderr).toMatch(
      /^No monitor report found under nomad\/jobs\/idle-monitor\/activity\/ .*: none published yet/,
    );
  });

  it("exits 2 on a usage error, and shows help on every command", async () => {
    const [usage, main, status] = await Promise.all([
      run(["status", "--nope"]),
      run(["--help"]),
      run(["status", "-help"]),
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("Usage: nomad-idle-monitor status");
    expect(main.code).toBe(0);
    expect(main.stdout).toContain("status    Show the watched jobs");
    expect(status.code).toBe(0);
    for (const text of ["-monitor-namespace", "-monitor-job", "-json", "NOMAD_CACERT", "Exit Codes:"])
      expect(status.stdout).toContain(text);
  });

  it("the status policy reads the reports and claims, not the action token nor the job specifications", async () => {
    const read = (path: string) =>
      fetch(`${sim.address}/v1/var/${path}?namespace=default`, { headers: { "X-Nomad-Token": statusToken } });
    expect((await read(paths.reportPart(nodes.a ?? "", 0))).status).toBe(200);
    expect((await read(paths.claim("default", "spread"))).status).toBe(200);
    expect((await read("nomad/jobs/idle-monitor")).status).toBe(403);
    expect((await read("nomad/jobs/idle-monitor/wake/default/spread")).status).toBe(403);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Recordings } from "./contract/recordings.js";
import { shapeDifferences, shapeOf } from "./contract/shape.js";
import { type ProbeOptions, type ProbeResponse, StreamProbe, send } from "./sim/http-probe.js";
import { NomadSimulator, RecordingRuntime, type SimJob } from "./sim/index.js";

// The simulator against the recordings of a real Nomad 1.6.5 (test/fixtures/nomad-1.6.5): the same
// requests, in the recorded order, must get answers of the same shape — every field path with its
// JSON type, null vs empty vs missing — with the same status, content type and error body. What
// differs on purpose is listed in INTENDED_DIFFERENCES; anything else is drift and fails.

const recorded165 = new Recordings("1.6.5");

/** Differences the simulator keeps on purpose: `<recording>` × `<difference>` → why. */
const INTENDED_DIFFERENCES: Array<{ file: RegExp; difference: RegExp; reason: string }> = [
  {
    file: /./,
    difference: /\.(DynamicPorts|Ports)(\[\])?: (recorded array, simulator null|missing in the simulator)$/,
    reason: "the recorded jobs ask for a dynamic port `http`; the simulator's jobs declare no ports",
  },
  {
    file: /^(allocation-|node-allocations|event-stream\.ndjson Allocation)/,
    difference: /\.(Resources|SharedResources|TaskResources|SigningKeyID): missing in the simulator$/,
    reason:
      "deprecated resource copies and the plan's signing key: nothing reads them, the simulator has no resources",
  },
  {
    file: /^event-stream\.ndjson Allocation$/,
    difference: /\.TaskStates\.\*\.FinishedAt: recorded null, simulator null\|string$/,
    reason:
      "the recording ends before the stopped tasks were reported dead; the simulator reports them at once",
  },
];

const used = new Set<number>();

function unintended(file: string, differences: string[]): string[] {
  return differences.filter((difference) => {
    const known = INTENDED_DIFFERENCES.findIndex(
      (entry) => entry.file.test(file) && entry.difference.test(difference),
    );
    if (known === -1) return true;
    used.add(known);
    return false;
  });
}

function parsed(body: string): { json: unknown } | undefined {
  try {
    return { json: JSON.parse(body) };
  } catch {
    return undefined;
  }
}

/** How the simulator's answer differs from the recorded one. */
function answerDifferences(file: string, simulated: ProbeResponse): string[] {
  const recorded = recorded165.http(file);
  const differences: string[] = [];
  if (recorded.status !== simulated.status)
    differences.push(`status: recorded ${recorded.status}, simulator ${simulated.status}`);
  for (const header of ["content-type", "cache-control"]) {
    if (recorded.headers[header] !== simulated.headers[header])
      differences.push(
        `${header}: recorded ${recorded.headers[header]}, simulator ${simulated.headers[header]}`,
      );
  }
  const hasIndex = (headers: ProbeResponse["headers"]) => headers["x-nomad-index"] !== undefined;
  if (hasIndex(recorded.headers) !== hasIndex(simulated.headers))
    differences.push(
      `X-Nomad-Index: recorded ${hasIndex(recorded.headers)}, simulator ${hasIndex(simulated.headers)}`,
    );
  const [mine, theirs] = [parsed(recorded.body), parsed(simulated.body)];
  if (mine && theirs) differences.push(...shapeDifferences(shapeOf([mine.json]), shapeOf([theirs.json])));
  else if (recorded.body !== simulated.body)
    differences.push(
      `body: recorded ${JSON.stringify(recorded.body)}, simulator ${JSON.stringify(simulated.body)}`,
    );
  return differences;
}

const VARIABLE = "nomad/jobs/idle-monitor/activity/node-a";

function fxJob(id: string, mode: "host" | "bridge"): SimJob {
  return {
    ID: id,
    Meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "1h" },
    TaskGroups: [
      {
        Name: "web",
        Networks: [{ Mode: mode }],
        Tasks: [
          {
            Name: "httpd",
            Driver: "docker",
            Config: { image: "acc-busybox:1", ports: ["http"], command: "/bin/busybox", args: ["httpd"] },
          },
        ],
      },
    ],
  };
}

describe("the simulator answers as the recorded Nomad 1.6.5 did", () => {
  let sim: NomadSimulator;
  let nodeId: string;
  let actionToken: string;
  let nodeReadOnly: string;
  let stream: StreamProbe;
  const streamLines: string[] = [];
  const answers = new Map<string, ProbeResponse>();
  const call = (method: string, path: string, options: ProbeOptions = {}) =>
    send(sim.address, method, path, { token: sim.managementToken, ...options });

  beforeAll(async () => {
    sim = await NomadSimulator.start({ heartbeatIntervalMs: 100, pendingTaskReports: true });
    nodeId = sim.addNode("vm", new RecordingRuntime());
    // The project's policy (nomad/idle-monitor-policy.hcl), and a token that may only read nodes.
    actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
    nodeReadOnly = sim.createToken({ nodeRead: true });
    sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "00000000-0000-0000-0000-5ec7e7000000" });
    stream = await StreamProbe.open(sim.address, "/v1/event/stream?topic=Allocation&topic=Job&namespace=*", {
      token: actionToken,
    });

    const host = await sim.registerJob(fxJob("fx-host", "host"));
    const bridge = await sim.registerJob(fxJob("fx-bridge", "bridge"));
    const read = (file: string, method: string, path: string, options?: ProbeOptions) =>
      call(method, path, options).then((answer) => answers.set(file, answer));

    await read("node-allocations.http", "GET", `/v1/node/${nodeId}/allocations`);
    await read("allocation-host-mode.http", "GET", `/v1/allocation/${host.allocIds[0]}`);
    await read("allocation-bridge-mode.http", "GET", `/v1/allocation/${bridge.allocIds[0]}`);
    await read("job.http", "GET", "/v1/job/fx-host");
    await read("job-allocations.http", "GET", "/v1/job/fx-host/allocations");
    await read("job-scale-status.http", "GET", "/v1/job/fx-host/scale");
    await read("job-scale-post.http", "POST", "/v1/job/fx-host/scale", {
      body: { Count: 0, Target: { Group: "web" }, Message: "idle-monitor: group web idle for 40s" },
    });
    await sim.whenSettled();
    await read("job-scale-status-after.http", "GET", "/v1/job/fx-host/scale");
    await read("job-stop-delete.http", "DELETE", "/v1/job/fx-bridge");
    await sim.whenSettled();
    await read("job-after-stop.http", "GET", "/v1/job/fx-bridge");
    await read("var-read.http", "GET", "/v1/var/nomad/jobs/idle-monitor");
    await read("var-404.http", "GET", "/v1/var/nomad/jobs/nothing-here");
    await read("err-403-no-capability.http", "GET", "/v1/job/fx-host", { token: nodeReadOnly });
    await read("err-403-unknown-token.http", "GET", "/v1/job/fx-host", {
      token: "00000000-0000-0000-0000-5ec7e7000000",
    });
    await read("err-anonymous.http", "GET", "/v1/job/fx-host", { headers: {}, token: undefined });
    await read("err-var-read-by-action-token.http", "GET", "/v1/var/nomad/jobs/idle-monitor", {
      token: actionToken,
    });
    await read("err-stream-no-capability.http", "GET", "/v1/event/stream?topic=Allocation&topic=Job", {
      token: nodeReadOnly,
    });
    await read("job-scale-bad-group.http", "POST", "/v1/job/fx-host/scale", {
      body: { Count: 0, Target: { Group: "nope" }, Message: "idle-monitor: group nope idle" },
    });
    await read("job-stop-again.http", "DELETE", "/v1/job/fx-bridge");
    await sim.whenSettled();
    await read("job-404.http", "GET", "/v1/job/nope");

    const report = (v: number) => ({ Items: { report: JSON.stringify({ v }) } });
    const created = await call("PUT", `/v1/var/${VARIABLE}?cas=0`, { body: report(1) });
    answers.set("var-put-cas-create.http", created);
    await read("var-put-cas-conflict.http", "PUT", `/v1/var/${VARIABLE}?cas=0`, { body: report(2) });
    const { ModifyIndex } = JSON.parse(created.body) as { ModifyIndex: number };
    await read("var-put-cas-update.http", "PUT", `/v1/var/${VARIABLE}?cas=${ModifyIndex}`, {
      body: report(3),
    });
    await read("var-put-too-large.http", "PUT", `/v1/var/${VARIABLE}-big`, {
      body: { Items: { blob: "x".repeat(64 * 1024) } },
    });
    await read("var-put-invalid-path.http", "PUT", "/v1/var/nomad/jobs/my%20job/x", { body: report(1) });
    await read("var-delete-cas-conflict.http", "DELETE", `/v1/var/${VARIABLE}?cas=${ModifyIndex}`);
    await read("var-list-prefix.http", "GET", "/v1/vars?prefix=nomad/jobs/idle-monitor/activity");

    sim.faults.serverOutage();
    await read("server-outage-node-allocations.http", "GET", `/v1/node/${nodeId}/allocations`);
    await read("server-outage-stream-subscribe.http", "GET", "/v1/event/stream?topic=Allocation&topic=Job", {
      token: actionToken,
    });
    sim.faults.clear();
    // The outage ended the stream opened at the start: it holds every event of the scenario.
    await stream.ended();
    for (;;) {
      const line = await stream.nextLine().catch(() => undefined);
      if (line === undefined) break;
      streamLines.push(line);
    }
  });

  afterAll(async () => {
    stream?.close();
    await sim?.close();
  });

  it.each([
    "node-allocations.http",
    "allocation-host-mode.http",
    "allocation-bridge-mode.http",
    "job.http",
    "job-allocations.http",
    "job-scale-status.http",
    "job-scale-post.http",
    "job-scale-status-after.http",
    "job-scale-bad-group.http",
    "job-stop-delete.http",
    "job-after-stop.http",
    "job-stop-again.http",
    "job-404.http",
    "var-read.http",
    "var-404.http",
    "err-403-no-capability.http",
    "err-403-unknown-token.http",
    "err-anonymous.http",
    "err-var-read-by-action-token.http",
    "err-stream-no-capability.http",
    "var-put-cas-create.http",
    "var-put-cas-conflict.http",
    "var-put-cas-update.http",
    "var-put-too-large.http",
    "var-put-invalid-path.http",
    "var-delete-cas-conflict.http",
    "var-list-prefix.http",
    "server-outage-node-allocations.http",
    "server-outage-stream-subscribe.http",
  ])("%s", (file) => {
    const answer = answers.get(file);
    if (!answer) throw new Error(`the scenario sent no request for ${file}`);
    // Joined, so a failure lists every difference (an array diff would be cut short).
    expect(unintended(file, answerDifferences(file, answer)).join("\n")).toBe("");
  });

  it.each(["Allocation", "Job"])("streams %s events of the recorded shape", (topic) => {
    const eventsOf = (lines: string[]) =>
      lines
        .filter((line) => line.startsWith("{") && line !== "{}")
        .flatMap((line) => (JSON.parse(line) as { Events: Array<{ Topic: string }> }).Events)
        .filter((event) => event.Topic === topic);
    const recorded = eventsOf(recorded165.stream("event-stream.ndjson"));
    const simulated = eventsOf(streamLines);
    expect(simulated.length).toBeGreaterThan(0);
    const file = `event-stream.ndjson ${topic}`;
    expect(unintended(file, shapeDifferences(shapeOf(recorded), shapeOf(simulated))).join("\n")).toBe("");
  });

  it("agrees with the recording on the values the monitor relies on", () => {
    const body = (file: string) => JSON.parse(answers.get(file)?.body ?? "null");
    const recorded = (file: string) => JSON.parse(recorded165.http(file).body);
    // Stopping a stopped job is no error: 200 with a new evaluation (job-stop-again.http).
    expect(body("job-stop-again.http").EvalID).toMatch(/^[0-9a-f-]{36}$/);
    expect(body("job-stop-again.http").EvalID).not.toBe(body("job-stop-delete.http").EvalID);
    expect(body("job-after-stop.http")).toMatchObject({
      Stop: true,
      Status: recorded("job-after-stop.http").Status,
    });
    // The scale's message shows among the group's events; a never scaled group has Events null.
    const group = (file: string, json: (f: string) => { TaskGroups: { web: unknown } }) =>
      json(file).TaskGroups.web;
    expect(group("job-scale-status.http", body)).toMatchObject({ Desired: 1, Events: null });
    expect(group("job-scale-status-after.http", body)).toMatchObject({
      Desired: 0,
      Events: [{ Count: 0, PreviousCount: 1, Message: "idle-monitor: group web idle for 40s", Error: false }],
    });
    // A lost check-and-set answers the Variable as it is now.
    expect(body("var-put-cas-conflict.http")).toMatchObject({ Items: { report: '{"v":1}' } });
    expect(body("var-delete-cas-conflict.http")).toMatchObject({
      Items: { report: '{"v":3}' },
      ModifyIndex: body("var-put-cas-update.http").ModifyIndex,
    });
    // Bridge mode has an address on eth0, host mode none.
    expect(body("allocation-bridge-mode.http").NetworkStatus).toMatchObject({
      Address: expect.stringMatching(/^172\.26\./),
      InterfaceName: "eth0",
    });
    expect(body("allocation-host-mode.http").NetworkStatus).toEqual(
      recorded("allocation-host-mode.http").NetworkStatus,
    );
  });

  it("streams heartbeats and batches as the recording does", () => {
    const kinds = (lines: string[]) => new Set(lines.map((line) => (line === "{}" ? "heartbeat" : "batch")));
    expect(kinds(streamLines)).toEqual(kinds(recorded165.stream("event-stream.ndjson")));
  });

  it("needs every intended difference it lists", () => {
    expect(INTENDED_DIFFERENCES.filter((_, index) => !used.has(index))).toEqual([]);
  });
});

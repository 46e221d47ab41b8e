import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Recordings } from "./contract/recordings.js";
import { type EventStep, eventSequences } from "./contract/sequence.js";
import { shapeDifferences, shapeOf } from "./contract/shape.js";
import { type ProbeOptions, type ProbeResponse, StreamProbe, send } from "./sim/http-probe.js";
import { NOMAD_VERSIONS, NomadSimulator, RecordingRuntime, type SimJob } from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

// The simulator against the recordings of real Nomad agents, 1.6.5 and 2.0.5 (test/fixtures/nomad-*),
// each simulator world answering as one version: the same requests, in the recorded order, must get
// answers of the same shape — every field path with its JSON type, null vs empty vs missing — with the
// same status, content type and error body, and the same events in the same sequence for a placement,
// a scale and a stop. What differs on purpose is listed in INTENDED_DIFFERENCES; anything else is
// drift and fails.

/** Differences the simulator keeps on purpose: `<recording>` × `<difference>` → why. */
const INTENDED_DIFFERENCES: Array<{ file: RegExp; difference: RegExp; reason: string }> = [
  {
    file: /./,
    difference: /\.(DynamicPorts|Ports)(\[\])?: (recorded array, simulator null|missing in the simulator)$/,
    reason: "the recorded jobs ask for a dynamic port `http`; the simulator's jobs declare no ports",
  },
  {
    file: /^(allocation-|node-allocations|event-stream\.ndjson Allocation)/,
    difference: /\.Shared\.Networks\[\]\.IP: missing in the simulator$/,
    reason: "Nomad 2.0.5 notes the host address of the allocation's dynamic ports; the simulator's have none",
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
  {
    file: /^job-with-service-check\.http$/,
    difference: /\.Constraints(\[\].*)?: (recorded array, simulator null|missing in the simulator)$/,
    reason: "the monitor's job constrains where it runs; the simulator places without constraints",
  },
];

/**
 * Where an event sequence of the simulator may differ from a recorded one, each with its reason. A
 * recorded sequence must equal the simulator's once the allowed steps are taken out of the latter.
 */
const SEQUENCE_ALLOWANCES: Array<{ step: RegExp; where: "anywhere" | "at the end"; reason: string }> = [
  {
    step: /^Allocation AllocationUpdated run\/pending \(Task Setup\)$/,
    where: "anywhere",
    reason:
      "a client may report the tasks received and set up before they start, or not: recorded for fx-host, not for fx-bridge",
  },
  {
    step: /^Allocation AllocationUpdated stop\/complete/,
    where: "at the end",
    reason:
      "the recording went on (or ended) before the client reported the stopped allocation complete; acc-stopat's stop (2.0.5) shows that last step",
  },
];
const allowancesUsed = new Set<number>();

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

/** The jobs both the scenario and the recordings ran; a 2.0.5 list also holds the acceptance tests' jobs. */
const SHARED_JOBS = new Set(["fx-host", "fx-bridge"]);

/** What of a body is compared: of an allocation list, only the allocations of the shared jobs. */
function comparable(file: string, json: unknown): unknown {
  if (!file.startsWith("node-allocations") || !Array.isArray(json)) return json;
  return json.filter((alloc: { JobID?: string }) => SHARED_JOBS.has(alloc.JobID ?? ""));
}

/** How the simulator's answer differs from the recorded one. */
function answerDifferences(recordings: Recordings, file: string, simulated: ProbeResponse): string[] {
  const recorded = recordings.http(file);
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
  if (mine && theirs) {
    const [recordedJson, simulatedJson] = [comparable(file, mine.json), comparable(file, theirs.json)];
    differences.push(...shapeDifferences(shapeOf([recordedJson]), shapeOf([simulatedJson])));
  } else if (recorded.body !== simulated.body)
    differences.push(
      `body: recorded ${JSON.stringify(recorded.body)}, simulator ${JSON.stringify(simulated.body)}`,
    );
  return differences;
}

/**
 * The recorded sequence against the simulator's, step by step; empty when they agree once the
 * allowed steps are left out of the simulator's.
 */
function sequenceDifferences(recorded: readonly EventStep[], simulated: readonly EventStep[]): string[] {
  const kept = [...simulated];
  for (const [index, allowance] of SEQUENCE_ALLOWANCES.entries()) {
    const allowed = (step: EventStep) => allowance.step.test(step);
    const recordedHas = recorded.some(allowed);
    if (allowance.where === "anywhere" && !recordedHas) {
      for (let i = kept.length - 1; i >= 0; i--) {
        if (allowed(kept[i] ?? "")) {
          kept.splice(i, 1);
          allowancesUsed.add(index);
        }
      }
    }
    if (allowance.where === "at the end" && !recordedHas) {
      while (kept.length > recorded.length && allowed(kept.at(-1) ?? "")) {
        kept.pop();
        allowancesUsed.add(index);
      }
    }
  }
  if (JSON.stringify(kept) === JSON.stringify(recorded)) return [];
  return [`recorded:\n  ${recorded.join("\n  ")}`, `simulator:\n  ${kept.join("\n  ")}`];
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

/** The project's own job as recorded in job-with-service-check.http: a Nomad-native service with an HTTP check. */
const MONITOR_JOB: SimJob = {
  ID: "idle-monitor",
  Type: "system",
  TaskGroups: [
    {
      Name: "monitor",
      Networks: [{ Mode: "" }],
      Update: { MinHealthyTime: 10e9 },
      Services: [
        {
          Name: "idle-monitor",
          Provider: "nomad",
          PortLabel: "http",
          Tags: ["metrics"],
          Checks: [{ Name: "ready", Type: "http", Path: "/readyz", Interval: 10e9, Timeout: 2e9 }],
        },
      ],
      Tasks: [
        {
          Name: "monitor",
          Driver: "docker",
          Env: { CHECK_INTERVAL: "10s", NOMAD_ADDR: "unix:///secrets/api.sock" },
          Config: {
            cap_drop: ["all"],
            image: "nomad-idle-monitor-test/monitor:1",
            mount: [{ type: "bind", source: "/proc", target: "/host/proc", readonly: true }],
            ports: ["http"],
            readonly_rootfs: true,
          },
        },
      ],
    },
  ],
};

/** Every recorded `.http` answer the scenario asks the simulator for, in each version's folder. */
const COMPARED = [
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
  "node-allocations-blocking.http",
  "job-with-service-check.http",
];

/** The scenario's requests and stream, run against a simulator answering as `version`. */
async function runScenario(recordings: Recordings) {
  const { version } = recordings;
  const clock = new FakeClock();
  const sim = await NomadSimulator.start({
    version,
    clock,
    heartbeatIntervalMs: 100,
    pendingTaskReports: true,
  });
  const answers = new Map<string, ProbeResponse>();
  const streamLines: string[] = [];
  const call = (method: string, path: string, options: ProbeOptions = {}) =>
    send(sim.address, method, path, { token: sim.managementToken, ...options });
  const read = (file: string, method: string, path: string, options?: ProbeOptions) =>
    call(method, path, options).then((answer) => answers.set(file, answer));
  // The group's MinHealthyTime (10 s): the recorded allocations were healthy, their jobs stable, before
  // anything else was asked.
  const deploymentsDone = () => clock.advance(10_000);

  const nodeId = sim.addNode("vm", new RecordingRuntime());
  // The project's policy (nomad/idle-monitor-policy.hcl), and a token that may only read nodes.
  const actionToken = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
  const nodeReadOnly = sim.createToken({ nodeRead: true });
  sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "00000000-0000-0000-0000-5ec7e7000000" });
  const stream = await StreamProbe.open(
    sim.address,
    "/v1/event/stream?topic=Allocation&topic=Job&namespace=*",
    {
      token: actionToken,
    },
  );

  await sim.registerJob(MONITOR_JOB);
  const host = await sim.registerJob(fxJob("fx-host", "host"));
  await deploymentsDone();
  const bridge = await sim.registerJob(fxJob("fx-bridge", "bridge"));
  await deploymentsDone();

  await read("node-allocations.http", "GET", `/v1/node/${nodeId}/allocations`);
  await read("allocation-host-mode.http", "GET", `/v1/allocation/${host.allocIds[0]}`);
  await read("allocation-bridge-mode.http", "GET", `/v1/allocation/${bridge.allocIds[0]}`);
  await read("job.http", "GET", "/v1/job/fx-host");
  await read("job-with-service-check.http", "GET", "/v1/job/idle-monitor");
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
  answers.set("err-stream-no-capability.http", await refusedSubscription(sim, nodeReadOnly));
  await read("job-scale-bad-group.http", "POST", "/v1/job/fx-host/scale", {
    body: { Count: 0, Target: { Group: "nope" }, Message: "idle-monitor: group nope idle" },
  });
  await read("job-stop-again.http", "DELETE", "/v1/job/fx-bridge");
  await sim.whenSettled();
  await read("job-404.http", "GET", "/v1/job/nope");
  // Asked of Nomad 2.0.5 once both jobs were stopped: a blocking query with nothing new, the same list.
  const listed = await call("GET", `/v1/node/${nodeId}/allocations`);
  const blocking = `/v1/node/${nodeId}/allocations?index=${listed.headers["x-nomad-index"]}&wait=2s`;
  // The simulator waits on the test's clock: move it until the wait is over, however late the request arrives.
  let waited = false;
  const held = read("node-allocations-blocking.http", "GET", blocking).then(() => {
    waited = true;
  });
  while (!waited) {
    await clock.advance(500);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await held;

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
  const invalidPath =
    /invalid path "(.*)"/.exec(recordings.http("var-put-invalid-path.http").body)?.[1] ?? "";
  await read("var-put-invalid-path.http", "PUT", `/v1/var/${encodeURI(invalidPath)}`, { body: report(1) });
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
  return { sim, answers, streamLines };
}

/** A subscription with a token that lacks the capability: what came within 300 ms (Nomad 2.0.5 sends nothing). */
async function refusedSubscription(sim: NomadSimulator, token: string): Promise<ProbeResponse> {
  const probe = await StreamProbe.open(sim.address, "/v1/event/stream?topic=Allocation&topic=Job", { token });
  const lines = await probe.linesWithin(300);
  probe.close();
  const ending = await probe.ended();
  return { status: probe.status, headers: probe.headers, body: [...lines, ending.trailing].join("\n") };
}

describe.each(NOMAD_VERSIONS)("the simulator answers as the recorded Nomad %s did", (version) => {
  const recordings = new Recordings(version);
  let scenario: Awaited<ReturnType<typeof runScenario>>;

  beforeAll(async () => {
    scenario = await runScenario(recordings);
  });

  afterAll(async () => {
    await scenario?.sim.close();
  });

  const compared = COMPARED.filter((file) => recordings.names(".http").includes(file));
  it("compares every recorded answer of an endpoint it serves", () => {
    // alloc-checks.http and service-info.http: endpoints the simulator does not serve (yet).
    const notServed = recordings.names(".http").filter((file) => !compared.includes(file));
    expect(notServed.filter((file) => !["alloc-checks.http", "service-info.http"].includes(file))).toEqual(
      [],
    );
  });

  it.each(compared)("%s", (file) => {
    const answer = scenario.answers.get(file);
    if (!answer) throw new Error(`the scenario sent no request for ${file}`);
    // Joined, so a failure lists every difference (an array diff would be cut short).
    expect(unintended(file, answerDifferences(recordings, file, answer)).join("\n")).toBe("");
  });

  const eventsOf = (lines: string[], topic: string) =>
    lines
      .filter((line) => line.startsWith("{") && line !== "{}")
      .flatMap(
        (line) =>
          (
            JSON.parse(line) as {
              Events: Array<{ Topic: string; Key: string; Payload: { Allocation?: { JobID: string } } }>;
            }
          ).Events,
      )
      .filter((event) => event.Topic === topic)
      .filter((event) => SHARED_JOBS.has(event.Payload.Allocation?.JobID ?? event.Key));

  it.each(["Allocation", "Job"])("streams %s events of the recorded shape", (topic) => {
    const recorded = eventsOf(recordings.stream("event-stream.ndjson"), topic);
    const simulated = eventsOf(scenario.streamLines, topic);
    expect(simulated.length).toBeGreaterThan(0);
    const file = `event-stream.ndjson ${topic}`;
    expect(unintended(file, shapeDifferences(shapeOf(recorded), shapeOf(simulated))).join("\n")).toBe("");
  });

  // Each job's events, from each write of the job to the next: fx-host placed and scaled to zero, fx-bridge
  // placed, stopped and stopped again (job-stop-again.http).
  it.each([
    { job: "fx-host", operations: ["placement", "scale to zero"] },
    { job: "fx-bridge", operations: ["placement", "stop", "stop again"] },
  ])("streams the events of $job's $operations in the recorded sequence", ({ job, operations }) => {
    const recorded = eventSequences(recordings.stream("event-stream.ndjson"), job);
    const simulated = eventSequences(scenario.streamLines, job);
    expect(recorded).toHaveLength(operations.length);
    expect(simulated).toHaveLength(operations.length);
    for (const [index, operation] of operations.entries()) {
      const differences = sequenceDifferences(recorded[index] ?? [], simulated[index] ?? []);
      expect(differences.join("\n"), `${job}: ${operation}`).toBe("");
    }
  });

  // acc-stopat, stopped by the monitor on Nomad 2.0.5 while the stream was recorded, up to the client's
  // last report: the whole sequence of a stop, which the simulator's fx-bridge stop must match.
  if (version === "2.0.5")
    it("streams a stop's events up to the allocation complete, as acc-stopat's", () => {
      const [, stop] = eventSequences(recordings.stream("event-stream.ndjson"), "acc-stopat");
      const [, simulatedStop] = eventSequences(scenario.streamLines, "fx-bridge");
      expect(stop?.at(-1)).toMatch(/stop\/complete/);
      expect(sequenceDifferences(stop ?? [], simulatedStop ?? []).join("\n")).toBe("");
    });

  it("agrees with the recording on the values the monitor relies on", () => {
    const body = (file: string) => JSON.parse(scenario.answers.get(file)?.body ?? "null");
    const recorded = (file: string) => JSON.parse(recordings.http(file).body);
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
    expect(group("job-scale-status.http", body)).toEqual(group("job-scale-status.http", recorded));
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
    // Healthy exactly MinHealthyTime after the task started, as recorded.
    const healthyAfterMs = (alloc: {
      DeploymentStatus: { Timestamp: string };
      TaskStates: Record<string, { StartedAt: string }>;
    }) =>
      Date.parse(alloc.DeploymentStatus.Timestamp) -
      Math.max(...Object.values(alloc.TaskStates).map((task) => Date.parse(task.StartedAt)));
    expect(healthyAfterMs(body("allocation-host-mode.http"))).toBe(10_000);
    expect(Math.round(healthyAfterMs(recorded("allocation-host-mode.http")) / 100) * 100).toBe(10_000);
  });

  it("streams heartbeats and batches as the recording does", () => {
    const kinds = (lines: string[]) => new Set(lines.map((line) => (line === "{}" ? "heartbeat" : "batch")));
    expect(kinds(scenario.streamLines)).toEqual(kinds(recordings.stream("event-stream.ndjson")));
  });
});

afterAll(() => {
  // Only meaningful when every test ran (not under -t).
  if (used.size === 0) return;
  expect(INTENDED_DIFFERENCES.filter((_, index) => !used.has(index))).toEqual([]);
  expect(SEQUENCE_ALLOWANCES.filter((_, index) => !allowancesUsed.has(index))).toEqual([]);
});

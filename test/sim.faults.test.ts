import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Recordings } from "./contract/recordings.js";
import { jobSpec } from "./sim/fixtures.js";
import { StreamProbe, send } from "./sim/http-probe.js";
import { NomadSimulator } from "./sim/index.js";

let sim: NomadSimulator;
const streams: StreamProbe[] = [];

beforeEach(async () => {
  sim = await NomadSimulator.start({ heartbeatIntervalMs: 20 });
  sim.addNode("node-1");
  await sim.registerJob(jobSpec("web"));
});

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await sim.close();
});

const readJob = () => send(sim.address, "GET", "/v1/job/web", { token: sim.managementToken });

async function subscribe(): Promise<StreamProbe> {
  const stream = await StreamProbe.open(sim.address, "/v1/event/stream?topic=Job", {
    token: sim.managementToken,
  });
  streams.push(stream);
  return stream;
}

describe("failing requests", () => {
  it("answers the next `count` requests with the status and Nomad's plain-text body", async () => {
    sim.faults.failRequests({ status: 500, count: 2 });

    const answers = [await readJob(), await readJob(), await readJob()];

    expect(answers.map((answer) => [answer.status, answer.body.slice(0, 17)])).toEqual([
      [500, "No cluster leader"],
      [500, "No cluster leader"],
      [200, '{"Region":"global'],
    ]);
    expect(answers[0]?.headers["content-type"]).toBe("text/plain; charset=utf-8");
  });

  it("fails only the requests that match, with the body given", async () => {
    sim.faults.failRequests({
      status: 503,
      method: "DELETE",
      path: "/v1/job/",
      body: "rpc error: eval broker disabled",
    });

    const stop = await send(sim.address, "DELETE", "/v1/job/web", { token: sim.managementToken });
    const read = await readJob();

    expect([stop.status, stop.body]).toEqual([503, "rpc error: eval broker disabled"]);
    expect(read.status).toBe(200);
    expect(sim.job("default", "web")?.Stop).toBe(false);
  });

  it("fails stream subscriptions too", async () => {
    sim.faults.failRequests({ status: 500, path: /^\/v1\/event\/stream$/, count: 1 });

    const refused = await send(sim.address, "GET", "/v1/event/stream?topic=Job", {
      token: sim.managementToken,
    });
    const accepted = await subscribe();

    expect(refused.status).toBe(500);
    expect(accepted.status).toBe(200);
  });

  it("lasts `forMs` milliseconds, or until cleared", async () => {
    sim.faults.failRequests({ status: 500, forMs: 500 });
    sim.faults.failRequests({ status: 502, method: "DELETE" });

    const during = await readJob();
    await sleep(600);
    const after = await readJob();
    sim.faults.clear();
    const cleared = await send(sim.address, "DELETE", "/v1/job/web", { token: sim.managementToken });

    expect([during.status, after.status, cleared.status]).toEqual([500, 200, 200]);
  });
});

describe("slow requests", () => {
  it("holds matching answers back while others go through", async () => {
    sim.faults.slowRequests({ delayMs: 1_000, count: 1, path: "/v1/job/web" });
    const finished: string[] = [];

    await Promise.all([
      readJob().then(() => finished.push("slow job read")),
      sleep(20)
        .then(() => send(sim.address, "GET", "/v1/var/none", { token: sim.managementToken }))
        .then(() => finished.push("variable read")),
    ]);

    expect(finished).toEqual(["variable read", "slow job read"]);
  });
});

describe("streams", () => {
  it("cutStreams destroys open streams abruptly; a new subscription works", async () => {
    const stream = await subscribe();
    await stream.nextLine();

    sim.faults.cutStreams();
    const ending = await stream.ended();
    const again = await subscribe();

    expect(ending.error).toBeDefined();
    expect(ending.trailing).toBe("");
    expect(await again.nextLine()).toBe("{}");
  });

  it("stallStreams keeps streams open but silent, heartbeats included", async () => {
    const stream = await subscribe();
    await stream.nextLine();

    sim.faults.stallStreams();
    await stream.linesWithin(30); // whatever was already under way
    await sim.registerJob(jobSpec("api"));
    const fresh = await subscribe();

    expect(await stream.linesWithin(150)).toEqual([]);
    expect(await fresh.nextLine()).toBe("{}");
  });
});

describe("a Nomad server outage, as recorded from Nomad 1.6.5", () => {
  const recorded = new Recordings("1.6.5");
  const nodeAllocations = () =>
    send(sim.address, "GET", `/v1/node/${sim.allocations()[0]?.NodeID}/allocations`, {
      token: sim.managementToken,
    });
  const subscribeOnce = () =>
    send(sim.address, "GET", "/v1/event/stream?topic=Job", { token: sim.managementToken });
  const asRecorded = (answer: { status: number; headers: Record<string, unknown>; body: string }) => ({
    status: answer.status,
    contentType: answer.headers["content-type"],
    cacheControl: answer.headers["cache-control"],
    body: answer.body,
  });

  it("answers every request 500 with the recorded dial error, the stream's labelled application/json", async () => {
    sim.faults.serverOutage();

    const list = await nodeAllocations();
    const refused = await subscribeOnce();

    expect(asRecorded(list)).toEqual(asRecorded(recorded.http("server-outage-node-allocations.http")));
    expect(asRecorded(refused)).toEqual(asRecorded(recorded.http("server-outage-stream-subscribe.http")));
    expect(list.headers["x-nomad-index"]).toBeUndefined();
  });

  it("ends the streams open when it starts with the plain-text last line EOF", async () => {
    const stream = await subscribe();
    await stream.nextLine();

    sim.faults.serverOutage({ forMs: 60_000 });
    const ending = await stream.ended();

    expect(ending.error).toBeUndefined();
    expect(ending.trailing).toBe(recorded.text("server-outage-stream-end.txt").at(-1));
  });

  it("can answer `Server error authenticating request` instead, and leave open streams alone", async () => {
    const stream = await subscribe();
    await stream.nextLine();

    sim.faults.serverOutage({ answer: "authenticating", endStreams: false });
    const [read, refused] = [await readJob(), await subscribeOnce()];

    expect([read.status, read.body, read.headers["content-type"]]).toEqual([
      500,
      "Server error authenticating request",
      "text/plain; charset=utf-8",
    ]);
    expect([refused.status, refused.body, refused.headers["content-type"]]).toEqual([
      500,
      "Server error authenticating request",
      "application/json",
    ]);
    // Still open: a heartbeat comes (after whatever batches were under way); nextLine fails if it ended.
    while ((await stream.nextLine()) !== "{}");
  });

  it("lasts `forMs`; afterwards the same state answers and new subscriptions work", async () => {
    sim.faults.serverOutage({ forMs: 300 });
    const during = await readJob();
    await sleep(400);
    const after = await readJob();
    const stream = await subscribe();

    expect([during.status, after.status, stream.status]).toEqual([500, 200, 200]);
    expect(JSON.parse(after.body)).toMatchObject({ ID: "web", Stop: false });
    expect(await stream.nextLine()).toBe("{}");
  });

  it("gives way to failures asked for explicitly, and ends with clear()", async () => {
    sim.faults.serverOutage();
    sim.faults.failRequests({ status: 503, path: "/v1/job/", count: 1, body: "No cluster leader" });

    const [first, second] = [await readJob(), await readJob()];
    sim.faults.clear();
    const cleared = await readJob();

    expect([first.status, first.body]).toEqual([503, "No cluster leader"]);
    expect([second.status, second.body.startsWith("rpc error: failed to get conn")]).toEqual([500, true]);
    expect(cleared.status).toBe(200);
  });

  it("endStreamsWithEof ends open streams alone; requests keep working", async () => {
    const stream = await subscribe();
    await stream.nextLine();

    sim.faults.endStreamsWithEof();

    expect((await stream.ended()).trailing).toBe("EOF");
    expect((await readJob()).status).toBe(200);
  });
});

describe("the call record", () => {
  it("keeps method, decoded path, query and status, and never the token", async () => {
    const token = sim.createToken({ namespaces: { "*": ["read-job"] } });
    await send(sim.address, "GET", "/v1/var/nomad%2Fjobs%2Fx?namespace=ops", { token });
    await send(sim.address, "DELETE", "/v1/job/web?namespace=default", { token, bearer: true });

    const recorded = sim.calls.map((call) => [call.method, call.path, call.query.toString(), call.status]);

    expect(recorded).toEqual([
      ["GET", "/v1/var/nomad/jobs/x", "namespace=ops", 403],
      ["DELETE", "/v1/job/web", "namespace=default", 403],
    ]);
    expect(
      JSON.stringify(sim.calls.map((call) => ({ ...call, query: call.query.toString() }))),
    ).not.toContain(token);
  });
});

import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { NodeAllocations } from "../src/allocations.js";
import { type Clock, systemClock } from "../src/clock.js";
import { MonitorMetrics } from "../src/metrics.js";
import { NomadHttpApi } from "../src/nomad/api.js";
import { ActionToken } from "../src/nomad/token.js";
import { AllocationWatch, DEFAULT_WATCH_TIMING, type WatchTiming } from "../src/nomad/watch.js";
import type { NomadApi } from "../src/ports.js";
import { waitFor } from "./monitor/harness.js";
import { FakeClock } from "./support/fake-clock.js";

// Stream endings the simulator does not produce on its own, served by a loopback server scripted per
// connection: what the watch must do with the last bytes Nomad sends.
const NODE = "n1";
const allocation = {
  ID: "a1",
  Namespace: "default",
  NodeID: NODE,
  JobID: "dev",
  Job: null,
  TaskGroup: "web",
  DesiredStatus: "run",
  ClientStatus: "running",
  TaskStates: null,
  CreateIndex: 6,
  ModifyIndex: 6,
  AllocModifyIndex: 6,
  CreateTime: 1_700_000_000_000_000_000,
  ModifyTime: 1_700_000_000_000_000_000,
};
const job = { ID: "dev", Namespace: "default", Type: "service", Meta: null, TaskGroups: [], ModifyIndex: 6 };
const batch = JSON.stringify({
  Index: 6,
  Events: [
    {
      Topic: "Allocation",
      Type: "PlanResult",
      Key: "a1",
      Namespace: "default",
      Index: 6,
      Payload: { Allocation: allocation },
    },
  ],
});

const tokenReads = (nomad: FakeNomad) => nomad.requests.filter((path) => path.startsWith("/v1/var/")).length;
const subscriptions = (nomad: FakeNomad) =>
  nomad.requests.filter((path) => path === "/v1/event/stream").length;

type StreamScript = (response: ServerResponse) => void;

const announcing = new WeakSet<StreamScript>();
/** A stream that tells of allocation a1: from then on the node's list holds it too, as Nomad's would. */
function announces(script: StreamScript): StreamScript {
  announcing.add(script);
  return script;
}

interface FakeNomad {
  address: string;
  requests: string[];
  close(): Promise<void>;
}

/** A plain-text failure to answer instead, or undefined to answer normally. */
type Outage = (path: string) => { status: number; body: string; contentType: string } | undefined;

/** Serves the node list, the job, the token Variable, and the stream connections in the given order. */
async function fakeNomad(
  streams: StreamScript[],
  outage: Outage = () => undefined,
  variableDelayMs = 0,
): Promise<FakeNomad> {
  const requests: string[] = [];
  const open = new Set<ServerResponse>();
  let announced = false;
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
    requests.push(path);
    const failure = outage(path);
    if (failure) {
      response.writeHead(failure.status, { "Content-Type": failure.contentType }).end(failure.body);
      return;
    }
    const json = (body: unknown) => {
      response.writeHead(200, { "Content-Type": "application/json", "X-Nomad-Index": "5" });
      response.end(JSON.stringify(body));
    };
    // Like Nomad, the list holds what an earlier stream announced (only the scripted batch does).
    if (path === `/v1/node/${NODE}/allocations`) return json(announced ? [allocation] : []);
    if (path === "/v1/job/dev") return json(job);
    if (path === "/v1/var/nomad/jobs/idle-monitor") {
      setTimeout(() => {
        requests.push("(token answered)");
        json({ Path: path, Items: { token: "secret" } });
      }, variableDelayMs);
      return;
    }
    if (path === "/v1/event/stream") {
      open.add(response);
      const script = streams.shift() ?? ((held: ServerResponse) => held.writeHead(200).write("{}\n"));
      announced ||= announcing.has(script);
      return script(response);
    }
    response.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      for (const response of open) response.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const TIMING = {
  silenceMs: 10_000,
  resyncMs: 60_000,
  openMs: 10_000,
  reconnect: { initialMs: 50, maxMs: 200 },
};

async function startWatch(nomad: FakeNomad, timing: Partial<WatchTiming> = {}, clock: Clock = systemClock) {
  const messages: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => messages.push(JSON.parse(line).msg) });
  const config = { nomadAddr: nomad.address, nomadRegion: undefined, tls: {} as never };
  const api: NomadApi = new NomadHttpApi({ config, token: (): string | undefined => token.current() });
  const token: ActionToken = new ActionToken(
    api,
    {
      nomadToken: "identity",
      namespace: "default",
      tokenVariable: { path: "nomad/jobs/idle-monitor", key: "token" },
      self: { allocId: undefined, jobId: undefined },
    },
    log,
  );
  await token.load();
  const view = new NodeAllocations(NODE);
  const watch = new AllocationWatch({
    nomad: api,
    token,
    view,
    nodeId: NODE,
    clock,
    log,
    timing: { ...TIMING, ...timing },
    metrics: new MonitorMetrics(),
  });
  const stop = new AbortController();
  const running = watch.run(stop.signal);
  return {
    view,
    messages,
    async stop() {
      stop.abort();
      await running;
    },
  };
}

describe("the allocation watch at the end of a stream", () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  it("applies a last batch that ends the body without a newline, and reads its job once", async () => {
    const nomad = await fakeNomad([announces((response) => response.writeHead(200).end(`{}\n${batch}`))]);
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor("the allocation to be known with its job", () => watch.view.live()[0]?.job?.ID === "dev");
    expect(watch.view.live().map((alloc) => alloc.id)).toEqual(["a1"]);
    expect(nomad.requests.filter((path) => path === "/v1/job/dev")).toHaveLength(1);
  });

  it("skips events that are not objects and applies the rest of the batch", async () => {
    const odd = batch.replace('"Events":[', '"Events":[null,5,"text",');
    const nomad = await fakeNomad([announces((response) => response.writeHead(200).end(`{}\n${odd}\n`))]);
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor("the allocation to be known with its job", () => watch.view.live()[0]?.job?.ID === "dev");
    await waitFor("the stream's end", () => watch.messages.some((msg) => /event stream ended/.test(msg)));
    expect(watch.view.live().map((alloc) => alloc.id)).toEqual(["a1"]);
    // The batch held no error: nothing was said but the token's load and the stream's end.
    expect(watch.messages.slice(1)).toEqual([
      "the event stream ended (from index 5); listing the node's allocations again and resubscribing",
    ]);
  });

  it("says once that Nomad closed the stream, and reads the token again before resubscribing", async () => {
    const closeLine = "subscription closed by server, client should resubscribe";
    const nomad = await fakeNomad([(response) => response.writeHead(200).end(`{}\n${closeLine}\n`)]);
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor(
      "a second subscription",
      () => nomad.requests.filter((p) => p === "/v1/event/stream").length >= 2,
    );
    expect(watch.messages.filter((msg) => msg.includes(closeLine))).toEqual([
      `Nomad closed the event stream ("${closeLine}"); reloading the action token and resubscribing`,
    ]);
    await waitFor("the token to be read again", () => tokenReads(nomad) === 2);
  });

  it("treats a 500 Permission denied on subscribe as a token problem", async () => {
    const nomad = await fakeNomad([(response) => response.writeHead(500).end("Permission denied")]);
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor(
      "a second subscription",
      () => nomad.requests.filter((p) => p === "/v1/event/stream").length >= 2,
    );
    expect(watch.messages).toContain(
      "Nomad refused the action token (subscribe to the event stream: HTTP 500 Permission denied); reloading it",
    );
    await waitFor("the token to be read again", () => tokenReads(nomad) === 2);
  });

  it("waits for the token reload that a rejected subscribe triggered before subscribing again", async () => {
    const nomad = await fakeNomad(
      [(response) => response.writeHead(500).end("Permission denied")],
      undefined,
      400,
    );
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor("a second subscription", () => subscriptions(nomad) >= 2, 5_000);
    const secondSubscription = nomad.requests.lastIndexOf("/v1/event/stream");
    const reloaded = nomad.requests.lastIndexOf("(token answered)");
    expect(tokenReads(nomad)).toBe(2);
    expect(reloaded, "the reloaded token was in hand before the second subscription").toBeLessThan(
      secondSubscription,
    );
  });

  it("defect 12: ends the stream at a plain-text EOF (the server went away), says so once as info, and relists without reloading the token", async () => {
    const nomad = await fakeNomad([
      announces((response) => response.writeHead(200).end(`{}\n${batch}\nEOF`)),
    ]);
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor(
      "a second subscription",
      () => nomad.requests.filter((p) => p === "/v1/event/stream").length >= 2,
    );
    expect(watch.view.live().map((alloc) => alloc.id)).toEqual(["a1"]);
    expect(watch.messages.filter((msg) => /not JSON/.test(msg))).toEqual([]);
    expect(watch.messages.filter((msg) => /event stream ended/.test(msg))).toHaveLength(1);
    expect(nomad.requests.filter((p) => p === `/v1/node/${NODE}/allocations`).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(tokenReads(nomad)).toBe(1);
  });

  it("defect 12: reads the 500s of a server outage as Nomad unavailable, never as a bad token", async () => {
    let failing = 4;
    const dialError = "rpc error: failed to get conn: dial tcp 127.0.0.1:4647: connect: connection refused";
    const nomad = await fakeNomad([], (path) => {
      if (failing <= 0) return undefined;
      if (path === `/v1/node/${NODE}/allocations`) {
        failing -= 1;
        const body = failing % 2 === 0 ? dialError : "Server error authenticating request";
        return { status: 500, body, contentType: "text/plain; charset=utf-8" };
      }
      return undefined;
    });
    const watch = await startWatch(nomad);
    cleanup.push(nomad.close, watch.stop);

    await waitFor("a subscription after the outage", () => nomad.requests.includes("/v1/event/stream"));
    expect(tokenReads(nomad)).toBe(1);
    expect(watch.messages.filter((msg) => /refused the action token/.test(msg))).toEqual([]);
    expect(watch.messages.filter((msg) => /cannot reach Nomad/.test(msg))).toHaveLength(1);
  });
});

describe("the allocation watch while a subscription hangs", () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  it("defect 2: gives up on a subscription that never answers, then relists and subscribes again", async () => {
    const nomad = await fakeNomad([() => undefined]);
    const watch = await startWatch(nomad, { openMs: 300 });
    cleanup.push(nomad.close, watch.stop);

    await waitFor(
      "a second subscription",
      () => nomad.requests.filter((p) => p === "/v1/event/stream").length >= 2,
      5_000,
    );
    expect(nomad.requests.filter((p) => p === `/v1/node/${NODE}/allocations`).length).toBeGreaterThanOrEqual(
      2,
    );
  });

  it("defect 2: gives up on a subscription that answers headers but never a first line", async () => {
    const nomad = await fakeNomad([
      (response) => response.writeHead(200, { "Content-Type": "application/json" }).flushHeaders(),
    ]);
    const watch = await startWatch(nomad, { openMs: 300 });
    cleanup.push(nomad.close, watch.stop);

    await waitFor(
      "a second subscription",
      () => nomad.requests.filter((p) => p === "/v1/event/stream").length >= 2,
      5_000,
    );
    expect(watch.messages).toContain("Nomad did not start the event stream within 300ms; reconnecting");
    expect(nomad.requests.filter((p) => p === `/v1/node/${NODE}/allocations`).length).toBeGreaterThanOrEqual(
      2,
    );
  });

  it("defect 2, on fake time: with the default deadline, a hanging subscription is abandoned at 30 s, not before", async () => {
    const nomad = await fakeNomad([() => undefined]);
    const clock = new FakeClock();
    const watch = await startWatch(nomad, DEFAULT_WATCH_TIMING, clock);
    cleanup.push(nomad.close, watch.stop);
    await waitFor("the first subscription", () => subscriptions(nomad) === 1);

    // advance() fires every timer due by then and lets what it started run; a give-up is logged as it
    // happens, and a new subscription waits for a backoff on this clock: nothing is left to wait for.
    await clock.advance(29_000);
    expect(subscriptions(nomad)).toBe(1);
    expect(watch.messages.filter((msg) => /did not start/.test(msg))).toEqual([]);

    await clock.advance(1_000);
    await waitFor("the watch to give up", () => watch.messages.some((msg) => /did not start/.test(msg)));
    expect(watch.messages).toContain("Nomad did not start the event stream within 30s; reconnecting");
    // The reconnect backoff (up to 1 s at first) runs on the same clock.
    await clock.advance(1_000);
    await waitFor("a relist and a second subscription", () => subscriptions(nomad) === 2);
    expect(nomad.requests.filter((p) => p === `/v1/node/${NODE}/allocations`)).toHaveLength(2);
  });
});

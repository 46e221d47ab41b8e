import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { HEADER_EVENT_TYPE, verifyWebhook } from "../src/webhooks/signature.js";
import {
  allSecrets,
  expectNoSecretsInLogs,
  jobStopped,
  type LogLine,
  messages,
  type Scenario,
  scenario,
  serviceJob,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { cluster } from "./monitor/processes.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();
const SECRET = `webhook-secret-${randomUUID()}`;
allSecrets.add(SECRET);

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** How many lines the monitor had logged when the request arrived, and when its connection closed. */
  arrivedAtLine: number;
  closedAtLine?: number;
}

/**
 * A webhook receiver on loopback. `answer` says what its n-th request gets: a status, or "hang" (no
 * answer, ever). `logs` is the monitor's, so that arrivals are placed among its lines.
 */
async function receiver(logs: readonly LogLine[], answer: (index: number) => number | "hang" = () => 200) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const reply = answer(received.length);
      const entry: Received = {
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        arrivedAtLine: logs.length,
      };
      received.push(entry);
      if (reply !== "hang") {
        response.writeHead(reply).end();
        return;
      }
      response.on("close", () => {
        entry.closedAtLine = logs.length;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/nomad`, port, received };
}

/** The setup docs/webhooks.md asks for: the signing secret beside the action token in the monitor's Variable. */
function addWebhookSecret(current: Scenario): void {
  current.sim.putVariable("default", "nomad/jobs/idle-monitor", {
    token: current.actionToken,
    webhook_secret: SECRET,
  });
}

/** The request verifies with the secret, carries no token, and its body is the event. */
function verifiedEvent(request: Received | undefined): Record<string, unknown> {
  if (!request) throw new Error("no request");
  const verified = verifyWebhook(SECRET, request.headers, request.body, Date.now());
  expect(verified).toEqual({ ok: true, eventId: expect.any(String) });
  const body = JSON.parse(request.body) as Record<string, unknown>;
  expect(body.id).toBe(verified.ok && verified.eventId);
  expect(request.headers[HEADER_EVENT_TYPE.toLowerCase()]).toBe(body.type);
  for (const secret of allSecrets) {
    expect(JSON.stringify(request.headers) + request.body, "a secret in the request").not.toContain(secret);
  }
  return body;
}

/** The events a receiver got, in order, each verified. */
const eventsOf = (hook: { received: Received[] }) => hook.received.map(verifiedEvent);
const ofType = (hook: { received: Received[] }, type: string) =>
  hook.received.some((request) => JSON.parse(request.body).type === type);

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.skipIf(!world)("webhooks tell of what the monitor did", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    await world?.close();
  });

  it("sends a signed stopped event for an idle job, which the receiver verifies", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    addWebhookSecret(current);
    const hook = await receiver(logs);
    await sim.registerJob(serviceJob("hook-stop"));
    await sim.whenSettled();
    current.startMonitor({ WEBHOOK_URL: hook.url });

    await waitForLog(logs, /^stopped job hook-stop /);
    await waitFor("the stopped event", () => ofType(hook, "stopped"));
    // Warnings (idle-monitor.warn-before, 10m by default, longer than the timeout) came first.
    const events = eventsOf(hook);
    const stopped = events.at(-1);
    for (const warned of events.slice(0, -1)) {
      expect(warned).toMatchObject({ type: "warned", job: "hook-stop", group: "web" });
    }
    expect(events.length).toBeGreaterThan(1);
    expect(stopped).toEqual({
      id: expect.any(String),
      type: "stopped",
      job: "hook-stop",
      namespace: "default",
      reason: expect.stringMatching(/^group web idle for \d+s, \d+ B seen/),
      node: current.localNode,
      time: expect.stringMatching(RFC3339),
    });
    expect(messages(logs, /webhook/).map((line) => line.msg)).toEqual([
      `webhooks: events to http://127.0.0.1:${hook.port} (format json)`,
    ]);
  });

  it("retries a failing receiver (500, then 200), which gets the event", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    addWebhookSecret(current);
    const hook = await receiver(logs, (index) => (index === 0 ? 500 : 200));
    await sim.registerJob(serviceJob("hook-retry"));
    await sim.whenSettled();
    current.startMonitor({ WEBHOOK_URL: hook.url });

    await waitFor("the stopped event after the retried one", () => ofType(hook, "stopped"));
    const [failed, retried, ...later] = eventsOf(hook);
    expect(retried).toEqual(failed);
    expect(retried).toMatchObject({ job: "hook-retry" });
    expect(later.map((event) => event.type)).toContain("stopped");
    expect(messages(logs, /not delivered/)).toEqual([]);
  });

  it("never delays a stop for a receiver that hangs: the next job is stopped in the cycle it is due", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    addWebhookSecret(current);
    const hook = await receiver(logs, () => "hang");
    // No warnings: the first request the receiver holds is the first job's stop.
    const timeout = (value: string) => ({
      "idle-monitor.enabled": "true",
      "idle-monitor.timeout": value,
      "idle-monitor.warn-before": "0",
    });
    await sim.registerJob(serviceJob("hang-first", { meta: timeout("2s") }));
    await sim.registerJob(serviceJob("hang-next", { meta: timeout("6s") }));
    await sim.whenSettled();
    current.startMonitor({ WEBHOOK_URL: hook.url });

    const [stopped] = await waitForLog(logs, /^stopped job hang-next /);
    const stopLine = logs.indexOf(stopped as LogLine);
    const [hanging] = hook.received;
    expect(JSON.parse(hanging?.body ?? "{}")).toMatchObject({ type: "stopped", job: "hang-first" });
    // The receiver held the first event, unanswered, from before the next stop until after it.
    expect(hanging?.arrivedAtLine).toBeLessThan(stopLine);
    expect(hanging?.closedAtLine ?? Number.POSITIVE_INFINITY).toBeGreaterThan(stopLine);
    // The monitor decides once per cycle: the stop came in the cycle that first found the group idle.
    const decisions = logs
      .map((line, index) => ({ line, index }))
      .filter(({ line }) => /^job hang-next group web: idle: /.test(line.msg));
    expect(decisions[0]?.index).toBeLessThan(stopLine);
    expect(decisions.filter(({ index }) => index < stopLine)).toHaveLength(1);
    expect(jobStopped(sim, "hang-next")).toBe(true);
  });

  it("sends a scaled event, with the group, for scale-to-zero", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    addWebhookSecret(current);
    const hook = await receiver(logs);
    await sim.registerJob(
      serviceJob("hook-scale", {
        meta: { "idle-monitor.enabled": "true", "idle-monitor.action": "scale-to-zero" },
        // Healthy a second after it runs: the scale meets no deployment under way.
        groups: [{ name: "web", update: { MinHealthyTime: 1e9 } }],
      }),
    );
    await sim.whenSettled();
    current.startMonitor({ WEBHOOK_URL: hook.url });

    await waitForLog(logs, /^scaled group web of job hook-scale /);
    await waitFor("the scaled event", () => ofType(hook, "scaled"));
    expect(eventsOf(hook).find((event) => event.type === "scaled")).toEqual({
      id: expect.any(String),
      type: "scaled",
      job: "hook-scale",
      namespace: "default",
      group: "web",
      reason: expect.stringMatching(/^group web idle for /),
      node: current.localNode,
      time: expect.stringMatching(RFC3339),
    });
  });

  it("uses a job's own idle-monitor.webhook only when its host is in WEBHOOK_ALLOWED_HOSTS, and says what to add otherwise", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    addWebhookSecret(current);
    const allowed = await receiver(logs);
    const refused = await receiver(logs);
    const ownHook = (url: string) => ({ "idle-monitor.enabled": "true", "idle-monitor.webhook": url });
    await sim.registerJob(serviceJob("own-allowed", { meta: ownHook(allowed.url) }));
    await sim.registerJob(serviceJob("own-refused", { meta: ownHook(refused.url) }));
    await sim.whenSettled();
    current.startMonitor({ WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${allowed.port}` });

    await waitForLog(logs, /^stopped job own-refused /);
    await waitFor("the allowed job's stopped event", () => ofType(allowed, "stopped"));
    const refusals = messages(logs, /^job own-refused in namespace default: idle-monitor.webhook/);
    // Its warned and stopped events were both refused; said once.
    expect(refusals).toHaveLength(1);
    const [warning] = refusals;
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toBe(
      `job own-refused in namespace default: idle-monitor.webhook names host 127.0.0.1:${refused.port}, which is not allowed (WEBHOOK_ALLOWED_HOSTS is 127.0.0.1:${allowed.port}); it is not used. To allow it, add 127.0.0.1:${refused.port} to WEBHOOK_ALLOWED_HOSTS`,
    );
    expect(jobStopped(sim, "own-refused")).toBe(true);
    // Refused when the event was made: nothing was ever queued for it.
    expect(refused.received).toEqual([]);
    const events = eventsOf(allowed);
    expect(events.every((event) => event.job === "own-allowed")).toBe(true);
    expect(events.map((event) => event.type)).toContain("warned");
  });

  it("lets a monitor process stop at once on SIGTERM while a receiver hangs", async () => {
    const { sim, nodes, actionToken, startMonitor } = await cluster(world!, 1);
    sim.putVariable("default", "nomad/jobs/idle-monitor", { token: actionToken, webhook_secret: SECRET });
    const node = nodes[0] as string;
    const hook = await receiver([], () => "hang");
    await sim.registerJob(serviceJob("hang-shutdown"));
    await sim.whenSettled();
    const monitor = startMonitor(node, { WEBHOOK_URL: hook.url });

    await waitFor("the hanging event", () => hook.received.length > 0);
    await monitor.stop("SIGTERM");
    const said = monitor.logs.map((line) => line.msg);
    expect(said).toContain("stopped");
    expect(said.filter((line) => /still busy/.test(line))).toEqual([]);
  });
});

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as realDelay } from "node:timers/promises";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { WebhookEvent } from "../src/webhooks/body.js";
import { Webhooks, type WebhooksOptions } from "../src/webhooks/sender.js";
import {
  HEADER_EVENT_ID,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  verifyWebhook,
} from "../src/webhooks/signature.js";
import { jobWebhookTarget } from "../src/webhooks/url.js";
import { FakeClock } from "./support/fake-clock.js";

const SECRET = "s3cret-webhook-value";
const TOKEN = "nomad-action-token-never-sent";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the receiver answers to its n-th request: a status, or "hang" (never answers until the end). */
type Answer = number | "hang";

interface Receiver {
  url: string;
  port: number;
  received: Received[];
  hanging: ServerResponse[];
}

const servers: Server[] = [];
const closers: Webhooks[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((webhooks) => webhooks.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function receiver(answers: (index: number) => Answer = () => 200): Promise<Receiver> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const answer = answers(received.length);
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
      if (answer === "hang") hanging.push(response);
      else response.writeHead(answer).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, port, received, hanging };
}

function capturedLog() {
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
  return { log, lines };
}

function webhooks(options: Partial<WebhooksOptions> & { clock: FakeClock }) {
  const { log, lines } = capturedLog();
  const instance = new Webhooks({ secret: () => SECRET, log, random: () => 0, ...options });
  closers.push(instance);
  return { instance, lines };
}

/** Waits, in real time, for what real I/O does. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 3_000) throw new Error(`timed out waiting for ${what}`);
    await realDelay(5);
  }
}

/** Moves fake time on in steps, letting real I/O run between them, until the condition holds. */
async function advanceUntil(clock: FakeClock, condition: () => boolean, what: string): Promise<void> {
  for (let steps = 0; !condition(); steps++) {
    if (steps > 600) throw new Error(`timed out waiting for ${what}`);
    await clock.advance(500);
    await realDelay(5);
  }
}

const event: WebhookEvent = {
  type: "stopped",
  job: "preview-42",
  namespace: "dev",
  group: "web",
  reason: "idle for 15m (no traffic above 500 bytes)",
  node: "node-1",
  time: "2026-12-01T09:00:00Z",
};

const stringHeaders = (headers: IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, String(value)]));

describe("signed delivery", () => {
  it("delivers the event as JSON, signed so that the receiver verifies it", async () => {
    const clock = new FakeClock();
    const target = await receiver();
    const { instance } = webhooks({ clock, url: target.url });

    expect(instance.notify(event)).toEqual({ queued: 1 });
    await until(() => target.received.length === 1, "the event");
    await until(() => instance.stats.delivered === 1, "the delivery to finish");

    const [request] = target.received;
    if (!request) throw new Error("no request");
    expect(JSON.parse(request.body)).toEqual({ id: expect.any(String), ...event });
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["x-idle-monitor-event"]).toBe("stopped");
    expect(request.headers[HEADER_TIMESTAMP.toLowerCase()]).toBe(String(clock.now() / 1000));
    expect(request.headers[HEADER_SIGNATURE.toLowerCase()]).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(request.headers[HEADER_EVENT_ID.toLowerCase()]).toBe(JSON.parse(request.body).id);
    expect(verifyWebhook(SECRET, request.headers, request.body, clock.now())).toEqual({
      ok: true,
      eventId: JSON.parse(request.body).id,
    });
    const everything = JSON.stringify(request);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(TOKEN);
  });

  it("refuses a replayed, tampered or wrongly signed request", async () => {
    const clock = new FakeClock();
    const target = await receiver();
    const { instance } = webhooks({ clock, url: target.url });
    instance.notify(event);
    await until(() => target.received.length === 1, "the event");
    const [request] = target.received;
    if (!request) throw new Error("no request");
    const headers = stringHeaders(request.headers);
    const now = clock.now();

    expect(verifyWebhook(SECRET, headers, request.body, now + 4 * 60_000).ok).toBe(true);
    const replayed = verifyWebhook(SECRET, headers, request.body, now + 6 * 60_000);
    expect(replayed).toEqual({ ok: false, reason: expect.stringContaining("outside the tolerance") });
    const tampered = verifyWebhook(SECRET, headers, request.body.replace("preview-42", "prod"), now);
    expect(tampered).toEqual({ ok: false, reason: expect.stringContaining("does not match") });
    // The same signature with a fresher timestamp: a replay that tries to pass the tolerance.
    const newTime: Record<string, string> = {
      ...headers,
      [HEADER_TIMESTAMP.toLowerCase()]: String(now / 1000 + 60),
    };
    expect(verifyWebhook(SECRET, newTime, request.body, now).ok).toBe(false);
    expect(verifyWebhook("another-secret", headers, request.body, now).ok).toBe(false);
    const unsigned: Record<string, string> = { ...headers };
    delete unsigned[HEADER_SIGNATURE.toLowerCase()];
    expect(verifyWebhook(SECRET, unsigned, request.body, now).ok).toBe(false);
  });

  it("sends nothing unsigned: without a secret, events are not sent and one line says how to add it", async () => {
    const clock = new FakeClock();
    const target = await receiver();
    const { instance, lines } = webhooks({ clock, url: target.url, secret: () => undefined });
    instance.notify(event);
    instance.notify({ ...event, type: "warned" });
    await until(() => instance.stats.unsigned === 2, "both events to be refused");
    expect(target.received).toEqual([]);
    expect(lines.filter((line) => line.includes("webhook_secret"))).toHaveLength(1);
  });

  it("says a missing secret at start (checkSecret), and not again at the first event", async () => {
    const clock = new FakeClock();
    const target = await receiver();
    let secret: string | undefined;
    const { instance, lines } = webhooks({ clock, url: target.url, secret: () => secret });
    expect(instance.checkSecret()).toBe(false);
    expect(lines.filter((line) => line.includes("webhook_secret"))).toHaveLength(1);
    instance.notify(event);
    await until(() => instance.stats.unsigned === 1, "the event to be refused");
    expect(lines.filter((line) => line.includes("webhook_secret"))).toHaveLength(1);
    secret = SECRET;
    expect(instance.checkSecret()).toBe(true);
    expect(lines.join("\n")).not.toContain(SECRET);
  });

  it("formats a Slack-compatible text payload, still signed", async () => {
    const clock = new FakeClock();
    const target = await receiver();
    const { instance } = webhooks({ clock, url: target.url, format: "slack" });
    instance.notify({ ...event, reason: "idle <15m> & quiet" });
    await until(() => target.received.length === 1, "the event");
    const [request] = target.received;
    if (!request) throw new Error("no request");
    expect(JSON.parse(request.body)).toEqual({
      text: "nomad-idle-monitor stopped: job preview-42 group web in namespace dev on node node-1: idle &lt;15m&gt; &amp; quiet (2026-12-01T09:00:00Z)",
    });
    expect(verifyWebhook(SECRET, request.headers, request.body, clock.now()).ok).toBe(true);
  });
});

describe("retries and bounds", () => {
  it("retries a failing receiver (500, then 200) and the event arrives once", async () => {
    const clock = new FakeClock();
    const target = await receiver((index) => (index === 0 ? 500 : 200));
    const { instance } = webhooks({ clock, url: target.url });
    instance.notify(event);
    await until(() => target.received.length === 1, "the first attempt");
    await advanceUntil(clock, () => instance.stats.delivered === 1, "the retry");

    expect(target.received).toHaveLength(2);
    const ids = target.received.map((request) => request.headers[HEADER_EVENT_ID.toLowerCase()]);
    expect(ids[0]).toBe(ids[1]);
    expect(target.received.every((r) => verifyWebhook(SECRET, r.headers, r.body, clock.now()).ok)).toBe(true);
    await clock.advance(5 * 60_000);
    expect(target.received).toHaveLength(2);
  });

  it("does not retry a 400, and logs the status without the secret", async () => {
    const clock = new FakeClock();
    const target = await receiver(() => 400);
    const { instance, lines } = webhooks({ clock, url: target.url });
    instance.notify(event);
    await until(() => instance.stats.failed === 1, "the failure");
    await clock.advance(5 * 60_000);
    expect(target.received).toHaveLength(1);
    expect(lines.join("")).toContain("not delivered to http://127.0.0.1");
    expect(lines.join("")).toContain("after 1 attempt(s): status 400");
    expect(lines.join("")).not.toContain(SECRET);
    expect(lines.join("")).not.toContain("/hook");
  });

  it("gives up after the attempts allowed", async () => {
    const clock = new FakeClock();
    const target = await receiver(() => 503);
    const { instance, lines } = webhooks({ clock, url: target.url, bounds: { attempts: 3 } });
    instance.notify(event);
    await advanceUntil(clock, () => instance.stats.failed === 1, "the give-up");
    expect(target.received).toHaveLength(3);
    expect(lines.join("")).toContain("after 3 attempt(s): status 503");
  });

  it("says what failed from the error code only when nobody listens", async () => {
    const clock = new FakeClock();
    const closed = await receiver();
    const server = servers.pop();
    await new Promise((resolve) => server?.close(resolve));
    const { instance, lines } = webhooks({ clock, url: closed.url, bounds: { attempts: 1 } });
    instance.notify(event);
    await until(() => instance.stats.failed === 1, "the failure");
    const text = lines.join("");
    expect(text).toContain("after 1 attempt(s): network error ECONNREFUSED");
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("x-idle-monitor-signature");
  });

  it("does not follow a redirect, which could lead past the allow-list", async () => {
    const clock = new FakeClock();
    const target = await receiver(() => 302);
    const { instance } = webhooks({ clock, url: target.url });
    instance.notify(event);
    await until(() => instance.stats.failed === 1, "the failure");
    expect(target.received).toHaveLength(1);
  });

  it("never lets a hanging receiver delay notify or another receiver, and cuts it after the timeout", async () => {
    const clock = new FakeClock();
    const hangs = await receiver(() => "hang");
    const main = await receiver();
    const { instance, lines } = webhooks({
      clock,
      url: main.url,
      allowedHosts: [`127.0.0.1:${hangs.port}`],
      bounds: { attempts: 1 },
    });

    // notify() returns what it queued, not a promise to wait on: no request has started yet.
    expect(instance.notify(event, hangs.url)).toEqual({ queued: 2 });
    expect(instance.notify({ ...event, type: "started" }, hangs.url)).toEqual({ queued: 2 });
    expect(hangs.received).toHaveLength(0);

    await until(
      () => main.received.length === 2 && hangs.received.length === 1,
      "both events at the main receiver",
    );
    await until(() => instance.stats.delivered === 2, "both deliveries to finish");
    await clock.advance(10_000);
    await until(() => instance.stats.failed === 1, "the hanging request to be cut");
    expect(lines.join("")).toContain("no answer within 10000 ms");
    // The second event to the hanging receiver goes once the first is given up.
    await until(() => hangs.received.length === 2, "the second event at the hanging receiver");
  });

  it("keeps a bounded queue, dropping the oldest with a warning", async () => {
    const clock = new FakeClock();
    const target = await receiver((index) => (index === 0 ? "hang" : 200));
    const { instance, lines } = webhooks({ clock, url: target.url, bounds: { queueLimit: 3, attempts: 1 } });
    const jobs = ["a", "b", "c", "d", "e", "f"];
    for (const job of jobs) instance.notify({ ...event, job });
    expect(instance.stats.dropped).toBe(2);
    expect(lines.filter((line) => line.includes("dropping the oldest"))).toHaveLength(1);
    expect(lines.join("")).toContain("(stopped of job b)");

    await until(() => target.received.length === 1, "the first event");
    target.hanging[0]?.writeHead(200).end();
    await until(() => target.received.length === 4, "the queued events");
    expect(target.received.map((request) => JSON.parse(request.body).job)).toEqual(["a", "d", "e", "f"]);
  });

  it("stops at close(): no retry once shutdown began, nothing sent after", async () => {
    const clock = new FakeClock();
    const target = await receiver(() => 500);
    const { instance } = webhooks({ clock, url: target.url });
    instance.notify(event);
    await until(() => target.received.length === 1, "the first attempt");
    await realDelay(20);
    await instance.close();
    expect(instance.notify(event)).toEqual({ queued: 0 });
    await clock.advance(10 * 60_000);
    await realDelay(20);
    expect(target.received).toHaveLength(1);
    expect(instance.stats.failed).toBe(0);
  });
});

describe("a job's own webhook", () => {
  it("is used when its host is on the allow-list", async () => {
    const clock = new FakeClock();
    const main = await receiver();
    const own = await receiver();
    const { instance } = webhooks({ clock, url: main.url, allowedHosts: ["127.0.0.1"] });
    expect(instance.notify(event, own.url)).toEqual({ queued: 2 });
    await until(() => main.received.length === 1 && own.received.length === 1, "both deliveries");
  });

  it("is refused, with the reason returned, on a host not on the list", async () => {
    const clock = new FakeClock();
    const main = await receiver();
    const { instance } = webhooks({ clock, url: main.url, allowedHosts: ["hooks.example.com"] });
    const result = instance.notify(event, "http://169.254.169.254/latest/meta-data");
    expect(result).toEqual({
      queued: 1,
      refused:
        "idle-monitor.webhook names host 169.254.169.254, which is not allowed (WEBHOOK_ALLOWED_HOSTS is hooks.example.com); it is not used. To allow it, add 169.254.169.254 to WEBHOOK_ALLOWED_HOSTS",
    });
  });

  it.each<[string, string, readonly string[], boolean]>([
    ["host entry, any port", "https://hooks.example.com:8443/x", ["hooks.example.com"], true],
    ["host:port entry, same port", "http://hooks.example.com:8080/x", ["hooks.example.com:8080"], true],
    ["host:port entry, default port", "https://hooks.example.com/x", ["hooks.example.com:443"], true],
    ["host:port entry, other port", "http://hooks.example.com:9090/x", ["hooks.example.com:8080"], false],
    ["case of the host", "https://HOOKS.example.com/x", ["hooks.example.com"], true],
    ["a subdomain is another host", "https://evil.hooks.example.com/x", ["hooks.example.com"], false],
    ["a suffix is another host", "https://hooks.example.com.evil.net/x", ["hooks.example.com"], false],
    ["no list", "https://hooks.example.com/x", [], false],
    ["not a URL", "hooks.example.com/x", ["hooks.example.com"], false],
    ["another scheme", "file:///etc/passwd", ["hooks.example.com"], false],
  ])("%s", (_name, raw, allowed, ok) => {
    expect(jobWebhookTarget(raw, allowed).ok).toBe(ok);
  });
});

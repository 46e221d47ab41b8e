import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { MonitorEvent } from "../src/model/events.js";
import { WebhookNotifier } from "../src/notifier.js";
import type { WebhookEvent } from "../src/webhooks/body.js";
import { Webhooks } from "../src/webhooks/sender.js";
import { FakeClock } from "./support/fake-clock.js";

const AT = Date.UTC(2026, 11, 1, 9, 30, 15, 250);
const event: MonitorEvent = {
  type: "stopped",
  namespace: "dev",
  job: "dev-alice",
  reason: "group web idle for 30m",
  node: "node-1",
  at: AT,
};

function capturedLog() {
  const lines: Array<{ level: number; msg: string; job?: string }> = [];
  const log = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

const opened: Webhooks[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((webhooks) => webhooks.close()));
});

describe("the webhook notifier", () => {
  it("hands the event to the webhooks with its time in RFC 3339, and the job's own URL", () => {
    const { log } = capturedLog();
    const calls: Array<[WebhookEvent, string | undefined]> = [];
    const notifier = new WebhookNotifier(
      {
        notify: (webhookEvent, jobWebhook) => {
          calls.push([webhookEvent, jobWebhook]);
          return { queued: 1 };
        },
      },
      log,
    );
    notifier.notify({ ...event, type: "scaled", group: "web" }, "https://hooks.example.com/own");
    expect(calls).toEqual([
      [
        {
          type: "scaled",
          namespace: "dev",
          job: "dev-alice",
          group: "web",
          reason: "group web idle for 30m",
          node: "node-1",
          time: "2026-12-01T09:30:15.250Z",
        },
        "https://hooks.example.com/own",
      ],
    ]);
  });

  it("says once per job and URL that a job's webhook is refused, and what to add to WEBHOOK_ALLOWED_HOSTS", () => {
    const { log, lines } = capturedLog();
    const webhooks = new Webhooks({
      allowedHosts: ["hooks.example.com"],
      secret: () => "secret",
      log,
      clock: new FakeClock(),
    });
    opened.push(webhooks);
    const notifier = new WebhookNotifier(webhooks, log);
    const refused = "https://other.example.net:8443/T000/B000/XXXXXXXX";
    notifier.notify(event, refused);
    notifier.notify({ ...event, type: "failed" }, refused);
    notifier.notify({ ...event, job: "dev-bob" }, refused);
    notifier.notify(event, "https://other.example.net:9443/elsewhere");

    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual([
      "job dev-alice in namespace dev: idle-monitor.webhook names host other.example.net:8443, which is not allowed (WEBHOOK_ALLOWED_HOSTS is hooks.example.com); it is not used. To allow it, add other.example.net:8443 to WEBHOOK_ALLOWED_HOSTS",
      expect.stringMatching(/^job dev-bob in namespace dev: .*add other\.example\.net:8443 to/),
      expect.stringMatching(/^job dev-alice in namespace dev: .*add other\.example\.net:9443 to/),
    ]);
    expect(warnings[0]?.job).toBe("dev-alice");
    // A URL's path can be a credential (Slack's are): only the host is said.
    expect(JSON.stringify(lines)).not.toContain("XXXXXXXX");
  });

  it("never throws: what the webhooks could not take is logged", () => {
    const { log, lines } = capturedLog();
    const notifier = new WebhookNotifier(
      {
        notify: () => {
          throw new Error("queue broken");
        },
      },
      log,
    );
    expect(() => notifier.notify(event, undefined)).not.toThrow();
    expect(() => notifier.notify({ ...event, at: Number.NaN }, undefined)).not.toThrow();
    expect(lines.map((line) => line.msg)).toEqual([
      "webhooks: the stopped event of job dev-alice was not queued: queue broken",
      "webhooks: the stopped event of job dev-alice was not queued: Invalid time value",
    ]);
  });
});

import type { WebhookFormat } from "../config.js";

// What an event says on the wire: the same event, as JSON for programs or as text for a chat.

export type WebhookEventType = "warned" | "stopped" | "scaled" | "started" | "failed";

export interface WebhookEvent {
  readonly type: WebhookEventType;
  readonly job: string;
  readonly namespace: string;
  readonly group?: string | undefined;
  readonly reason: string;
  /** The node of the monitor that acted. */
  readonly node: string;
  /** RFC 3339; the clock's time when omitted. */
  readonly time?: string | undefined;
}

const SLACK_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
const slackEscape = (text: string) => text.replace(/[&<>]/g, (char) => SLACK_ESCAPES[char] ?? char);

/** The body sent: the event as JSON with its ID, or a Slack-compatible `{ "text": … }`. */
export function webhookBody(
  format: WebhookFormat,
  id: string,
  event: WebhookEvent & { time: string },
): string {
  if (format === "json") {
    const { type, job, namespace, group, reason, node, time } = event;
    return JSON.stringify({
      id,
      type,
      job,
      namespace,
      ...(group === undefined ? {} : { group }),
      reason,
      node,
      time,
    });
  }
  const where = event.group === undefined ? "" : ` group ${event.group}`;
  const text = `nomad-idle-monitor ${event.type}: job ${event.job}${where} in namespace ${event.namespace} on node ${event.node}: ${event.reason} (${event.time})`;
  return JSON.stringify({ text: slackEscape(text) });
}

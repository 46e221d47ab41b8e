import type { Logger } from "pino";
import type { MonitorEvent } from "./model/events.js";
import type { Notifier } from "./ports.js";
import type { Webhooks } from "./webhooks/sender.js";

/**
 * The monitor's Notifier over the webhooks. A job's own `idle-monitor.webhook` that the allow-list
 * refuses is said once per job and URL (the job's owner learns nothing else of it; the operator needs
 * to know what to allow), not at every event.
 */
export class WebhookNotifier implements Notifier {
  private readonly refused = new Set<string>();

  constructor(
    private readonly webhooks: Pick<Webhooks, "notify">,
    private readonly log: Logger,
  ) {}

  notify(event: MonitorEvent, jobWebhook: string | undefined): void {
    const { type, namespace, job, group, reason, node, at } = event;
    try {
      const time = new Date(at).toISOString();
      const result = this.webhooks.notify({ type, namespace, job, group, reason, node, time }, jobWebhook);
      if (result.refused === undefined) return;
      const key = JSON.stringify([namespace, job, jobWebhook]);
      if (this.refused.has(key)) return;
      this.refused.add(key);
      this.log.warn({ job, namespace }, `job ${job} in namespace ${namespace}: ${result.refused}`);
    } catch (error) {
      // A notification is never worth failing an action or a cycle for.
      this.log.warn(`webhooks: the ${type} event of job ${job} was not queued: ${(error as Error).message}`);
    }
  }
}

import { DURATION_FORM, formatDuration, parseDuration } from "./duration.js";
import type { JobMeta, MetaProblem } from "./model/meta.js";
import type { Schedule } from "./schedule.js";
import { readScheduleMeta, SCHEDULE_KEYS } from "./schedule-meta.js";
import { SIGNAL_KEYS, type SignalSettings, signalSettings } from "./signals/meta.js";
import { webhookUrl } from "./webhooks/url.js";

export type Action = "stop" | "scale-to-zero";

export interface GroupPolicy {
  timeoutMs: number;
  thresholdBytes: number;
  action: Action;
  /** keep-alive windows, stop-at/start-at firings, exclude-until and warn-before (schedule.ts). */
  schedule: Schedule;
  /** The job's own `idle-monitor.webhook` URL (used only for hosts in WEBHOOK_ALLOWED_HOSTS). */
  webhook: string | undefined;
  /** The activity signals beyond bytes: CPU gate, open connections, health-check budget (signals/meta.ts). */
  signals: SignalSettings;
}

export interface PolicyDefaults {
  timeoutMs: number;
  thresholdBytes: number;
  checkIntervalMs: number;
  /** The zone of schedules that name none: the monitor's TZ, else UTC. */
  timezone: string;
}

export type GroupPolicyResult =
  | { kind: "not-opted-in" }
  | { kind: "opted-in"; policy: GroupPolicy }
  | { kind: "invalid"; problems: MetaProblem[] };

const PREFIX = "idle-monitor.";
const ENABLED = "idle-monitor.enabled";
const TIMEOUT = "idle-monitor.timeout";
const THRESHOLD = "idle-monitor.threshold";
const ACTION = "idle-monitor.action";
const WEBHOOK = "idle-monitor.webhook";

const ENABLED_FORM = '"true" or "false"';
const THRESHOLD_FORM = 'a whole number of bytes (Rx+Tx per check interval), digits only, e.g. "500"';
const ACTION_FORM = '"stop" or "scale-to-zero"';
const WEBHOOK_FORM = "an http:// or https:// URL whose host is in the monitor's WEBHOOK_ALLOWED_HOSTS";
const KNOWN_KEYS = [ENABLED, TIMEOUT, THRESHOLD, ACTION, WEBHOOK, ...SCHEDULE_KEYS, ...SIGNAL_KEYS];
const KEY_FORM = `one of the keys ${KNOWN_KEYS.join(", ")}`;
const NOT_OPTED_IN: GroupPolicyResult = { kind: "not-opted-in" };

/**
 * The policy of one task group from job and group meta (design.md "Meta keys"): group wins over job
 * per key. Every `idle-monitor.*` entry of both scopes must be valid before an opted-in group is
 * acted on — a job-level value that the group overrides included — so a mistake is always reported
 * and nothing is acted on while the operator's intent is in doubt.
 */
export function groupPolicy(job: JobMeta, group: string, defaults: PolicyDefaults): GroupPolicyResult {
  const jobMeta = job.Meta ?? {};
  const groupMeta = job.TaskGroups?.find((taskGroup) => taskGroup.Name === group)?.Meta ?? {};
  const enabled = groupMeta[ENABLED] ?? jobMeta[ENABLED];
  // Any other value falls through: the operator meant something, so it is reported as invalid.
  if (enabled === undefined || enabled === "false") return NOT_OPTED_IN;

  const jobSettings = readScope("job", jobMeta, defaults.checkIntervalMs);
  const groupSettings = readScope("group", groupMeta, defaults.checkIntervalMs);
  const schedule = readScheduleMeta(jobMeta, groupMeta, { timezone: defaults.timezone });
  const signals = signalSettings(job, group);
  const problems = [
    ...jobSettings.problems,
    ...groupSettings.problems,
    ...(schedule.kind === "invalid" ? schedule.problems : []),
    ...signals.problems,
  ];
  if (problems.length > 0 || schedule.kind === "invalid") return { kind: "invalid", problems };
  return {
    kind: "opted-in",
    policy: {
      timeoutMs: groupSettings.timeoutMs ?? jobSettings.timeoutMs ?? defaults.timeoutMs,
      thresholdBytes: groupSettings.thresholdBytes ?? jobSettings.thresholdBytes ?? defaults.thresholdBytes,
      action: groupSettings.action ?? jobSettings.action ?? "stop",
      webhook: groupSettings.webhook ?? jobSettings.webhook,
      schedule: schedule.schedule,
      signals: signals.settings,
    },
  };
}

/** `idle-monitor.*` keys set on tasks, which the monitor ignores (it acts on groups, not tasks). */
export function ignoredTaskKeys(job: JobMeta): Array<{ group: string; task: string; key: string }> {
  const ignored: Array<{ group: string; task: string; key: string }> = [];
  for (const group of job.TaskGroups ?? []) {
    for (const task of group.Tasks ?? []) {
      for (const key of Object.keys(task.Meta ?? {}).filter(isMonitorKey)) {
        ignored.push({ group: group.Name, task: task.Name, key });
      }
    }
  }
  return ignored;
}

interface ScopeSettings {
  timeoutMs?: number;
  thresholdBytes?: number;
  action?: Action;
  webhook?: string;
  problems: MetaProblem[];
}

function readScope(
  scope: MetaProblem["scope"],
  meta: Record<string, string>,
  checkIntervalMs: number,
): ScopeSettings {
  const settings: ScopeSettings = { problems: [] };
  const problem = (key: string, value: string, expected: string) =>
    settings.problems.push({ scope, key, value, expected });
  for (const [key, value] of Object.entries(meta)) {
    if (!isMonitorKey(key)) continue;
    switch (key) {
      case ENABLED:
        if (value !== "true" && value !== "false") problem(key, value, ENABLED_FORM);
        break;
      case TIMEOUT: {
        const timeoutMs = parseDuration(value);
        if (timeoutMs === undefined || timeoutMs <= 0 || timeoutMs < checkIntervalMs) {
          const interval = formatDuration(checkIntervalMs);
          problem(key, value, `${DURATION_FORM}, at least the check interval (${interval})`);
        } else settings.timeoutMs = timeoutMs;
        break;
      }
      case THRESHOLD: {
        const thresholdBytes = Number(value);
        if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(thresholdBytes))
          problem(key, value, THRESHOLD_FORM);
        else settings.thresholdBytes = thresholdBytes;
        break;
      }
      case ACTION:
        if (value !== "stop" && value !== "scale-to-zero") problem(key, value, ACTION_FORM);
        else settings.action = value;
        break;
      case WEBHOOK:
        if (webhookUrl(value.trim()) === undefined) problem(key, value, WEBHOOK_FORM);
        else settings.webhook = value.trim();
        break;
      default:
        // The schedule and signal keys are validated by their own modules.
        if (!KNOWN_KEYS.includes(key)) problem(key, value, KEY_FORM);
    }
  }
  return settings;
}

/** Case-insensitive, so that `Idle-Monitor.Timeout` is reported as a typo rather than silently ignored. */
function isMonitorKey(key: string): boolean {
  return key.toLowerCase().startsWith(PREFIX);
}

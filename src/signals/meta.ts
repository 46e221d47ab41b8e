import type { JobMeta, MetaProblem } from "../model/meta.js";
import type { ConnectionsSetting } from "../model/readings.js";

// The meta keys of the extra activity signals (issue 12), read like the keys of policy.ts: group meta wins
// over job meta per key, every entry of both scopes must be valid, and a bad one is a MetaProblem.

/**
 * `idle-monitor.cpu`: the CPU gate, percent of one core averaged over the check interval (`"5%"`, `"50%"`,
 * `"150%"` for one and a half cores), or `"off"`. An allocation whose containers together use more is active.
 *
 * Default: off. CPU is read through the host's /sys/fs/cgroup mounted into the monitor, which deployments
 * made before this key do not have: on by default, every allocation of every such deployment would turn
 * unknown (never stopped) or the gate would be silently skipped. And there is no value right for every job:
 * an idle JVM, a language server or a file watcher sits at 1–5% of a core, so a low default keeps idle dev
 * containers alive forever, and a high one misses the single-threaded work it is meant to protect. The jobs
 * that work without talking (builds, imports, training) are known to their operators, who opt in per job;
 * docs/activity-signals.md suggests `"10%"`.
 */
export const CPU_KEY = "idle-monitor.cpu";

/**
 * `idle-monitor.connections`: `"true"` (an ESTABLISHED connection from outside the allocation to any port
 * it listens on is activity), `"false"`, or a comma-separated list of ports (`"22,8080"`: only those).
 *
 * Default: off. Many jobs hold connections nobody is behind: a database's or cache's client pool, a service
 * mesh's sidecar keeping upstream connections warm, a Prometheus scraper with keep-alive, a load balancer's
 * persistent health connection. With the signal on by default, all of them would never be stopped. SSH or
 * WebSocket dev environments, where an open session is a person, opt in — best with the port list.
 */
export const CONNECTIONS_KEY = "idle-monitor.connections";

/**
 * `idle-monitor.ignore-checks`: `"true"` or `"false"`: subtract the cost of the job's own Nomad service
 * checks from each interval's bytes before the threshold applies (check-budget.ts).
 *
 * Default: on. The budget only ever subtracts what the job's declared checks were measured to cost in the
 * allocation's own quiet intervals (nothing until enough have been seen, nothing for a job without
 * checks), so an idle job with health checks is stopped without anyone tuning its threshold, while a user
 * whose traffic exceeds that cost plus the threshold still keeps it (issue 12).
 */
export const IGNORE_CHECKS_KEY = "idle-monitor.ignore-checks";

/** The keys this module reads, for policy.ts's list of known keys. */
export const SIGNAL_KEYS = [CPU_KEY, CONNECTIONS_KEY, IGNORE_CHECKS_KEY] as const;

export const CPU_FORM = 'a percentage of one core, a number followed by "%" (e.g. "5%", "150%"), or "off"';
export const CONNECTIONS_FORM = '"true", "false" or a comma-separated list of ports 1-65535 (e.g. "22,8080")';
export const IGNORE_CHECKS_FORM = '"true" or "false"';

export interface SignalSettings {
  /** The CPU gate in percent of one core; undefined when off. */
  cpuPercent: number | undefined;
  connections: ConnectionsSetting;
  ignoreChecks: boolean;
}

export const DEFAULT_SIGNAL_SETTINGS: SignalSettings = {
  cpuPercent: undefined,
  connections: { kind: "off" },
  ignoreChecks: true,
};

/** Percent of one core beyond which a value is surely a typo: 1,024 cores. */
const MAX_CPU_PERCENT = 102_400;

/** `"5%"`, `"0.5%"`, `"150%"` → the number; `"off"` → null; anything else → undefined. 0% is refused: use off. */
export function parseCpuGate(value: string): number | null | undefined {
  if (value === "off") return null;
  const match = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(value);
  if (match === null) return undefined;
  const percent = Number(match[1]);
  return percent > 0 && percent <= MAX_CPU_PERCENT ? percent : undefined;
}

/** `"true"`, `"false"` or `"22, 8080"` (spaces around commas allowed; duplicates removed; sorted). */
export function parseConnections(value: string): ConnectionsSetting | undefined {
  if (value === "true") return { kind: "any-port" };
  if (value === "false") return { kind: "off" };
  const parts = value.split(",").map((part) => part.trim());
  if (!parts.every((part) => /^[0-9]{1,5}$/.test(part))) return undefined;
  const ports = parts.map(Number);
  if (!ports.every((port) => port >= 1 && port <= 65_535)) return undefined;
  return { kind: "ports", ports: [...new Set(ports)].sort((a, b) => a - b) };
}

interface ScopeSignals {
  cpuPercent?: number | null;
  connections?: ConnectionsSetting;
  ignoreChecks?: boolean;
  problems: MetaProblem[];
}

/**
 * The signal settings of one task group: group meta over job meta per key, defaults for what neither sets.
 * Only this module's keys are looked at (policy.ts reports the others); with problems, `settings` is the
 * defaults and must not be acted on.
 */
export function signalSettings(
  job: JobMeta,
  group: string,
): { settings: SignalSettings; problems: MetaProblem[] } {
  const jobScope = readScope("job", job.Meta ?? {});
  const groupMeta = job.TaskGroups?.find((taskGroup) => taskGroup.Name === group)?.Meta ?? {};
  const groupScope = readScope("group", groupMeta);
  const problems = [...jobScope.problems, ...groupScope.problems];
  if (problems.length > 0) return { settings: DEFAULT_SIGNAL_SETTINGS, problems };
  const cpu = groupScope.cpuPercent !== undefined ? groupScope.cpuPercent : jobScope.cpuPercent;
  return {
    settings: {
      cpuPercent: cpu === null || cpu === undefined ? DEFAULT_SIGNAL_SETTINGS.cpuPercent : cpu,
      connections: groupScope.connections ?? jobScope.connections ?? DEFAULT_SIGNAL_SETTINGS.connections,
      ignoreChecks: groupScope.ignoreChecks ?? jobScope.ignoreChecks ?? DEFAULT_SIGNAL_SETTINGS.ignoreChecks,
    },
    problems: [],
  };
}

function readScope(scope: MetaProblem["scope"], meta: Record<string, string>): ScopeSignals {
  const settings: ScopeSignals = { problems: [] };
  const problem = (key: string, value: string, expected: string) =>
    settings.problems.push({ scope, key, value, expected });
  for (const [key, value] of Object.entries(meta)) {
    switch (key) {
      case CPU_KEY: {
        const cpuPercent = parseCpuGate(value);
        if (cpuPercent === undefined) problem(key, value, CPU_FORM);
        else settings.cpuPercent = cpuPercent;
        break;
      }
      case CONNECTIONS_KEY: {
        const connections = parseConnections(value);
        if (connections === undefined) problem(key, value, CONNECTIONS_FORM);
        else settings.connections = connections;
        break;
      }
      case IGNORE_CHECKS_KEY:
        if (value !== "true" && value !== "false") problem(key, value, IGNORE_CHECKS_FORM);
        else settings.ignoreChecks = value === "true";
        break;
    }
  }
  return settings;
}

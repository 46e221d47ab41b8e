import { existsSync } from "node:fs";
import { listenAddress, usableAddress } from "./addresses.js";
import { DURATION_FORM, parseDuration } from "./duration.js";
import { monitorTimezone } from "./schedule.js";
import { allowedHostEntry, webhookUrl } from "./webhooks/url.js";

export type LogFormat = "text" | "json";
export type WebhookFormat = "json" | "slack";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface Config {
  /** `http(s)://host:port` or `unix:///path/to/api.sock` (the task API socket). */
  readonly nomadAddr: string;
  readonly nomadToken: string | undefined;
  readonly nomadRegion: string | undefined;
  readonly tls: {
    readonly caCert: string | undefined;
    readonly clientCert: string | undefined;
    readonly clientKey: string | undefined;
    readonly serverName: string | undefined;
  };
  /** Set when the monitor runs as a Nomad task. */
  readonly self: { readonly allocId: string | undefined; readonly jobId: string | undefined };
  readonly nodeId: string | undefined;
  /** The monitor's own namespace, where the token Variable lives. */
  readonly namespace: string;
  readonly tokenVariable: { readonly path: string; readonly key: string };
  /** Namespaces the monitor may act in; `"*"` means all. */
  readonly namespaces: readonly string[] | "*";
  readonly idleTimeoutMs: number;
  readonly checkIntervalMs: number;
  readonly activityThresholdBytes: number;
  readonly dryRun: boolean;
  readonly actionCooldownMs: number;
  /** How long a wake record is kept (WAKE_RECORD_RETENTION) before start-at's lease holder drops it. */
  readonly wakeRecordRetentionMs: number;
  readonly dockerHost: string;
  /** Where /metrics, /healthz, /readyz and /v1/status are served; undefined when HTTP_LISTEN=off. */
  readonly httpListen: { readonly host: string; readonly port: number } | undefined;
  readonly procRoot: string;
  /** Where the host's /sys/fs/cgroup is mounted: containers' CPU time (`idle-monitor.cpu`). */
  readonly cgroupRoot: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** The zone of schedules that name none (`idle-monitor.timezone`): TZ when it is an IANA zone, else UTC. */
  readonly timezone: string;
  /** Events about what the monitor did (issue 11). */
  readonly webhook: {
    /** WEBHOOK_URL: every event goes there; undefined when unset. */
    readonly url: string | undefined;
    /** WEBHOOK_ALLOWED_HOSTS: hosts (`host` or `host:port`) a job's `idle-monitor.webhook` may name. */
    readonly allowedHosts: readonly string[];
    readonly format: WebhookFormat;
  };
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** `warnings` are for settings that still start the monitor but no longer do what they did (the seed's). */
export type ConfigResult = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[] };

const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];
const WEBHOOK_FORMATS: readonly WebhookFormat[] = ["json", "slack"];
const MIN_CHECK_INTERVAL_MS = 100;
// Node's timers wait at most 2^31-1 ms (about 596h); a longer sleep would fire at once, every cycle.
const MAX_CHECK_INTERVAL_MS = 2 ** 31 - 1;
// Nomad Variable paths: nomad-api-notes.md "Variables".
const VARIABLE_PATH = /^[a-zA-Z0-9\-_~/]{1,128}$/;
const NAMESPACE_NAME = /^[a-zA-Z0-9-]{1,128}$/;
// The seed's /etc/default/nomad-idle-monitor gave IDLE_TIMEOUT, CHECK_INTERVAL and ACTION_COOLDOWN in
// seconds: in these variables (never in meta) a bare whole number still means seconds.
const SECONDS = /^\d+$/;
const SETTING_DURATION_FORM = `${DURATION_FORM}, or a whole number of seconds such as "3600"`;

/**
 * Reads the whole configuration from the environment once. Every bad value is reported, each naming the
 * variable, the value and what would be valid, so an operator fixes them all in one go. Settings the seed
 * used that no longer apply are warnings, not errors.
 */
export function parseConfig(
  env: Environment,
  pathExists: (path: string) => boolean = existsSync,
): ConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === "" ? undefined : value;
  };
  const invalid = (name: string, value: string, valid: string): undefined => {
    errors.push(`${name}=${JSON.stringify(value)} is not valid: expected ${valid}`);
    return undefined;
  };
  const duration = (
    name: string,
    fallback: string,
    min: { ms: number; text: string },
    max?: { ms: number; text: string },
  ): number => {
    const raw = text(name) ?? fallback;
    // Bare seconds go through the same parser, so Go's limits hold for them too.
    const ms = parseDuration(SECONDS.test(raw) ? `${raw}s` : raw);
    if (ms === undefined) return invalid(name, raw, SETTING_DURATION_FORM) ?? Number.NaN;
    if (ms < min.ms || (max && ms > max.ms)) {
      const most = max ? ` and at most ${max.text}` : "";
      return invalid(name, raw, `a duration of at least ${min.text}${most}`) ?? Number.NaN;
    }
    return ms;
  };
  const address = (name: string, raw: string, schemes: readonly string[], form: string): void => {
    if (!usableAddress(raw, schemes)) invalid(name, raw, form);
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = text(name)?.toLowerCase() ?? fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    invalid(name, raw, `one of ${allowed.join(", ")}`);
    return fallback;
  };

  const addrName = text("NOMAD_ADDR") !== undefined ? "NOMAD_ADDR" : "NOMAD_ENDPOINT";
  const nomadAddr = text(addrName) ?? "http://127.0.0.1:4646";
  address(
    addrName,
    nomadAddr,
    ["http:", "https:", "unix:"],
    "http(s)://host:port or unix:///path/to/api.sock",
  );

  const allocId = text("NOMAD_ALLOC_ID");
  const nodeId = text("NOMAD_NODE_ID");
  if (nodeId === undefined && allocId === undefined) {
    errors.push(
      "NOMAD_NODE_ID is not set: outside Nomad the monitor needs the ID of the node to watch (`nomad node status -self -verbose` shows it)",
    );
  }

  const namespace = text("NOMAD_NAMESPACE") ?? "default";
  if (!NAMESPACE_NAME.test(namespace)) invalid("NOMAD_NAMESPACE", namespace, "a Nomad namespace name");

  const tokenPath = text("TOKEN_VARIABLE") ?? "nomad/jobs/idle-monitor";
  if (!VARIABLE_PATH.test(tokenPath)) {
    invalid(
      "TOKEN_VARIABLE",
      tokenPath,
      "a Nomad Variable path of up to 128 characters from a-z A-Z 0-9 - _ ~ /",
    );
  }
  const tokenKey = text("TOKEN_VARIABLE_KEY") ?? "token";

  const namespacesRaw = text("NAMESPACES") ?? "*";
  let namespaces: readonly string[] | "*" = "*";
  if (namespacesRaw !== "*") {
    const names = namespacesRaw.split(",").map((name) => name.trim());
    const bad = names.filter((name) => !NAMESPACE_NAME.test(name));
    if (bad.length > 0)
      invalid("NAMESPACES", namespacesRaw, '"*" or a comma-separated list of namespace names');
    namespaces = names;
  }

  const checkIntervalMs = duration(
    "CHECK_INTERVAL",
    "60s",
    { ms: MIN_CHECK_INTERVAL_MS, text: "100ms" },
    { ms: MAX_CHECK_INTERVAL_MS, text: "596h" },
  );
  const idleTimeoutMs = duration("IDLE_TIMEOUT", "15m", { ms: 1, text: "1ms" });
  if (idleTimeoutMs < checkIntervalMs) {
    invalid("IDLE_TIMEOUT", text("IDLE_TIMEOUT") ?? "15m", `a duration of at least CHECK_INTERVAL`);
  }
  const actionCooldownMs = duration("ACTION_COOLDOWN", "5m", { ms: 0, text: "0s" });
  const wakeRecordRetentionMs = duration("WAKE_RECORD_RETENTION", "720h", { ms: 60 * 60_000, text: "1h" });

  const thresholdRaw = text("ACTIVITY_THRESHOLD") ?? "500";
  const activityThresholdBytes = /^\d+$/.test(thresholdRaw) ? Number(thresholdRaw) : Number.NaN;
  if (!Number.isSafeInteger(activityThresholdBytes)) {
    invalid(
      "ACTIVITY_THRESHOLD",
      thresholdRaw,
      "a whole number of bytes (Rx+Tx per CHECK_INTERVAL), e.g. 500",
    );
  }

  const dryRunRaw = text("DRY_RUN")?.toLowerCase() ?? "false";
  const dryRun = ["true", "1", "yes"].includes(dryRunRaw);
  if (!dryRun && !["false", "0", "no"].includes(dryRunRaw)) invalid("DRY_RUN", dryRunRaw, "true or false");

  const dockerHost = text("DOCKER_HOST") ?? "unix:///var/run/docker.sock";
  address(
    "DOCKER_HOST",
    dockerHost,
    ["unix:", "tcp:", "http:", "https:"],
    "unix:///path/to/docker.sock or tcp://host:port",
  );

  const httpListenRaw = text("HTTP_LISTEN") ?? "127.0.0.1:9464";
  const httpListen = httpListenRaw === "off" ? undefined : listenAddress(httpListenRaw);
  if (httpListen === null) invalid("HTTP_LISTEN", httpListenRaw, 'host:port (e.g. "0.0.0.0:9464"), or "off"');

  const procRoot = text("PROC_ROOT") ?? (pathExists("/host/proc") ? "/host/proc" : "/proc");
  if (!pathExists(procRoot)) invalid("PROC_ROOT", procRoot, "a directory where the host's /proc is mounted");

  // Missing by default is no error: only jobs with the CPU gate on need it, and they say so (unknown).
  const cgroupRootRaw = text("CGROUP_ROOT");
  const cgroupRoot =
    cgroupRootRaw ?? (pathExists("/host/sys/fs/cgroup") ? "/host/sys/fs/cgroup" : "/sys/fs/cgroup");
  if (cgroupRootRaw !== undefined && !pathExists(cgroupRootRaw))
    invalid("CGROUP_ROOT", cgroupRootRaw, "a directory where the host's /sys/fs/cgroup is mounted");

  const webhookUrlRaw = text("WEBHOOK_URL");
  if (webhookUrlRaw !== undefined && webhookUrl(webhookUrlRaw) === undefined) {
    // Shown up to its host: the path of a webhook URL (Slack's, for one) is often the credential.
    const start = /^([a-z][a-z0-9+.-]*:\/\/)?[^/?#]*/i.exec(webhookUrlRaw)?.[0] ?? "";
    invalid(
      "WEBHOOK_URL",
      start.length < webhookUrlRaw.length ? `${start}/…` : start,
      'an http:// or https:// URL such as "https://hooks.example.com/nomad"',
    );
  }
  const allowedHostsRaw = text("WEBHOOK_ALLOWED_HOSTS");
  const allowedHosts = (allowedHostsRaw?.split(",") ?? []).map(allowedHostEntry);
  if (allowedHosts.some((entry) => entry === undefined)) {
    invalid(
      "WEBHOOK_ALLOWED_HOSTS",
      allowedHostsRaw ?? "",
      'a comma-separated list of hosts or host:port, without scheme or path (e.g. "hooks.example.com,10.0.0.5:8080")',
    );
  }

  const config: Config = {
    nomadAddr: nomadAddr.replace(/\/$/, ""),
    nomadToken: text("NOMAD_TOKEN"),
    nomadRegion: text("NOMAD_REGION"),
    tls: {
      caCert: text("NOMAD_CACERT"),
      clientCert: text("NOMAD_CLIENT_CERT"),
      clientKey: text("NOMAD_CLIENT_KEY"),
      serverName: text("NOMAD_TLS_SERVER_NAME"),
    },
    self: { allocId, jobId: text("NOMAD_JOB_ID") },
    nodeId,
    namespace,
    tokenVariable: { path: tokenPath, key: tokenKey },
    namespaces,
    idleTimeoutMs,
    checkIntervalMs,
    activityThresholdBytes,
    dryRun,
    actionCooldownMs,
    wakeRecordRetentionMs,
    dockerHost: dockerHost.replace(/\/$/, ""),
    httpListen: httpListen ?? undefined,
    procRoot,
    cgroupRoot,
    logLevel: oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    logFormat: oneOf("LOG_FORMAT", LOG_FORMATS, "text"),
    timezone: monitorTimezone(text("TZ")),
    webhook: {
      url: webhookUrlRaw,
      allowedHosts: allowedHosts.filter((entry) => entry !== undefined),
      format: oneOf("WEBHOOK_FORMAT", WEBHOOK_FORMATS, "json"),
    },
  };
  for (const [name, path] of [
    ["NOMAD_CACERT", config.tls.caCert],
    ["NOMAD_CLIENT_CERT", config.tls.clientCert],
    ["NOMAD_CLIENT_KEY", config.tls.clientKey],
  ] as const) {
    if (path !== undefined && !pathExists(path)) invalid(name, path, "the path of a readable PEM file");
  }
  if ((config.tls.clientCert === undefined) !== (config.tls.clientKey === undefined)) {
    errors.push("NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY must be set together");
  }
  const containerFilter = text("CONTAINER_FILTER");
  if (containerFilter !== undefined) {
    warnings.push(
      `CONTAINER_FILTER=${JSON.stringify(containerFilter)} is ignored: jobs opt in through job or group meta now, not by container name. To migrate, add meta = { "idle-monitor.enabled" = "true" } to each job (or task group) the filter matched, then remove CONTAINER_FILTER from /etc/default/nomad-idle-monitor`,
    );
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: deepFreeze(config), warnings };
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === "object") deepFreeze(child);
  }
  return Object.freeze(value);
}

import { describe, expect, it } from "vitest";
import { type Environment, parseConfig } from "../src/config.js";

const outsideNomad: Environment = { NOMAD_NODE_ID: "node-1" };
const onlyRealPaths =
  (...paths: string[]) =>
  (path: string) =>
    paths.includes(path);

function configOf(env: Environment, pathExists = onlyRealPaths("/proc")) {
  const result = parseConfig(env, pathExists);
  if (!result.ok) throw new Error(`unexpected errors: ${result.errors.join("; ")}`);
  return result.config;
}

function errorsOf(env: Environment, pathExists = onlyRealPaths("/proc")) {
  const result = parseConfig(env, pathExists);
  if (result.ok) throw new Error("expected configuration errors");
  return result.errors;
}

describe("config defaults", () => {
  it("uses the documented defaults", () => {
    expect(configOf(outsideNomad)).toEqual({
      nomadAddr: "http://127.0.0.1:4646",
      nomadToken: undefined,
      nomadRegion: undefined,
      tls: { caCert: undefined, clientCert: undefined, clientKey: undefined, serverName: undefined },
      self: { allocId: undefined, jobId: undefined },
      nodeId: "node-1",
      namespace: "default",
      tokenVariable: { path: "nomad/jobs/idle-monitor", key: "token" },
      namespaces: "*",
      idleTimeoutMs: 15 * 60_000,
      checkIntervalMs: 60_000,
      activityThresholdBytes: 500,
      dryRun: false,
      actionCooldownMs: 5 * 60_000,
      wakeRecordRetentionMs: 30 * 24 * 3_600_000,
      dockerHost: "unix:///var/run/docker.sock",
      httpListen: { host: "127.0.0.1", port: 9464 },
      procRoot: "/proc",
      cgroupRoot: "/sys/fs/cgroup",
      logLevel: "info",
      logFormat: "text",
      timezone: "UTC",
      webhook: { url: undefined, allowedHosts: [], format: "json" },
    });
  });

  it("prefers the host's /proc at /host/proc when it is mounted", () => {
    expect(configOf(outsideNomad, onlyRealPaths("/proc", "/host/proc")).procRoot).toBe("/host/proc");
  });

  it("prefers the host's cgroups at /host/sys/fs/cgroup when they are mounted", () => {
    const paths = onlyRealPaths("/proc", "/host/sys/fs/cgroup");
    expect(configOf(outsideNomad, paths).cgroupRoot).toBe("/host/sys/fs/cgroup");
  });

  it("is frozen, nested objects included", () => {
    const config = configOf(outsideNomad);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tokenVariable)).toBe(true);
  });

  it("needs no node ID inside Nomad, where the monitor's own allocation names it", () => {
    expect(configOf({ NOMAD_ALLOC_ID: "a1" }).nodeId).toBeUndefined();
  });
});

describe("valid values", () => {
  it.each<[string, Environment, (config: ReturnType<typeof configOf>) => unknown, unknown]>([
    ["Go durations", { IDLE_TIMEOUT: "1h30m" }, (c) => c.idleTimeoutMs, 90 * 60_000],
    ["sub-second interval", { CHECK_INTERVAL: "500ms", IDLE_TIMEOUT: "2s" }, (c) => c.checkIntervalMs, 500],
    ["zero cooldown", { ACTION_COOLDOWN: "0s" }, (c) => c.actionCooldownMs, 0],
    ["seed's seconds: IDLE_TIMEOUT=3600", { IDLE_TIMEOUT: "3600" }, (c) => c.idleTimeoutMs, 3_600_000],
    [
      "seed's seconds: CHECK_INTERVAL=60",
      { CHECK_INTERVAL: "60", IDLE_TIMEOUT: "3600" },
      (c) => c.checkIntervalMs,
      60_000,
    ],
    ["seconds: ACTION_COOLDOWN=300", { ACTION_COOLDOWN: "300" }, (c) => c.actionCooldownMs, 300_000],
    ["zero seconds of cooldown", { ACTION_COOLDOWN: "0" }, (c) => c.actionCooldownMs, 0],
    [
      "issue 19 item 9: wake records kept a week (WAKE_RECORD_RETENTION)",
      { WAKE_RECORD_RETENTION: "168h" },
      (c) => c.wakeRecordRetentionMs,
      7 * 24 * 3_600_000,
    ],
    ["threshold zero", { ACTIVITY_THRESHOLD: "0" }, (c) => c.activityThresholdBytes, 0],
    ["dry run", { DRY_RUN: "TRUE" }, (c) => c.dryRun, true],
    ["namespace list", { NAMESPACES: "dev, preview" }, (c) => c.namespaces, ["dev", "preview"]],
    [
      "task API socket",
      { NOMAD_ADDR: "unix:///secrets/api.sock" },
      (c) => c.nomadAddr,
      "unix:///secrets/api.sock",
    ],
    [
      "seed alias NOMAD_ENDPOINT",
      { NOMAD_ENDPOINT: "http://nomad:4646" },
      (c) => c.nomadAddr,
      "http://nomad:4646",
    ],
    [
      "NOMAD_ADDR wins over the alias",
      { NOMAD_ADDR: "https://a:4646/", NOMAD_ENDPOINT: "http://b:4646" },
      (c) => c.nomadAddr,
      "https://a:4646",
    ],
    [
      "json logs",
      { LOG_FORMAT: "json", LOG_LEVEL: "debug" },
      (c) => [c.logFormat, c.logLevel],
      ["json", "debug"],
    ],
    [
      "own job from Nomad's task env",
      { NOMAD_JOB_ID: "idle-monitor", NOMAD_ALLOC_ID: "a1" },
      (c) => c.self,
      { allocId: "a1", jobId: "idle-monitor" },
    ],
    [
      "token variable",
      { TOKEN_VARIABLE: "nomad/jobs/monitor/token", TOKEN_VARIABLE_KEY: "secret" },
      (c) => c.tokenVariable,
      { path: "nomad/jobs/monitor/token", key: "secret" },
    ],
    [
      "webhook URL with a path and query",
      { WEBHOOK_URL: "https://hooks.example.com/services/T0/B0/x?y=1" },
      (c) => c.webhook.url,
      "https://hooks.example.com/services/T0/B0/x?y=1",
    ],
    [
      "plain http webhook",
      { WEBHOOK_URL: "http://10.0.0.5:8080/hook" },
      (c) => c.webhook.url,
      "http://10.0.0.5:8080/hook",
    ],
    [
      "webhook allow-list, hosts and host:port, lower-cased",
      { WEBHOOK_ALLOWED_HOSTS: "Hooks.Example.com, 10.0.0.5:8080,[::1]:9000" },
      (c) => c.webhook.allowedHosts,
      ["hooks.example.com", "10.0.0.5:8080", "[::1]:9000"],
    ],
    ["slack format", { WEBHOOK_FORMAT: "Slack" }, (c) => c.webhook.format, "slack"],
  ])("%s", (_name, env, pick, expected) => {
    expect(pick(configOf({ ...outsideNomad, ...env }))).toEqual(expected);
  });
});

describe("warnings about the seed's settings", () => {
  const warningsOf = (env: Environment) => {
    const result = parseConfig({ ...outsideNomad, ...env }, onlyRealPaths("/proc"));
    if (!result.ok) throw new Error(`unexpected errors: ${result.errors.join("; ")}`);
    return result.warnings;
  };

  it.each<[string, Environment, unknown[]]>([
    ["none for a current configuration", { IDLE_TIMEOUT: "3600" }, []],
    [
      "CONTAINER_FILTER: opt-in is by meta now, and how to migrate",
      { CONTAINER_FILTER: "dev-*" },
      [
        'CONTAINER_FILTER="dev-*" is ignored: jobs opt in through job or group meta now, not by container name. To migrate, add meta = { "idle-monitor.enabled" = "true" } to each job (or task group) the filter matched, then remove CONTAINER_FILTER from /etc/default/nomad-idle-monitor',
      ],
    ],
  ])("%s", (_name, env, expected) => {
    expect(warningsOf(env)).toEqual(expected);
  });
});

describe("invalid values", () => {
  it.each<[string, Environment, string]>([
    [
      "seconds below the interval",
      { IDLE_TIMEOUT: "15" },
      'IDLE_TIMEOUT="15" is not valid: expected a duration of at least CHECK_INTERVAL',
    ],
    [
      "negative seconds",
      { CHECK_INTERVAL: "-60" },
      'CHECK_INTERVAL="-60" is not valid: expected a Go/Nomad duration such as "90s", "15m" or "1h30m", or a whole number of seconds such as "3600"',
    ],
    ["fractional seconds", { ACTION_COOLDOWN: "1.5" }, 'ACTION_COOLDOWN="1.5" is not valid'],
    [
      "issue 19 item 9: wake records kept less than an hour",
      { WAKE_RECORD_RETENTION: "10m" },
      'WAKE_RECORD_RETENTION="10m" is not valid: expected a duration of at least 1h',
    ],
    [
      "issue 19 item 9: wake records kept for days (Go durations have none)",
      { WAKE_RECORD_RETENTION: "30d" },
      'WAKE_RECORD_RETENTION="30d" is not valid',
    ],
    [
      "zero seconds of interval",
      { CHECK_INTERVAL: "0" },
      'CHECK_INTERVAL="0" is not valid: expected a duration of at least 100ms',
    ],
    ["words for a duration", { CHECK_INTERVAL: "soon" }, 'CHECK_INTERVAL="soon" is not valid'],
    ["interval too short", { CHECK_INTERVAL: "10ms" }, "at least 100ms"],
    [
      "timeout below the interval",
      { IDLE_TIMEOUT: "30s" },
      'IDLE_TIMEOUT="30s" is not valid: expected a duration of at least CHECK_INTERVAL',
    ],
    [
      "negative threshold",
      { ACTIVITY_THRESHOLD: "-1" },
      'ACTIVITY_THRESHOLD="-1" is not valid: expected a whole number',
    ],
    ["fractional threshold", { ACTIVITY_THRESHOLD: "1.5" }, 'ACTIVITY_THRESHOLD="1.5"'],
    ["dry run typo", { DRY_RUN: "ture" }, 'DRY_RUN="ture" is not valid: expected true or false'],
    ["log format", { LOG_FORMAT: "pretty" }, 'LOG_FORMAT="pretty" is not valid: expected one of text, json'],
    ["log level", { LOG_LEVEL: "verbose" }, "expected one of trace, debug, info, warn, error, fatal, silent"],
    ["address without scheme", { NOMAD_ADDR: "nomad:4646" }, 'NOMAD_ADDR="nomad:4646" is not valid'],
    ["alias named in its error", { NOMAD_ENDPOINT: "nomad:4646" }, 'NOMAD_ENDPOINT="nomad:4646"'],
    [
      "variable path characters",
      { TOKEN_VARIABLE: "nomad/jobs/idle monitor" },
      'TOKEN_VARIABLE="nomad/jobs/idle monitor"',
    ],
    ["namespace list", { NAMESPACES: "dev,,prod" }, 'NAMESPACES="dev,,prod" is not valid'],
    ["docker host", { DOCKER_HOST: "/var/run/docker.sock" }, 'DOCKER_HOST="/var/run/docker.sock"'],
    ["missing proc root", { PROC_ROOT: "/nowhere" }, 'PROC_ROOT="/nowhere" is not valid'],
    [
      "missing cgroup root",
      { CGROUP_ROOT: "/nowhere" },
      `CGROUP_ROOT="/nowhere" is not valid: expected a directory where the host's /sys/fs/cgroup is mounted`,
    ],
    ["missing CA file", { NOMAD_CACERT: "/nowhere/ca.pem" }, 'NOMAD_CACERT="/nowhere/ca.pem"'],
    [
      "client cert without key",
      { NOMAD_CLIENT_CERT: "/proc" },
      "NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY must be set together",
    ],
    [
      "webhook URL without scheme",
      { WEBHOOK_URL: "hooks.example.com/nomad" },
      'WEBHOOK_URL="hooks.example.com/…" is not valid: expected an http:// or https:// URL',
    ],
    ["webhook URL of another scheme", { WEBHOOK_URL: "ftp://hooks.example.com/" }, 'WEBHOOK_URL="ftp://'],
    [
      "allow-list entry with a scheme",
      { WEBHOOK_ALLOWED_HOSTS: "hooks.example.com,https://other.example.com" },
      'WEBHOOK_ALLOWED_HOSTS="hooks.example.com,https://other.example.com" is not valid: expected a comma-separated list of hosts or host:port',
    ],
    [
      "allow-list with an empty entry",
      { WEBHOOK_ALLOWED_HOSTS: "a.example.com,," },
      "WEBHOOK_ALLOWED_HOSTS=",
    ],
    [
      "allow-list port out of range",
      { WEBHOOK_ALLOWED_HOSTS: "a.example.com:70000" },
      "WEBHOOK_ALLOWED_HOSTS=",
    ],
    ["allow-list with a path", { WEBHOOK_ALLOWED_HOSTS: "a.example.com/hook" }, "WEBHOOK_ALLOWED_HOSTS="],
    [
      "webhook format",
      { WEBHOOK_FORMAT: "teams" },
      'WEBHOOK_FORMAT="teams" is not valid: expected one of json, slack',
    ],
  ])("%s", (_name, env, message) => {
    const errors = errorsOf({ ...outsideNomad, ...env });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it("never shows the path of a bad WEBHOOK_URL, where a webhook's credential lives", () => {
    const errors = errorsOf({ ...outsideNomad, WEBHOOK_URL: "hooks.slack.com/services/T0/B0/s3cr3tP4th" });
    expect(errors).toEqual([
      'WEBHOOK_URL="hooks.slack.com/…" is not valid: expected an http:// or https:// URL such as "https://hooks.example.com/nomad"',
    ]);
  });

  it("requires a node ID outside Nomad and says where to find it", () => {
    expect(errorsOf({})).toEqual([expect.stringContaining("NOMAD_NODE_ID is not set")]);
  });

  it("reports every bad value at once", () => {
    const errors = errorsOf({ CHECK_INTERVAL: "x", IDLE_TIMEOUT: "y", DRY_RUN: "maybe", LOG_FORMAT: "xml" });
    expect(errors).toEqual([
      expect.stringMatching(/^NOMAD_NODE_ID is not set/),
      expect.stringMatching(/^CHECK_INTERVAL="x"/),
      expect.stringMatching(/^IDLE_TIMEOUT="y"/),
      expect.stringMatching(/^DRY_RUN="maybe"/),
      expect.stringMatching(/^LOG_FORMAT="xml"/),
    ]);
  });
});

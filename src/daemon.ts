import type { Logger } from "pino";
import { Actions } from "./actions.js";
import { type Cancel, type Clock, systemClock } from "./clock.js";
import { ClusterExchange } from "./cluster/exchange.js";
import { StatePaths } from "./cluster/paths.js";
import type { Config } from "./config.js";
import { DockerActivitySignals } from "./docker/activity-signals.js";
import { DockerEngineClient, dockerEndpoint } from "./docker/engine-client.js";
import { DockerNetworkSampler } from "./docker/network-sampler.js";
import { formatDuration } from "./duration.js";
import { type Health, startHttpListener } from "./http-listener.js";
import { MonitorMetrics } from "./metrics.js";
import { exchangeTiming } from "./model/timing.js";
import { Monitor } from "./monitor.js";
import { NomadHttpApi } from "./nomad/api.js";
import { ActionToken } from "./nomad/token.js";
import type { WatchTiming } from "./nomad/watch.js";
import { RateLimitedNotice } from "./notices.js";
import { WebhookNotifier } from "./notifier.js";
import type { NomadApi } from "./ports.js";
import { backoffDelay } from "./retry.js";
import { Webhooks } from "./webhooks/sender.js";
import { webhookUrl } from "./webhooks/url.js";

const TOKEN_REFRESH_MS = 5 * 60_000;
const STARTUP_RETRY = { initialMs: 1_000, maxMs: 30_000 };
/** Alive while a cycle ended within this many intervals (plus the grace a start needs). */
const ALIVE_INTERVALS = 3;
const STARTUP_GRACE_MS = 60_000;
/** What is queued is dropped at shutdown; a receiver that holds a request never holds the exit longer. */
const WEBHOOKS_CLOSE_MS = 1_000;

export interface DaemonOptions {
  config: Config;
  log: Logger;
  clock?: Clock;
  watchTiming?: WatchTiming;
}

/**
 * Wires the monitor to the real Nomad API and Docker Engine and runs it until the signal aborts. Start-up
 * steps that depend on Nomad (the action token, the node ID) are retried until they succeed, saying why
 * at most once a minute, so a monitor that starts before Nomad is ready simply waits.
 */
export async function runDaemon(
  { config, log, clock = systemClock, watchTiming }: DaemonOptions,
  signal: AbortSignal,
) {
  const metrics = new MonitorMetrics(() => clock.now());
  // The client sends whatever token the ActionToken holds at the time of each call.
  const nomad = new NomadHttpApi({
    config,
    token: (): string | undefined => actionToken.current(),
    metrics,
  });
  const actionToken = new ActionToken(nomad, config, log, metrics);
  const notices = new RateLimitedNotice(60_000, () => clock.now());
  let monitor: Monitor | undefined;
  const startedAt = clock.now();
  // Up first, so that a monitor waiting for Nomad shows as alive but not ready.
  const { httpListen } = config;
  // Watching and acting matter more than being watched: a port in use is said, not fatal.
  const listener =
    httpListen &&
    (await startHttpListener({
      listen: httpListen,
      metrics,
      health: () => health({ config, clock, startedAt, token: actionToken, monitor }),
      status: () => monitor?.status() ?? { node: undefined, allocations: {} },
      bearerToken: () => actionToken.httpToken(),
      log,
    }).catch((error: unknown) => {
      log.error(
        `cannot serve /metrics and the probes on ${httpListen.host}:${httpListen.port} (${(error as Error).message}); running without them`,
      );
      return undefined;
    }));
  if (listener)
    log.info(
      `serving /metrics, /healthz, /readyz and /v1/status on ${listener.address.host}:${listener.address.port}`,
    );
  try {
    const startup = { log, notices, clock, signal };
    await untilDone("load the action token", () => actionToken.load(), startup);
    const nodeId = await untilDone("learn this node's ID", () => ownNodeId(config, nomad), startup);
    if (signal.aborted || nodeId === undefined) return;

    const sampler = new DockerNetworkSampler({
      engine: new DockerEngineClient(dockerEndpoint(config.dockerHost)),
      procRoot: config.procRoot,
      clock,
    });
    log.info(
      `watching node ${nodeId}: sampling every ${formatDuration(config.checkIntervalMs)}, default idle timeout ${formatDuration(config.idleTimeoutMs)}, threshold ${config.activityThresholdBytes} B${config.dryRun ? " (DRY_RUN: decisions are logged, never carried out)" : ""}`,
    );
    const webhooks = startWebhooks(config, actionToken, clock, log);
    const cluster = new ClusterExchange({
      // The workload identity, whose job-attached policy allows the monitor's own Variables subtree.
      store: nomad.variables(config.namespace, config.nomadToken),
      paths: new StatePaths(`nomad/jobs/${config.self.jobId ?? "idle-monitor"}`),
      nodeId,
      clock,
      log,
      timing: exchangeTiming(config.checkIntervalMs),
    });
    const signals = new DockerActivitySignals({
      sampler,
      procRoot: config.procRoot,
      cgroupRoot: config.cgroupRoot,
    });
    monitor = new Monitor({
      config,
      metrics,
      cluster,
      nodeId,
      nomad,
      token: actionToken,
      sampler,
      signals,
      actions: new Actions({ nomad, token: actionToken, clock, log, dryRun: config.dryRun }),
      clock,
      log,
      watchTiming,
      notifier: webhooks && new WebhookNotifier(webhooks, log),
    });
    const stopRefreshing = clock.every(TOKEN_REFRESH_MS, () => {
      actionToken.load().catch((error: unknown) => {
        if (notices.shouldSay("token-refresh"))
          log.warn(`could not refresh the action token: ${(error as Error).message}`);
      });
    });
    try {
      await monitor.run(signal);
    } finally {
      stopRefreshing();
      if (webhooks) await closeWithin(webhooks, WEBHOOKS_CLOSE_MS, clock);
      signals.close();
      await sampler.close();
    }
  } finally {
    if (listener) await listener.close();
  }
}

/** The webhooks, when WEBHOOK_URL or WEBHOOK_ALLOWED_HOSTS is set; signed with the Variable's `webhook_secret`. */
function startWebhooks(config: Config, token: ActionToken, clock: Clock, log: Logger): Webhooks | undefined {
  const { url, allowedHosts, format } = config.webhook;
  if (url === undefined && allowedHosts.length === 0) return undefined;
  const webhooks = new Webhooks({
    url,
    allowedHosts,
    format,
    secret: () => token.webhookSecret(),
    log,
    clock,
  });
  // The origin only: a webhook URL's path can be a credential (Slack's are).
  const where = url === undefined ? "no WEBHOOK_URL" : `events to ${webhookUrl(url)?.origin}`;
  const hosts = allowedHosts.length === 0 ? "" : `, job webhooks allowed on ${allowedHosts.join(",")}`;
  log.info(`webhooks: ${where}${hosts} (format ${format})`);
  webhooks.checkSecret();
  return webhooks;
}

async function closeWithin(webhooks: Webhooks, ms: number, clock: Clock): Promise<void> {
  let cancel: Cancel | undefined;
  await Promise.race([
    webhooks.close(),
    new Promise<void>((resolve) => {
      cancel = clock.after(ms, resolve);
    }),
  ]);
  cancel?.();
}

/** Alive while cycles keep coming; ready once it can see (Nomad, Docker) and act (the token). */
function health({
  config,
  clock,
  startedAt,
  token,
  monitor,
}: {
  config: Config;
  clock: Clock;
  startedAt: number;
  token: ActionToken;
  monitor: Monitor | undefined;
}): Health {
  const problems: string[] = [];
  const silentMs = clock.now() - (monitor?.lastCycleAt ?? startedAt);
  const alive = silentMs < ALIVE_INTERVALS * config.checkIntervalMs + STARTUP_GRACE_MS;
  if (!alive) problems.push(`no sampling cycle for ${formatDuration(silentMs)}`);
  if (!token.loaded) problems.push("the action token is not loaded");
  if (!monitor?.view.seeded) problems.push("the node's allocations are not listed from Nomad yet");
  if (!monitor?.dockerAnswers) problems.push("the Docker Engine does not answer");
  return { alive, ready: problems.length === 0, problems };
}

async function ownNodeId(config: Config, nomad: NomadApi): Promise<string> {
  if (config.nodeId) return config.nodeId;
  // nomad-api-notes.md: no node ID variable exists inside a task; the allocation knows its node.
  const allocation = await nomad.allocation(config.self.allocId as string);
  return allocation.NodeID;
}

async function untilDone<T>(
  what: string,
  step: () => Promise<T>,
  {
    log,
    notices,
    clock,
    signal,
  }: { log: Logger; notices: RateLimitedNotice; clock: Clock; signal: AbortSignal },
): Promise<T | undefined> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const result = await step();
      if (notices.clear(what)) log.info(`able to ${what} again`);
      return result;
    } catch (error) {
      if (notices.shouldSay(what)) log.warn(`cannot ${what} yet: ${(error as Error).message}; retrying`);
      await clock.sleep(backoffDelay(attempt, STARTUP_RETRY), signal);
    }
  }
  return undefined;
}

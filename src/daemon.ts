import type { Logger } from "pino";
import { Actions } from "./actions.js";
import { type Clock, systemClock } from "./clock.js";
import { ClusterExchange, exchangeTiming } from "./cluster/exchange.js";
import { StatePaths } from "./cluster/paths.js";
import type { Config } from "./config.js";
import { DockerEngineClient, dockerEndpoint } from "./docker/engine-client.js";
import { DockerNetworkSampler } from "./docker/network-sampler.js";
import { formatDuration } from "./duration.js";
import { Monitor } from "./monitor.js";
import { NomadHttpApi } from "./nomad/api.js";
import { ActionToken } from "./nomad/token.js";
import type { WatchTiming } from "./nomad/watch.js";
import { RateLimitedNotice } from "./notices.js";
import type { NomadApi } from "./ports.js";
import { backoffDelay } from "./retry.js";

const TOKEN_REFRESH_MS = 5 * 60_000;
const STARTUP_RETRY = { initialMs: 1_000, maxMs: 30_000 };

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
  // The client sends whatever token the ActionToken holds at the time of each call.
  const nomad = new NomadHttpApi({
    config,
    token: (): string | undefined => actionToken.current(),
  });
  const actionToken = new ActionToken(nomad, config, log);
  const notices = new RateLimitedNotice(60_000, () => clock.now());

  const startup = { log, notices, clock, signal };
  await untilDone("load the action token", () => actionToken.load(), startup);
  const nodeId = await untilDone("learn this node's ID", () => ownNodeId(config, nomad), startup);
  if (signal.aborted || nodeId === undefined) return;

  const sampler = new DockerNetworkSampler({
    engine: new DockerEngineClient(dockerEndpoint(config.dockerHost)),
    procRoot: config.procRoot,
    now: () => clock.now(),
  });
  log.info(
    `watching node ${nodeId}: sampling every ${formatDuration(config.checkIntervalMs)}, default idle timeout ${formatDuration(config.idleTimeoutMs)}, threshold ${config.activityThresholdBytes} B${config.dryRun ? " (DRY_RUN: decisions are logged, never carried out)" : ""}`,
  );
  const cluster = new ClusterExchange({
    // The workload identity, whose job-attached policy allows the monitor's own Variables subtree.
    store: nomad.variables(config.namespace, config.nomadToken),
    paths: new StatePaths(`nomad/jobs/${config.self.jobId ?? "idle-monitor"}`),
    nodeId,
    clock,
    log,
    timing: exchangeTiming(config.checkIntervalMs),
  });
  const monitor = new Monitor({
    config,
    cluster,
    nodeId,
    nomad,
    token: actionToken,
    sampler,
    actions: new Actions({ nomad, token: actionToken, clock, log, dryRun: config.dryRun }),
    clock,
    log,
    watchTiming,
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
    await sampler.close();
  }
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

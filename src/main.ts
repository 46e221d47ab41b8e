import { parseConfig } from "./config.js";
import { runDaemon } from "./daemon.js";
import { createLogger } from "./log.js";

// Nomad's kill_timeout for the job is above this: an action in flight gets to finish, then we exit.
const SHUTDOWN_LIMIT_MS = 5_000;

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  for (const error of parsed.errors) process.stderr.write(`nomad-idle-monitor: ${error}\n`);
  process.exit(2);
}
const log = createLogger(parsed.config);
const stopping = new AbortController();

function shutdown(signalName: string) {
  if (stopping.signal.aborted) {
    log.warn(`${signalName} again: exiting now`);
    process.exit(1);
  }
  log.info(`${signalName} received: stopping (an action in flight may finish)`);
  stopping.abort();
  setTimeout(() => {
    log.warn(`still busy after ${SHUTDOWN_LIMIT_MS / 1000}s; exiting anyway`);
    process.exit(0);
  }, SHUTDOWN_LIMIT_MS).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

runDaemon({ config: parsed.config, log }, stopping.signal).then(
  () => {
    log.info("stopped");
    process.exit(0);
  },
  (error: unknown) => {
    log.fatal(`stopped by an unexpected error: ${(error as Error).message}`);
    process.exit(1);
  },
);

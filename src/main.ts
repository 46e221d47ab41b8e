import { parseConfig } from "./config.js";
import { runDaemon } from "./daemon.js";
import { createLogger, describeError } from "./log.js";

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

/** The last line before exiting on an error nothing handled: what failed, never the request it came from. */
function crash(what: string) {
  return (error: unknown) => {
    try {
      log.fatal({ err: describeError(error) }, `stopping on ${what}`);
    } finally {
      process.exit(1);
    }
  };
}
process.on("unhandledRejection", crash("an unhandled promise rejection"));
process.on("uncaughtException", crash("an uncaught exception"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// Only once a SIGTERM is handled: one sent on seeing a warning then stops the monitor as any other.
for (const warning of parsed.warnings) log.warn(warning);

runDaemon({ config: parsed.config, log }, stopping.signal).then(
  () => {
    log.info("stopped");
    process.exit(0);
  },
  (error: unknown) => {
    log.fatal({ err: describeError(error) }, "stopped by an unexpected error");
    process.exit(1);
  },
);

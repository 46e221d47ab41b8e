import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import type { Config } from "./config.js";

/** Defence in depth: messages never carry tokens, and neither may a field that someone adds later. */
export const LOG_REDACTION = {
  paths: ["token", "*.token", "headers", "*.headers", "config.headers", "err.config"],
  censor: "[redacted]",
};

/**
 * Logs for the Nomad UI's log tab: one readable line per event, `[time] LEVEL: message`, warnings and
 * errors on stderr, the rest on stdout (Nomad keeps them as separate streams). `json` is for log
 * shippers, and keeps every field.
 */
export function createLogger(config: Pick<Config, "logLevel" | "logFormat">): Logger {
  const options = { level: config.logLevel, base: undefined, redact: LOG_REDACTION };
  const destination = (fd: 1 | 2) =>
    config.logFormat === "json"
      ? pino.destination({ fd, sync: true })
      : pretty({
          destination: fd,
          sync: true,
          colorize: false,
          // `[time] LEVEL: message` and nothing more: the fields are for `json`. (pino-pretty ends no
          // line when singleLine and hideObject are both set; with the object hidden a line is single.)
          hideObject: true,
          translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss'Z'",
        });
  return pino(
    options,
    pino.multistream(
      [
        { level: "trace", stream: destination(1) },
        { level: "warn", stream: destination(2) },
      ],
      { dedupe: true },
    ),
  );
}

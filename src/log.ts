import { types } from "node:util";
import pino, { type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";
import type { Config } from "./config.js";

/** Defence in depth: messages never carry tokens, and neither may a field that someone adds later. */
const LOG_REDACTION = {
  paths: ["token", "*.token", "headers", "*.headers", "config.headers", "err.config"],
  censor: "[redacted]",
};

/**
 * All a log line says about an error. An axios error carries its request and config, and with them the
 * `X-Nomad-Token` header: none of that is ever written.
 */
export interface LoggedError {
  message: string;
  code?: string | number;
  status?: number;
}

const LOGGED_ERROR_KEYS = new Set(["message", "code", "status"]);
// Log fields are shallow; anything deeper than this is not worth walking (nor printing).
const MAX_DEPTH = 6;

function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** What may be logged of a thrown value: its message, code and HTTP status, nothing else. */
export function describeError(error: unknown): LoggedError {
  if (!isError(error)) {
    return { message: typeof error === "string" ? error : `a thrown ${typeof error} that is not an Error` };
  }
  const { code, status, response } = error as Error & {
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown };
  };
  const described: LoggedError = { message: error.message };
  if (typeof code === "string" || typeof code === "number") described.code = code;
  const httpStatus = status ?? response?.status;
  if (typeof httpStatus === "number") described.status = httpStatus;
  return described;
}

/** The value with every Error in it, at any key or depth, replaced by what may be logged of it. */
function withoutErrors(value: unknown, depth = 0): unknown {
  if (isError(value)) return describeError(value);
  if (value === null || typeof value !== "object") return value;
  const plain = Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype;
  if (!plain) return value;
  if (depth >= MAX_DEPTH) return "[too deep]";
  let changed = false;
  const entries = Object.entries(value).map(([key, child]) => {
    const safe = withoutErrors(child, depth + 1);
    if (safe !== child) changed = true;
    return [key, safe] as const;
  });
  if (!changed) return value;
  if (Array.isArray(value)) return entries.map(([, child]) => child);
  return Object.fromEntries(entries);
}

const withoutErrorsIn = (object: Record<string, unknown>) => withoutErrors(object) as Record<string, unknown>;

/** Options every logger of the monitor uses, so that no token reaches a line whatever is logged. */
export const SAFE_LOG_OPTIONS = {
  redact: LOG_REDACTION,
  // Errors are replaced wherever they are, in a line's fields and in a child logger's bindings; the
  // serializers only keep pino's own error serializer (which copies every property) out of the way.
  formatters: { log: withoutErrorsIn, bindings: withoutErrorsIn },
  serializers: { err: withoutErrors, error: withoutErrors },
} satisfies LoggerOptions;

function loggedErrorsIn(value: unknown, depth = 0): LoggedError[] {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return [];
  const keys = Object.keys(value);
  const isLoggedError =
    !Array.isArray(value) &&
    typeof (value as { message?: unknown }).message === "string" &&
    keys.every((key) => LOGGED_ERROR_KEYS.has(key));
  if (isLoggedError) return [value as LoggedError];
  return Object.values(value).flatMap((child) => loggedErrorsIn(child, depth + 1));
}

/**
 * The text format's message: the message, then what failed when an error was logged with it (its fields
 * are not printed in text), all on one line.
 */
function textMessage(line: Record<string, unknown>, messageKey: string): string {
  let text = String(line[messageKey] ?? "");
  const fields = Object.entries(line).flatMap(([key, value]) => (key === messageKey ? [] : [value]));
  loggedErrorsIn(fields).forEach(({ message, code, status }, index) => {
    if (!text.includes(message)) text += `${index === 0 ? ": " : "; "}${message}`;
    const details = [
      status === undefined ? "" : `status ${status}`,
      code === undefined ? "" : `code ${code}`,
    ];
    if (details.some(Boolean)) text += ` (${details.filter(Boolean).join(", ")})`;
  });
  return text.replace(/\s*\n\s*/g, " ");
}

/**
 * Logs for the Nomad UI's log tab: one readable line per event, `[time] LEVEL: message` and nothing
 * more, warnings and errors on stderr, the rest on stdout (Nomad keeps them as separate streams). `json`
 * is for log shippers, and keeps every field.
 */
export function createLogger(config: Pick<Config, "logLevel" | "logFormat">): Logger {
  const options = { level: config.logLevel, base: undefined, ...SAFE_LOG_OPTIONS };
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
          messageFormat: (line, messageKey) => textMessage(line, messageKey),
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

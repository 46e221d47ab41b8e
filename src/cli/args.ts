import { parseArgs } from "node:util";
import { MAIN_HELP, STATUS_HELP, WAKE_HELP } from "./help.js";

/** Where and how to reach Nomad: the `nomad` CLI's environment variables, overridden by its flags. */
export interface Connection {
  address: string;
  region: string | undefined;
  /** Never from a flag: a token on the command line lands in the shell history and the process list. */
  token: string | undefined;
  tls: {
    caCert: string | undefined;
    clientCert: string | undefined;
    clientKey: string | undefined;
    serverName: string | undefined;
    skipVerify: boolean;
  };
}

export interface StatusOptions {
  connection: Connection;
  /** The jobs' namespace; undefined: all. */
  namespace: string | undefined;
  monitorNamespace: string;
  monitorJob: string;
  json: boolean;
  job: string | undefined;
}

export interface WakeOptions {
  connection: Connection;
  /** The job's namespace. */
  namespace: string;
  monitorNamespace: string;
  monitorJob: string;
  job: string;
  /** Only this group (of a record of scaled groups). */
  group: string | undefined;
}

export type Parsed =
  | { kind: "help"; text: string }
  | { kind: "usage-error"; message: string; help: string }
  | { kind: "status"; options: StatusOptions }
  | { kind: "wake"; options: WakeOptions };

export const EXIT = {
  ok: 0,
  /** Nomad could not be reached, refused the token, or answered with an error. */
  nomadError: 1,
  usage: 2,
  /** `status <job>`: no monitor reports a job of that ID (not found, or not watched). */
  notWatched: 3,
  /** Shown, but incomplete: some jobs could not be read with this token (it lacks read-job there). */
  partial: 4,
} as const;

/** Go's flag package takes -flag and --flag alike, as `nomad` does: node's parseArgs takes only --flag. */
function goStyle(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of args) {
    if (arg === "--") {
      out.push(...args.slice(out.length));
      break;
    }
    out.push(/^-[a-zA-Z][a-zA-Z-]+(=.*)?$/.test(arg) ? `-${arg}` : arg);
  }
  return out;
}

type Environment = Readonly<Record<string, string | undefined>>;

export function parseCommandLine(argv: readonly string[], env: Environment): Parsed {
  const [command, ...rest] = argv;
  if (command === undefined || ["-h", "-help", "--help", "help"].includes(command))
    return { kind: "help", text: MAIN_HELP };
  if (command === "status") return parseStatus(rest, env);
  if (command === "wake") return parseWake(rest, env);
  return { kind: "usage-error", message: `unknown command "${command}"`, help: MAIN_HELP };
}

function parseWake(args: readonly string[], env: Environment): Parsed {
  let parsed: ReturnType<typeof parseWakeArgs>;
  try {
    parsed = parseWakeArgs(goStyle(args));
  } catch (error) {
    return {
      kind: "usage-error",
      message: error instanceof Error ? error.message : String(error),
      help: WAKE_HELP,
    };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help", text: WAKE_HELP };
  const [job, ...extra] = positionals;
  if (job === undefined || extra.length > 0)
    return { kind: "usage-error", message: "this command takes one argument: <job>", help: WAKE_HELP };
  const empty = Object.entries(values).find(([, value]) => value === "");
  if (empty) return { kind: "usage-error", message: `-${empty[0]} needs a value`, help: WAKE_HELP };
  return {
    kind: "wake",
    options: {
      connection: connectionOf(values, env),
      namespace: values.namespace ?? "default",
      monitorNamespace: values["monitor-namespace"] ?? "default",
      monitorJob: values["monitor-job"] ?? "idle-monitor",
      job,
      group: values.group,
    },
  };
}

function parseWakeArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...COMMAND_OPTIONS, group: { type: "string" } },
  });
}

function parseStatus(args: readonly string[], env: Environment): Parsed {
  let values: ReturnType<typeof parseStatusArgs>["values"];
  let positionals: string[];
  try {
    ({ values, positionals } = parseStatusArgs(goStyle(args)));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { kind: "usage-error", message, help: STATUS_HELP };
  }
  if (values.help) return { kind: "help", text: STATUS_HELP };
  if (positionals.length > 1)
    return {
      kind: "usage-error",
      message: "this command takes at most one argument: <job>",
      help: STATUS_HELP,
    };
  const empty = Object.entries(values).find(([, value]) => value === "");
  if (empty) return { kind: "usage-error", message: `-${empty[0]} needs a value`, help: STATUS_HELP };
  const namespace = values.namespace ?? "*";
  return {
    kind: "status",
    options: {
      connection: connectionOf(values, env),
      namespace: namespace === "*" ? undefined : namespace,
      monitorNamespace: values["monitor-namespace"] ?? "default",
      monitorJob: values["monitor-job"] ?? "idle-monitor",
      json: values.json ?? false,
      job: positionals[0],
    },
  };
}

function parseStatusArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...COMMAND_OPTIONS, json: { type: "boolean" } },
  });
}

const CONNECTION_OPTIONS = {
  address: { type: "string" },
  region: { type: "string" },
  "ca-cert": { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
  "tls-server-name": { type: "string" },
  "tls-skip-verify": { type: "boolean" },
} as const;

/** What every command takes: where Nomad is, where the monitor keeps its state, the job's namespace. */
const COMMAND_OPTIONS = {
  ...CONNECTION_OPTIONS,
  help: { type: "boolean", short: "h" },
  namespace: { type: "string" },
  "monitor-namespace": { type: "string" },
  "monitor-job": { type: "string" },
} as const;

type ConnectionValues = {
  [key in keyof typeof CONNECTION_OPTIONS]?: (typeof CONNECTION_OPTIONS)[key]["type"] extends "boolean"
    ? boolean
    : string;
};

/** The `nomad` CLI's environment variables, overridden by its flags. */
function connectionOf(values: ConnectionValues, env: Environment): Connection {
  const text = (name: string) => (env[name]?.trim() ? env[name]?.trim() : undefined);
  return {
    address: values.address ?? text("NOMAD_ADDR") ?? "http://127.0.0.1:4646",
    region: values.region ?? text("NOMAD_REGION"),
    token: text("NOMAD_TOKEN"),
    tls: {
      caCert: values["ca-cert"] ?? text("NOMAD_CACERT"),
      clientCert: values["client-cert"] ?? text("NOMAD_CLIENT_CERT"),
      clientKey: values["client-key"] ?? text("NOMAD_CLIENT_KEY"),
      serverName: values["tls-server-name"] ?? text("NOMAD_TLS_SERVER_NAME"),
      skipVerify: values["tls-skip-verify"] ?? ["1", "true"].includes(text("NOMAD_SKIP_VERIFY") ?? ""),
    },
  };
}

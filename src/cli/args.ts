import { parseArgs } from "node:util";

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

const GENERAL_OPTIONS = `General Options:

  -address=<addr>
    The address of the Nomad server (or unix:///path/to/api.sock). Overrides
    NOMAD_ADDR. Default = http://127.0.0.1:4646

  -region=<region>
    The region of the Nomad servers to forward queries to. Overrides NOMAD_REGION.

  -ca-cert=<path>
    PEM encoded CA certificate to verify the Nomad server's certificate.
    Overrides NOMAD_CACERT.

  -client-cert=<path>
    PEM encoded client certificate for TLS authentication. Overrides
    NOMAD_CLIENT_CERT. Needs -client-key.

  -client-key=<path>
    Unencrypted PEM encoded private key of the client certificate. Overrides
    NOMAD_CLIENT_KEY.

  -tls-server-name=<name>
    The server name to use as the SNI host when connecting via TLS. Overrides
    NOMAD_TLS_SERVER_NAME.

  -tls-skip-verify
    Do not verify the server's certificate (not recommended). Overrides
    NOMAD_SKIP_VERIFY.

  The ACL token is read from NOMAD_TOKEN only (there is no -token flag: a token
  on the command line ends up in the shell history and the process list).`;

const EXIT_CODES = `Exit Codes:

  0  the status was shown
  1  error talking to Nomad (unreachable, TLS, token refused, server error)
  2  usage error (unknown flag, missing value)
  3  status <job>: no monitor watches a job of that ID (not found, or not opted in)
  4  shown, but incomplete: some jobs could not be read with this token (no
     read-job in their namespace); those rows come from the reports alone`;

export const MAIN_HELP = `Usage: nomad-idle-monitor <command> [options] [args]

  Shows what nomad-idle-monitor, the daemon that stops idle Nomad jobs, is about
  to do across the cluster. The daemon itself runs as a Nomad system job
  (node dist/main.js); this is its command-line tool.

Commands:

  status    Show the watched jobs, their idle time and time to action, or why they wait
  wake      Bring back a job the monitor stopped, or a group it scaled to zero

Run "nomad-idle-monitor <command> -help" for a command's options.

${EXIT_CODES}`;

export const STATUS_HELP = `Usage: nomad-idle-monitor status [options] [<job>]

  Shows every job the monitors watch across the cluster: per task group, its
  action, the nodes it runs on, whether it is quiet, for how long, its timeout,
  and the time until it is stopped or scaled to zero, or why it waits. With a
  job ID, shows that job per allocation and node with the last readings.

  It reads what the monitors publish in Nomad Variables (one report per node,
  under nomad/jobs/<monitor job>/activity/, and the claims of past actions under
  .../claims/) and each job with its allocations: one place to ask, no node
  reached directly. Needs a token with nomad/idle-monitor-status-policy.hcl.

  Ages ("idle for", "ago") are measured on the clock of the Nomad agent that
  answers (its HTTP Date header) against each Variable's ModifyTime, set by the
  Nomad servers: never on this machine's clock. Without a Date header the local
  clock is used, and the JSON output says so ("ageClock": "local").

${GENERAL_OPTIONS}

Status Options:

  -namespace=<namespace>
    Only jobs in this namespace. Default: all namespaces ("*"); NOMAD_NAMESPACE
    is not read, so that a shell set up for one namespace still sees every job.

  -monitor-namespace=<namespace>
    The namespace of the monitor's job, where its Variables are. Default = default

  -monitor-job=<job ID>
    The ID of the monitor's job, which names its Variables. Default = idle-monitor

  -json
    Output as JSON, for scripts (durations in milliseconds).

${EXIT_CODES}`;

export const WAKE_HELP = `Usage: nomad-idle-monitor wake [options] <job>

  Undoes what the monitor did to a job: registers the job again exactly as it
  was when the monitor stopped it (even after Nomad garbage-collected it), or
  scales the groups it scaled to zero back to the counts they had. Only what
  the monitor did can be undone: when it acts, it records what it needs under
  nomad/jobs/<monitor job>/wake/ in its namespace, and wake removes the record
  once the job is back. Needs a token with nomad/idle-monitor-wake-policy.hcl.

${GENERAL_OPTIONS}

Wake Options:

  -namespace=<namespace>
    The job's namespace. Default = default

  -group=<group>
    Only this group, of the groups the monitor scaled to zero.

  -monitor-namespace=<namespace>
    The namespace of the monitor's job, where its Variables are. Default = default

  -monitor-job=<job ID>
    The ID of the monitor's job, which names its Variables. Default = idle-monitor

Exit Codes:

  0  the job (or group) was brought back, or was already running
  1  error talking to Nomad (unreachable, TLS, token refused, server error)
  2  usage error (unknown flag, missing value)
  3  no record: the monitor did not stop or scale this job (or group)`;

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

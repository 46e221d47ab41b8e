// The CLI's help texts, laid out as `nomad`'s own commands lay theirs out.

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
  1  error talking to Nomad (unreachable, TLS, token refused, server error), or
     no token (or one without the status policy) on a cluster with ACLs
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
  1  error talking to Nomad (unreachable, TLS, token refused, server error), or
     no token (or one without the wake policy) on a cluster with ACLs
  2  usage error (unknown flag, missing value)
  3  no record: the monitor did not stop or scale this job (or group)`;

// The keys Nomad documents for each job-spec block (Nomad 1.8–1.10 job specification docs,
// cross-checked with the `hcl:"…"` tags of Nomad's api package and, for the docker driver's
// `config`, with drivers/docker/config.go `taskConfigSpec`). A generic HCL parser accepts any
// key, so a typo such as `kill_timout` would pass silently; checking against these lists does not.
// Blocks that none of the project's files use (vault, consul, secret, action, …) are left
// out on purpose: a file that needs one fails the check until its documented keys are added here.

/** The keys a block may hold: plain attributes, nested blocks, and maps that take either form. */
export interface BlockSchema {
  readonly attributes?: readonly string[];
  /** Attributes whose value is a free-form string map (`meta`, `env`): `key = { … }` or `key { … }`. */
  readonly maps?: readonly string[];
  readonly blocks?: Readonly<Record<string, NestedBlock>>;
  /** For a task: the schema of its `config` block, by the task's `driver`. */
  readonly driverConfigs?: Readonly<Record<string, BlockSchema>>;
}

export interface NestedBlock {
  readonly schema: BlockSchema;
  /** Blocks written with one label, e.g. `group "web" { … }`. */
  readonly labeled?: boolean;
}

const constraint: BlockSchema = { attributes: ["attribute", "operator", "value"] };
const affinity: BlockSchema = { attributes: ["attribute", "operator", "value", "weight"] };
const spread: BlockSchema = {
  attributes: ["attribute", "weight"],
  blocks: { target: { labeled: true, schema: { attributes: ["percent"] } } },
};

const restart: BlockSchema = { attributes: ["attempts", "delay", "interval", "mode", "render_templates"] };
const reschedule: BlockSchema = {
  attributes: ["attempts", "interval", "delay", "delay_function", "max_delay", "unlimited"],
};
const update: BlockSchema = {
  attributes: [
    "max_parallel",
    "health_check",
    "min_healthy_time",
    "healthy_deadline",
    "progress_deadline",
    "auto_revert",
    "auto_promote",
    "canary",
    "stagger",
  ],
};
const migrate: BlockSchema = {
  attributes: ["max_parallel", "health_check", "min_healthy_time", "healthy_deadline"],
};

const port: BlockSchema = { attributes: ["static", "to", "host_network", "ignore_collision"] };
const network: BlockSchema = {
  attributes: ["mode", "hostname", "mbits"],
  blocks: {
    port: { labeled: true, schema: port },
    dns: { schema: { attributes: ["servers", "searches", "options"] } },
    cni: { schema: { maps: ["args"] } },
  },
};

const resources: BlockSchema = {
  attributes: ["cpu", "cores", "memory", "memory_max"],
  blocks: {
    device: {
      labeled: true,
      schema: { attributes: ["count"], blocks: { constraint: { schema: constraint } } },
    },
    numa: { schema: { attributes: ["affinity", "devices"] } },
  },
};

const logs: BlockSchema = { attributes: ["max_files", "max_file_size", "disabled", "enabled"] };

const identity: BlockSchema = {
  attributes: ["name", "aud", "change_mode", "change_signal", "env", "file", "filepath", "ttl"],
};

// api/services.go at Nomad v1.6.5: the `hcl:"…"` tags of ServiceCheck, CheckRestart and Service
// (Connect is left out: no file uses it).
const checkRestart: BlockSchema = { attributes: ["limit", "grace", "ignore_warnings"] };
const serviceCheck: BlockSchema = {
  attributes: [
    "name",
    "type",
    "command",
    "args",
    "path",
    "protocol",
    "port",
    "expose",
    "address_mode",
    "advertise",
    "interval",
    "timeout",
    "initial_status",
    "tls_server_name",
    "tls_skip_verify",
    "method",
    "grpc_service",
    "grpc_use_tls",
    "task",
    "success_before_passing",
    "failures_before_critical",
    "body",
    "on_update",
  ],
  maps: ["header"],
  blocks: { check_restart: { schema: checkRestart } },
};
const service: BlockSchema = {
  attributes: [
    "name",
    "tags",
    "canary_tags",
    "enable_tag_override",
    "port",
    "address_mode",
    "address",
    "task",
    "on_update",
    "provider",
  ],
  maps: ["meta", "canary_meta", "tagged_addresses"],
  blocks: { check: { schema: serviceCheck }, check_restart: { schema: checkRestart } },
};

const lifecycle: BlockSchema = { attributes: ["hook", "sidecar"] };

const scaling: BlockSchema = { attributes: ["min", "max", "enabled"], maps: ["policy"] };

// drivers/docker/config.go: mountBodySpec. Note `readonly`, not `read_only` as in volume_mount.
const dockerMount: BlockSchema = {
  attributes: ["type", "target", "source", "readonly"],
  blocks: {
    bind_options: { schema: { attributes: ["propagation"] } },
    tmpfs_options: { schema: { attributes: ["size", "mode"] } },
    volume_options: {
      schema: {
        attributes: ["no_copy"],
        maps: ["labels"],
        blocks: { driver_config: { schema: { attributes: ["name"], maps: ["options"] } } },
      },
    },
  },
};

// drivers/docker/config.go: taskConfigSpec.
const dockerTaskConfig: BlockSchema = {
  attributes: [
    "image",
    "advertise_ipv6_address",
    "args",
    "auth_soft_fail",
    "cap_add",
    "cap_drop",
    "command",
    "cpuset_cpus",
    "cpu_hard_limit",
    "cpu_cfs_period",
    "dns_search_domains",
    "dns_options",
    "dns_servers",
    "entrypoint",
    "extra_hosts",
    "force_pull",
    "group_add",
    "hostname",
    "init",
    "interactive",
    "ipc_mode",
    "ipv4_address",
    "ipv6_address",
    "isolation",
    "load",
    "mac_address",
    "memory_hard_limit",
    "network_aliases",
    "network_mode",
    "runtime",
    "pids_limit",
    "pid_mode",
    "ports",
    "port_map",
    "privileged",
    "image_pull_timeout",
    "readonly_rootfs",
    "security_opt",
    "shm_size",
    "tty",
    "ulimit",
    "uts_mode",
    "userns_mode",
    "volumes",
    "volume_driver",
    "work_dir",
    "mounts",
  ],
  maps: ["labels", "storage_opt", "sysctl"],
  blocks: {
    auth: { schema: { attributes: ["username", "password", "email", "server_address"] } },
    devices: { schema: { attributes: ["host_path", "container_path", "cgroup_permissions"] } },
    healthchecks: { schema: { attributes: ["disable"] } },
    logging: { schema: { attributes: ["type", "driver"], maps: ["config"] } },
    mount: { schema: dockerMount },
  },
};

const task: BlockSchema = {
  attributes: ["driver", "user", "kill_timeout", "kill_signal", "leader", "shutdown_delay"],
  maps: ["env", "meta"],
  // Only the drivers the project's job files use.
  driverConfigs: { docker: dockerTaskConfig },
  blocks: {
    artifact: {
      schema: { attributes: ["source", "destination", "mode", "chown"], maps: ["options", "headers"] },
    },
    constraint: { schema: constraint },
    affinity: { schema: affinity },
    identity: { schema: identity },
    lifecycle: { schema: lifecycle },
    logs: { schema: logs },
    resources: { schema: resources },
    restart: { schema: restart },
    template: {
      schema: {
        attributes: [
          "source",
          "destination",
          "data",
          "change_mode",
          "change_signal",
          "splay",
          "perms",
          "uid",
          "gid",
          "left_delimiter",
          "right_delimiter",
          "env",
          "error_on_missing_key",
        ],
      },
    },
    volume_mount: {
      schema: { attributes: ["volume", "destination", "read_only", "propagation_mode", "selinux_label"] },
    },
  },
};

const group: BlockSchema = {
  attributes: [
    "count",
    "shutdown_delay",
    "max_client_disconnect",
    "stop_after_client_disconnect",
    "prevent_reschedule_on_lost",
  ],
  maps: ["meta"],
  blocks: {
    task: { labeled: true, schema: task },
    constraint: { schema: constraint },
    affinity: { schema: affinity },
    spread: { schema: spread },
    ephemeral_disk: { schema: { attributes: ["migrate", "size", "sticky"] } },
    migrate: { schema: migrate },
    network: { schema: network },
    reschedule: { schema: reschedule },
    restart: { schema: restart },
    scaling: { schema: scaling },
    service: { schema: service },
    update: { schema: update },
    disconnect: { schema: { attributes: ["lost_after", "stop_on_client_after", "replace", "reconcile"] } },
    volume: {
      labeled: true,
      schema: { attributes: ["type", "source", "read_only", "access_mode", "attachment_mode", "per_alloc"] },
    },
  },
};

const job: BlockSchema = {
  attributes: [
    "all_at_once",
    "datacenters",
    "name",
    "namespace",
    "node_pool",
    "priority",
    "region",
    "type",
    "vault_token",
    "consul_token",
  ],
  maps: ["meta"],
  blocks: {
    group: { labeled: true, schema: group },
    constraint: { schema: constraint },
    affinity: { schema: affinity },
    spread: { schema: spread },
    migrate: { schema: migrate },
    reschedule: { schema: reschedule },
    update: { schema: update },
    periodic: { schema: { attributes: ["cron", "crons", "prohibit_overlap", "time_zone", "enabled"] } },
    parameterized: { schema: { attributes: ["meta_optional", "meta_required", "payload"] } },
    ui: {
      schema: { attributes: ["description"], blocks: { link: { schema: { attributes: ["label", "url"] } } } },
    },
  },
};

/** A job file: HCL2 input variables, locals, and one job. */
export const jobFile: BlockSchema = {
  maps: ["locals"],
  blocks: {
    variable: {
      labeled: true,
      schema: {
        attributes: ["type", "default", "description"],
        blocks: { validation: { schema: { attributes: ["condition", "error_message"] } } },
      },
    },
    job: { labeled: true, schema: job },
  },
};

/** An ACL policy file (Nomad's ACL policy specification). */
export const aclPolicyFile: BlockSchema = {
  blocks: {
    namespace: {
      labeled: true,
      schema: {
        attributes: ["policy", "capabilities"],
        blocks: {
          variables: {
            schema: { blocks: { path: { labeled: true, schema: { attributes: ["capabilities"] } } } },
          },
        },
      },
    },
    node: { schema: { attributes: ["policy"] } },
    agent: { schema: { attributes: ["policy"] } },
    operator: { schema: { attributes: ["policy"] } },
    quota: { schema: { attributes: ["policy"] } },
    plugin: { schema: { attributes: ["policy"] } },
    host_volume: { labeled: true, schema: { attributes: ["policy", "capabilities"] } },
    node_pool: { labeled: true, schema: { attributes: ["policy", "capabilities"] } },
  },
};

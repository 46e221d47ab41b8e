# nomad-idle-monitor: one allocation on every client node (a system job). On its
# node it watches the allocations of opted-in jobs, measures their containers'
# network traffic and stops (or scales to zero) what has been idle too long.
#
#   nomad job run -var image=registry.example.com/nomad-idle-monitor:0.1.0 nomad/idle-monitor.nomad.hcl
#
# Every client needs the Docker plugin to allow host mounts (for the Docker
# socket, /proc and /sys/fs/cgroup below):
#
#   plugin "docker" {
#     config {
#       volumes {
#         enabled = true
#       }
#     }
#   }
#
# The monitor never acts on itself: it skips its own job (NOMAD_JOB_ID), this job
# carries no idle-monitor.* meta (so it never opted in), and system jobs are never
# acted on.

variable "image" {
  type        = string
  description = "Container image of the monitor, e.g. registry.example.com/nomad-idle-monitor:0.1.0."
}

variable "datacenters" {
  type        = list(string)
  description = "Datacenters to run in; the monitor must run wherever opted-in jobs run."
  default     = ["*"]
}

variable "node_pool" {
  type        = string
  description = "Node pool to run in. The built-in \"all\" pool covers every client, whatever its pool."
  default     = "all"
}

variable "namespace" {
  type        = string
  description = "Namespace of the monitor job; the token Variable is read from this namespace."
  default     = "default"
}

# The task API socket (Nomad >= 1.5) needs no network or TLS settings but always wants a real
# token, which a cluster without ACLs cannot issue: there, pass the agent's HTTP address (README).
variable "nomad_addr" {
  type        = string
  description = "Where the monitor reaches the Nomad API."
  default     = "unix:///secrets/api.sock"
}

variable "dry_run" {
  type        = bool
  description = "Decide and log, but never stop or scale anything."
  default     = false
}

# The monitor's settings (README "Configuration"). Nomad checks each value when the job is parsed,
# before anything is submitted: `nomad job run -var check_interval=soon …` fails with the
# error_message. Nomad 1.6's job parser has regex_replace but no regex(): a pattern that matches the
# whole value replaces it with "", so `regex_replace(v, "^…$", "") == ""` (with v != "") means "v
# matches". Ranges the form cannot express (CHECK_INTERVAL at least 100ms, IDLE_TIMEOUT at least
# CHECK_INTERVAL) the monitor checks at start and exits naming the setting.

variable "check_interval" {
  type        = string
  description = "How often the monitor samples its node's opted-in allocations (CHECK_INTERVAL): a duration such as \"30s\" or \"1m\"."
  default     = "60s"

  validation {
    condition     = var.check_interval != "" && regex_replace(var.check_interval, "^([0-9]+|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$", "") == ""
    error_message = "The check_interval must be a duration such as \"30s\", \"1m\" or \"1m30s\" (units ns, us, ms, s, m, h), or a whole number of seconds."
  }
}

variable "idle_timeout" {
  type        = string
  description = "Default idle timeout of opted-in groups without idle-monitor.timeout meta (IDLE_TIMEOUT): a duration such as \"15m\", at least check_interval."
  default     = "15m"

  validation {
    condition     = var.idle_timeout != "" && regex_replace(var.idle_timeout, "^([0-9]+|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$", "") == ""
    error_message = "The idle_timeout must be a duration such as \"15m\", \"1h\" or \"1h30m\" (units ns, us, ms, s, m, h), or a whole number of seconds."
  }
}

variable "activity_threshold" {
  type        = number
  description = "Default activity threshold (ACTIVITY_THRESHOLD): bytes received plus sent per check_interval at or below which a group counts as quiet."
  default     = 500

  validation {
    condition     = var.activity_threshold >= 0 && floor(var.activity_threshold) == var.activity_threshold
    error_message = "The activity_threshold must be a whole number of bytes, 0 or more, such as 500."
  }
}

variable "namespaces" {
  type        = string
  description = "Namespaces the monitor may act in (NAMESPACES): \"*\" for all, or a comma-separated list such as \"dev,preview\"."
  default     = "*"

  validation {
    condition     = var.namespaces == "*" || (var.namespaces != "" && regex_replace(var.namespaces, "^[a-zA-Z0-9-]{1,128}( *, *[a-zA-Z0-9-]{1,128})*$", "") == "")
    error_message = "The namespaces must be \"*\" or a comma-separated list of namespace names such as \"dev,preview\"."
  }
}

variable "log_level" {
  type        = string
  description = "Log level (LOG_LEVEL): trace, debug, info, warn, error, fatal or silent."
  default     = "info"

  validation {
    condition     = contains(["trace", "debug", "info", "warn", "error", "fatal", "silent"], var.log_level)
    error_message = "The log_level must be one of trace, debug, info, warn, error, fatal, silent."
  }
}

variable "http_port" {
  type        = number
  description = "Port the monitor serves /metrics, /healthz, /readyz and /v1/status on inside its container (HTTP_LISTEN 0.0.0.0:<port>); Nomad maps a dynamic port of the node to it."
  default     = 9464

  validation {
    condition     = var.http_port >= 1 && var.http_port <= 65535 && floor(var.http_port) == var.http_port
    error_message = "The http_port must be a whole number from 1 to 65535."
  }
}

# Webhooks (README "Webhooks"): events are signed with the item webhook_secret of the token Variable.
# A webhook URL set here is visible to whoever may read this job.
variable "webhook_url" {
  type        = string
  description = "Where every event (stopped, scaled, failed, ...) is POSTed (WEBHOOK_URL): an http:// or https:// URL, or \"\" for none."
  default     = ""

  validation {
    condition     = var.webhook_url == "" || regex_replace(var.webhook_url, "^https?://[^/?# ]+([/?#][^ ]*)?$", "") == ""
    error_message = "The webhook_url must be \"\" or an http:// or https:// URL such as \"https://hooks.example.com/nomad\"."
  }
}

variable "webhook_allowed_hosts" {
  type        = string
  description = "Hosts a job's own idle-monitor.webhook may name (WEBHOOK_ALLOWED_HOSTS): a comma-separated list of host or host:port, or \"\" for none."
  default     = ""

  validation {
    condition     = var.webhook_allowed_hosts == "" || regex_replace(var.webhook_allowed_hosts, "^[^/ ,]+( *, *[^/ ,]+)*$", "") == ""
    error_message = "The webhook_allowed_hosts must be \"\" or a comma-separated list of host or host:port without scheme or path, such as \"hooks.example.com,10.0.0.5:8080\"."
  }
}

variable "webhook_format" {
  type        = string
  description = "Body of the webhook requests (WEBHOOK_FORMAT): json, or slack for a Slack-compatible text message."
  default     = "json"

  validation {
    condition     = contains(["json", "slack"], var.webhook_format)
    error_message = "The webhook_format must be json or slack."
  }
}

# The job ID decides the token Variable path: a task's workload identity may read
# nomad/jobs/<its job ID> by default, and TOKEN_VARIABLE below follows the ID.
job "idle-monitor" {
  type        = "system"
  datacenters = var.datacenters
  node_pool   = var.node_pool
  namespace   = var.namespace

  # /proc and the per-namespace counters it holds are Linux-only.
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  # One node at a time, so a bad image never takes the monitor away everywhere at once.
  # For system jobs only max_parallel and stagger apply.
  update {
    max_parallel = 1
    stagger      = "30s"
  }

  group "monitor" {
    # The monitor's HTTP listener: a dynamic port of the node, mapped to http_port in the container.
    network {
      port "http" {
        to = var.http_port
      }
    }

    # Registered in Nomad's own service catalog (no Consul needed), one instance per node. Prometheus
    # finds the instances with nomad_sd_configs and keeps those tagged "metrics" (README "Deploy on
    # Nomad"). The check makes the Nomad UI show each node's monitor as healthy or not. It has no
    # check_restart, on purpose: /readyz fails while Docker is unreachable, and restarting the monitor
    # would not bring Docker back, only turn an outage into a restart loop.
    service {
      name     = "idle-monitor"
      provider = "nomad"
      port     = "http"
      tags     = ["metrics"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # A system job is not rescheduled elsewhere: keep restarting in place, slowly.
    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    task "monitor" {
      driver = "docker"

      config {
        image = var.image

        # Nothing in the container needs to write to its own filesystem or hold a
        # capability: the socket is owned by root (the container's user) and
        # /proc/<pid>/net/dev is world-readable.
        readonly_rootfs = true
        cap_drop        = ["all"]
        ports           = ["http"]

        # Read-only stops writes to the socket file, not API calls through it:
        # this mount grants full control of the node's Docker Engine.
        mount {
          type     = "bind"
          source   = "/var/run/docker.sock"
          target   = "/var/run/docker.sock"
          readonly = true
        }

        # The host's /proc: network counters of other containers' namespaces.
        mount {
          type     = "bind"
          source   = "/proc"
          target   = "/host/proc"
          readonly = true
        }

        # The host's cgroups: containers' CPU time, for jobs with idle-monitor.cpu
        # (README "Activity signals beyond bytes"). The container's own /sys/fs/cgroup
        # shows only its own cgroup, so the host's goes beside it.
        mount {
          type     = "bind"
          source   = "/sys/fs/cgroup"
          target   = "/host/sys/fs/cgroup"
          readonly = true
        }
      }

      # NOMAD_TOKEN = this task's workload identity; it may only read the token
      # Variable, which holds the action token used for everything else.
      identity {
        env = true
      }

      env {
        # No NOMAD_NODE_ID exists inside a task: pass the node's ID in.
        NOMAD_NODE_ID = "${node.unique.id}"
        NOMAD_ADDR     = var.nomad_addr
        TOKEN_VARIABLE = "nomad/jobs/${NOMAD_JOB_ID}"
        PROC_ROOT      = "/host/proc"
        CGROUP_ROOT    = "/host/sys/fs/cgroup"
        DOCKER_HOST    = "unix:///var/run/docker.sock"
        DRY_RUN        = var.dry_run
        # Inside the container, on the port the group's network block maps (the default 127.0.0.1
        # would be unreachable from Nomad's check and from Prometheus).
        HTTP_LISTEN           = "0.0.0.0:${var.http_port}"
        CHECK_INTERVAL        = var.check_interval
        IDLE_TIMEOUT          = var.idle_timeout
        ACTIVITY_THRESHOLD    = var.activity_threshold
        NAMESPACES            = var.namespaces
        LOG_LEVEL             = var.log_level
        WEBHOOK_URL           = var.webhook_url
        WEBHOOK_ALLOWED_HOSTS = var.webhook_allowed_hosts
        WEBHOOK_FORMAT        = var.webhook_format
      }

      # The monitor exits within 5s of SIGTERM; leave room before Docker's SIGKILL.
      kill_timeout = "15s"

      resources {
        cpu    = 100
        memory = 128
      }

      logs {
        max_files     = 5
        max_file_size = 10
      }
    }
  }
}

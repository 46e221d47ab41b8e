# nomad-idle-monitor: one allocation on every client node (a system job). On its
# node it watches the allocations of opted-in jobs, measures their containers'
# network traffic and stops (or scales to zero) what has been idle too long.
#
#   nomad job run -var image=registry.example.com/nomad-idle-monitor:0.1.0 nomad/idle-monitor.nomad.hcl
#
# Every client needs the Docker plugin to allow host mounts (for the Docker
# socket and /proc below):
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
        DOCKER_HOST    = "unix:///var/run/docker.sock"
        DRY_RUN        = var.dry_run
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

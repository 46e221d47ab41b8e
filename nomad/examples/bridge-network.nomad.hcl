# A job in bridge networking: its tasks share one network namespace held by
# Nomad's pause container (nomad_init_<alloc id>). The monitor finds every
# container of the allocation by its alloc ID label and counts the shared
# namespace once, from the host's /proc (Docker reports no network stats here).
#
# Bridge mode needs the CNI plugins on the client (see Nomad's network docs).

job "notebook" {
  type = "service"

  meta = {
    "idle-monitor.enabled" = "true"
    "idle-monitor.timeout" = "2h"
  }

  group "notebook" {
    network {
      mode = "bridge"

      port "http" {
        to = 8888
      }
    }

    task "jupyter" {
      driver = "docker"

      config {
        image = "quay.io/jupyter/base-notebook:2024-12-31"
        ports = ["http"]
      }

      resources {
        cpu    = 1000
        memory = 2048
      }
    }

    # Shares the jupyter task's namespace: its traffic counts for the same allocation.
    task "log-shipper" {
      driver = "docker"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      config {
        image = "fluent/fluent-bit:3.2"
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}

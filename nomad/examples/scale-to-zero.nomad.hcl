# A preview deployment whose web group is scaled to zero after an hour without
# traffic, instead of the whole job being stopped. The job stays registered, so
# `nomad job scale preview-pr-1234 web 1` (or the UI) brings it back; the scaling
# event's message in the UI says why it went to zero.
#
# Only the opted-in group is touched: the worker group carries no idle-monitor meta.

job "preview-pr-1234" {
  type = "service"

  group "web" {
    count = 1

    meta = {
      "idle-monitor.enabled"   = "true"
      "idle-monitor.action"    = "scale-to-zero"
      "idle-monitor.timeout"   = "1h"
      "idle-monitor.threshold" = "2048"
    }

    # Only needed if the group is autoscaled: Nomad refuses a count below min,
    # so min must be 0 for the monitor to scale the group down.
    scaling {
      min = 0
      max = 3
    }

    network {
      port "http" {
        to = 3000
      }
    }

    task "app" {
      driver = "docker"

      config {
        image = "registry.example.com/shop/web:pr-1234"
        ports = ["http"]
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }

  group "worker" {
    task "queue-consumer" {
      driver = "docker"

      config {
        image = "registry.example.com/shop/worker:pr-1234"
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}

# A team's shared dev environment on a calendar: never stopped for idleness during
# working hours (Berlin time), stopped every weekday evening whatever its activity,
# and brought back — as it was, even after Nomad garbage-collected it — before
# people arrive. Outside working hours an hour without traffic stops it earlier.
# Over the holidays nothing touches it: exclude-until wins over every schedule.

job "dev-team-shop" {
  type = "service"

  meta = {
    "idle-monitor.enabled"       = "true"
    "idle-monitor.timeout"       = "1h"
    "idle-monitor.keep-alive"    = "* 8-18 * * 1-5"
    "idle-monitor.stop-at"       = "0 20 * * 1-5"
    "idle-monitor.start-at"      = "30 7 * * 1-5"
    "idle-monitor.timezone"      = "Europe/Berlin"
    "idle-monitor.exclude-until" = "2027-01-06"
  }

  group "web" {
    network {
      port "http" {
        to = 3000
      }
    }

    task "app" {
      driver = "docker"

      config {
        image = "registry.example.com/shop/dev:latest"
        ports = ["http"]
      }

      resources {
        cpu    = 500
        memory = 1024
      }
    }
  }
}

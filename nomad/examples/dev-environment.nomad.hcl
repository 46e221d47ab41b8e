# A personal development environment that nobody needs once its owner stops
# using it: stopped after 30 minutes without network traffic.
#
# Dotted keys need the map form of meta (meta = { ... }); the block form
# (meta { ... }) only takes bare identifiers.

job "dev-alice" {
  type = "service"

  meta = {
    "idle-monitor.enabled" = "true"
    "idle-monitor.timeout" = "30m"
  }

  group "workspace" {
    network {
      port "http" {
        to = 8080
      }
    }

    task "code-server" {
      driver = "docker"

      config {
        image = "codercom/code-server:4.96.4"
        ports = ["http"]
      }

      resources {
        cpu    = 500
        memory = 1024
      }
    }
  }
}

# Nomad client agent configuration that every client running the monitor needs:
# it lets docker tasks bind host paths (the monitor mounts the Docker socket and
# the host's /proc, both read-only). Merge it into the client's agent config and
# restart the agent.
#
# This allows bind mounts for every job on the client, not only the monitor;
# control who may submit jobs with ACLs.

plugin "docker" {
  config {
    volumes {
      enabled = true
    }
  }
}

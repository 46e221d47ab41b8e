# ACL policy for `nomad-idle-monitor status`: read-only. It lets an operator (or a dashboard's token)
# see what the monitors published and the jobs they watch, and nothing else.
#
#   nomad acl policy apply -description "nomad-idle-monitor status (read-only)" \
#     idle-monitor-status nomad/idle-monitor-status-policy.hcl
#   nomad acl token create -name="idle-monitor status" -policy=idle-monitor-status -type=client
#
# What status reads:
#   GET /v1/vars?prefix=nomad/jobs/idle-monitor/   the reports and claims (list)
#   GET /v1/var/nomad/jobs/idle-monitor/activity/… each node's report (read)
#   GET /v1/var/nomad/jobs/idle-monitor/claims/…   the last action on each job (read)
#   GET /v1/job/:id, GET /v1/job/:id/allocations   each watched job's meta and allocations (read-job)
#
# Only the activity/ and claims/ subtrees, never nomad/jobs/idle-monitor/* as a whole: the Variable
# nomad/jobs/idle-monitor itself holds the action token, and other subtrees of the monitor's path may
# hold job specifications. Nomad's list answers leave out what a token may not list, so the prefix list
# above returns only these two subtrees.
#
# The monitor in another namespace or under another job ID: change "default" and the paths below.
# Watched jobs only in some namespaces: replace `namespace "*"` with one rule per namespace.

namespace "*" {
  capabilities = ["read-job"]
}

# The monitor's namespace. In Nomad an exact namespace rule replaces the "*" rule for that namespace
# instead of merging with it, so read-job is repeated here.
namespace "default" {
  capabilities = ["read-job"]

  variables {
    path "nomad/jobs/idle-monitor/activity/*" {
      capabilities = ["read", "list"]
    }
    path "nomad/jobs/idle-monitor/claims/*" {
      capabilities = ["read", "list"]
    }
  }
}

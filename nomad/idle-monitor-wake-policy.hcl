# ACL policy for `nomad-idle-monitor wake`: bring back a job the monitor stopped, or a group it scaled
# to zero. Give it to whoever may do that (it can register jobs), not to the read-only status token.
#
#   nomad acl policy apply -description "nomad-idle-monitor wake" idle-monitor-wake nomad/idle-monitor-wake-policy.hcl
#   nomad acl token create -name="idle-monitor wake" -policy=idle-monitor-wake -type=client
#
# What wake does:
#   GET    /v1/vars?prefix=nomad/jobs/idle-monitor/wake/…   the record the monitor kept (list)
#   GET    /v1/var/nomad/jobs/idle-monitor/wake/…           its parts (read): they may hold the job's
#                                                          specification as it was submitted
#   DELETE /v1/var/nomad/jobs/idle-monitor/wake/…           the record, once the job is back (destroy)
#   GET    /v1/job/:id                                     is it still as the monitor left it? (read-job)
#   POST   /v1/jobs                                        register it again as it was, with EnforceIndex:
#                                                          only over the job the monitor stopped (submit-job)
#   POST   /v1/job/:id/scale                               a group back to its count (submit-job)
#
# The monitor in another namespace or under another job ID: change "default" and the path below.
# Jobs only in some namespaces: replace `namespace "*"` with one rule per namespace.

namespace "*" {
  capabilities = ["read-job", "submit-job"]
}

# The monitor's namespace. In Nomad an exact namespace rule replaces the "*" rule for that namespace
# instead of merging with it, so the job capabilities are repeated here.
namespace "default" {
  capabilities = ["read-job", "submit-job"]

  variables {
    path "nomad/jobs/idle-monitor/wake/*" {
      capabilities = ["read", "list", "write", "destroy"]
    }
  }
}

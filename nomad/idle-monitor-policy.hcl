# ACL policy for the monitor's action token: the least it needs, nothing more.
#
#   nomad acl policy apply -description "nomad-idle-monitor action token" idle-monitor nomad/idle-monitor-policy.hcl
#
# The token made with it is stored in the Nomad Variable nomad/jobs/idle-monitor
# (item "token"); the monitor reads it there with its workload identity.

# "*" covers every namespace. To let the monitor act only in some, list them here
# one rule each (namespace "dev" { ... }) and set NAMESPACES in the job's env to match.
namespace "*" {
  capabilities = [
    # read-job:
    #   GET /v1/event/stream?topic=Allocation&topic=Job  (allocation and job events)
    #   GET /v1/node/:node_id/allocations                 (with node read, below)
    #   GET /v1/allocation/:alloc_id                      (own node ID when NOMAD_NODE_ID is unset)
    #   GET /v1/job/:job_id                               (job type, meta, stopped or not)
    #   GET /v1/job/:job_id/allocations                   (does the job also run on other nodes?)
    "read-job",

    # submit-job:
    #   DELETE /v1/job/:job_id                            (stop an idle job; never purge)
    #   POST   /v1/job/:job_id/scale                      (scale an idle group to zero)
    # An operator who only ever uses idle-monitor.action = "scale-to-zero" can
    # replace it with "scale-job", which allows the scale call but not stopping.
    "submit-job",
  ]
}

# node read:
#   GET /v1/node/:node_id/allocations                     (the node's allocations, with read-job)
node {
  policy = "read"
}

# ACL policy for the monitor's own workload identity — not the action token. With it, each node's
# monitor publishes what it measured and reads what the others published, so that a job whose
# allocations run on several nodes is stopped only when every one of them is idle, and so that idle
# timers and cooldowns survive a monitor restart.
#
# Attach it to the monitor's job, in the monitor's namespace:
#
#   nomad acl policy apply -namespace default -job idle-monitor \
#     -description "nomad-idle-monitor shared state" idle-monitor-state nomad/idle-monitor-state-policy.hcl
#
# Attached with -job, it joins the workload identity of every allocation of idle-monitor and no other
# token. By default a task's workload identity may only read and list the Variables nomad/jobs,
# nomad/jobs/<job>, .../<group> and .../<task> — no sub-paths and no writes — hence this policy.
# Running the monitor in another namespace or under another job ID: change "default" and the path
# below to match, and pass the same -namespace and -job.
namespace "default" {
  variables {
    # nomad/jobs/idle-monitor/activity/<node>/<part>  each node's report (written by that node only)
    # nomad/jobs/idle-monitor/claims/<job>             one claim per action, so one node only acts
    # destroy: reports of nodes that are gone and expired claims are removed by any monitor.
    path "nomad/jobs/idle-monitor/*" {
      capabilities = ["read", "list", "write", "destroy"]
    }
  }
}

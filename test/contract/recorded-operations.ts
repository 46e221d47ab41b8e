/**
 * Which operation of openapi/nomad.yaml each recorded `.http` answer belongs to (see the fixtures'
 * READMEs), over every recorded version: a version's folder holds some of them.
 */
export const RECORDED_OPERATIONS: Record<string, string> = {
  "allocation-bridge-mode.http": "getAllocation",
  "allocation-host-mode.http": "getAllocation",
  "err-403-no-capability.http": "getJob",
  "err-403-unknown-token.http": "getJob",
  "err-anonymous.http": "getJob",
  "err-stream-no-capability.http": "streamEvents",
  "err-var-read-by-action-token.http": "readVariable",
  "job-404.http": "getJob",
  "job-after-stop.http": "getJob",
  "job-allocations.http": "listJobAllocations",
  "job-scale-bad-group.http": "scaleTaskGroup",
  "job-scale-post.http": "scaleTaskGroup",
  "job-scale-status-after.http": "getJobScaleStatus",
  "job-scale-status.http": "getJobScaleStatus",
  "job-stop-again.http": "stopJob",
  "job-stop-delete.http": "stopJob",
  "job-with-service-check.http": "getJob",
  "job.http": "getJob",
  "node-allocations-blocking.http": "listNodeAllocations",
  "node-allocations.http": "listNodeAllocations",
  "server-outage-node-allocations.http": "listNodeAllocations",
  "server-outage-stream-subscribe.http": "streamEvents",
  "var-404.http": "readVariable",
  "var-delete-cas-conflict.http": "deleteVariable",
  "var-list-prefix.http": "listVariables",
  "var-put-cas-conflict.http": "writeVariable",
  "var-put-cas-create.http": "writeVariable",
  "var-put-cas-update.http": "writeVariable",
  "var-put-invalid-path.http": "writeVariable",
  "var-put-too-large.http": "writeVariable",
  "var-read.http": "readVariable",
};

/** Recorded answers of endpoints the monitor never calls, so not in its OpenAPI document: why each was recorded. */
export const RECORDED_ELSEWHERE: Record<string, string> = {
  "alloc-checks.http": "check results: the monitor reads the checks from the job spec, never their results",
  "service-info.http":
    "Nomad's service catalog: what Prometheus' nomad_sd_configs reads to find the monitors",
};

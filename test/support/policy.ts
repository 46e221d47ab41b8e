import { type GroupPolicy, groupPolicy, type PolicyDefaults } from "../../src/policy.js";

/** A group policy as the monitor builds it from meta: no schedule, default signals, unless `meta` sets them. */
export function testPolicy(
  settings: Pick<GroupPolicy, "timeoutMs" | "thresholdBytes" | "action">,
  meta: Record<string, string> = {},
  timezone = "UTC",
): GroupPolicy {
  const defaults: PolicyDefaults = { ...settings, checkIntervalMs: 1, timezone };
  const job = { Meta: { "idle-monitor.enabled": "true", "idle-monitor.action": settings.action, ...meta } };
  const result = groupPolicy({ ...job, TaskGroups: [{ Name: "g" }] }, "g", defaults);
  if (result.kind !== "opted-in") throw new Error(`test policy not valid: ${JSON.stringify(result)}`);
  return result.policy;
}

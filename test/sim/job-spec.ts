import { randomUUID } from "node:crypto";
import type {
  JobType,
  NomadJob,
  NomadNetwork,
  NomadScalingPolicy,
  NomadService,
  NomadTask,
  NomadTaskGroup,
  NomadUpdateStrategy,
  SimJob,
  SimService,
  SimTask,
  SimTaskGroup,
} from "./model.js";

const SECOND_NS = 1_000_000_000;

/** The job's fields Nomad derives from the raft log, filled in by the cluster state. */
export type JobBookkeeping =
  | "Status"
  | "Version"
  | "SubmitTime"
  | "CreateIndex"
  | "ModifyIndex"
  | "JobModifyIndex"
  | "Stop";

export type JobSpec = Omit<NomadJob, JobBookkeeping>;

/** Fills Nomad's defaults into a test's job, the way `nomad job run` canonicalizes it. */
export function canonicalizeJob(input: SimJob): JobSpec {
  const type: JobType = input.Type ?? "service";
  const namespace = input.Namespace ?? "default";
  if (input.TaskGroups.length === 0) throw new Error(`job ${input.ID} has no task groups`);
  return {
    Region: "global",
    Namespace: namespace,
    ID: input.ID,
    ParentID: "",
    Name: input.Name ?? input.ID,
    Type: type,
    Priority: 50,
    AllAtOnce: false,
    Datacenters: ["*"],
    NodePool: "default",
    Constraints: null,
    Affinities: null,
    Spreads: null,
    TaskGroups: input.TaskGroups.map((group) => canonicalizeGroup(group, type, namespace, input.ID)),
    Update: {
      AutoPromote: false,
      AutoRevert: false,
      Canary: 0,
      HealthCheck: "",
      HealthyDeadline: 0,
      MaxParallel: type === "service" ? 1 : 0,
      MinHealthyTime: 0,
      ProgressDeadline: 0,
      Stagger: 30 * SECOND_NS,
    },
    Multiregion: null,
    Periodic: null,
    ParameterizedJob: null,
    Dispatched: false,
    DispatchIdempotencyToken: "",
    Payload: null,
    Meta: copyMap(input.Meta),
    ConsulToken: "",
    ConsulNamespace: "",
    VaultToken: "",
    VaultNamespace: "",
    NomadTokenID: "",
    StatusDescription: "",
    Stable: false,
  };
}

function canonicalizeGroup(
  group: SimTaskGroup,
  type: JobType,
  namespace: string,
  jobId: string,
): NomadTaskGroup {
  if (group.Tasks.length === 0) throw new Error(`group ${group.Name} of job ${jobId} has no tasks`);
  const count = group.Count ?? 1;
  const restartPolicy = type === "batch" || type === "sysbatch" ? batchRestart() : serviceRestart();
  return {
    Name: group.Name,
    Count: count,
    Update: group.Update || type === "service" ? { ...serviceUpdate(), ...group.Update } : null,
    Constraints: null,
    Scaling: group.Scaling
      ? scalingPolicy(group.Scaling, count, { Namespace: namespace, Job: jobId, Group: group.Name })
      : null,
    RestartPolicy: restartPolicy,
    ReschedulePolicy: reschedulePolicy(type),
    Migrate: type === "service" ? migrateStrategy() : null,
    Affinities: null,
    Spreads: null,
    Consul: { Namespace: "" },
    MaxClientDisconnect: null,
    StopAfterClientDisconnect: null,
    EphemeralDisk: { Sticky: false, SizeMB: 300, Migrate: false },
    Networks: group.Networks ? group.Networks.map(networkResource) : null,
    Services: services(group.Services, "group"),
    Volumes: null,
    Meta: copyMap(group.Meta),
    Tasks: group.Tasks.map((task) => canonicalizeTask(task, restartPolicy)),
    ShutdownDelay: null,
  };
}

function canonicalizeTask(task: SimTask, restartPolicy: NomadTask["RestartPolicy"]): NomadTask {
  return {
    Name: task.Name,
    Driver: task.Driver,
    User: "",
    Config: task.Config ? structuredClone(task.Config) : null,
    Env: copyMap(task.Env),
    Services: services(task.Services, task.Name),
    Constraints: null,
    Affinities: null,
    Resources: {
      CPU: 100,
      Cores: 0,
      MemoryMB: 300,
      MemoryMaxMB: 0,
      DiskMB: 0,
      IOPS: 0,
      Devices: null,
      Networks: null,
    },
    RestartPolicy: { ...restartPolicy },
    Meta: copyMap(task.Meta),
    KillTimeout: 5 * SECOND_NS,
    LogConfig: { MaxFiles: 10, MaxFileSizeMB: 10, Disabled: false },
    Artifacts: null,
    Templates: null,
    Leader: false,
    ShutdownDelay: 0,
    KillSignal: "",
    Kind: "",
    CSIPluginConfig: null,
    DispatchPayload: null,
    Identity: null,
    Lifecycle: null,
    ScalingPolicies: null,
    Vault: null,
    VolumeMounts: null,
  };
}

/** Nomad's Service.Canonicalize and ServiceCheck.Canonicalize; `taskName` "group" for a group's services. */
function services(input: SimService[] | null | undefined, taskName: string): NomadService[] | null {
  if (!input || input.length === 0) return null;
  const task = taskName === "group" ? "" : taskName;
  return input.map((service) => ({
    Name: service.Name,
    TaskName: task,
    PortLabel: service.PortLabel ?? "",
    AddressMode: "auto",
    Address: "",
    EnableTagOverride: false,
    Tags: service.Tags ? [...service.Tags] : null,
    CanaryTags: null,
    Checks:
      service.Checks && service.Checks.length > 0
        ? service.Checks.map((check) => ({
            Name: check.Name ?? `service: "${service.Name}" check`,
            Type: check.Type,
            Command: "",
            Args: null,
            Path: check.Path ?? "",
            Protocol: "",
            PortLabel: "",
            Expose: false,
            AddressMode: "",
            Interval: check.Interval,
            Timeout: check.Timeout ?? 2 * SECOND_NS,
            InitialStatus: "",
            TLSServerName: "",
            TLSSkipVerify: false,
            Method: "",
            Header: null,
            CheckRestart: null,
            GRPCService: "",
            GRPCUseTLS: false,
            TaskName: task,
            SuccessBeforePassing: 0,
            FailuresBeforeCritical: 0,
            FailuresBeforeWarning: 0,
            Body: "",
            OnUpdate: "require_healthy",
          }))
        : null,
    Connect: null,
    Meta: null,
    CanaryMeta: null,
    TaggedAddresses: null,
    Namespace: "default",
    OnUpdate: "require_healthy",
    Provider: service.Provider ?? "consul",
  }));
}

function scalingPolicy(
  scaling: NonNullable<SimTaskGroup["Scaling"]>,
  count: number,
  target: NomadScalingPolicy["Target"],
): NomadScalingPolicy {
  // Nomad's api.ScalingPolicy.Canonicalize: Min defaults to the group's count, Enabled to true.
  return {
    ID: randomUUID(),
    Type: "horizontal",
    Target: target,
    Policy: null,
    Min: scaling.Min ?? count,
    Max: scaling.Max,
    Enabled: scaling.Enabled ?? true,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

function networkResource(network: NonNullable<SimTaskGroup["Networks"]>[number]): NomadNetwork {
  const ports = network.DynamicPorts ?? [];
  return {
    Mode: network.Mode,
    Device: "",
    CIDR: "",
    IP: "",
    MBits: 0,
    DNS: null,
    ReservedPorts: null,
    DynamicPorts:
      ports.length === 0
        ? null
        : ports.map((port) => ({ Label: port.Label, Value: 0, To: port.To ?? 0, HostNetwork: "default" })),
  };
}

function serviceUpdate(): NomadUpdateStrategy {
  return {
    Stagger: 30 * SECOND_NS,
    MaxParallel: 1,
    HealthCheck: "checks",
    MinHealthyTime: 10 * SECOND_NS,
    HealthyDeadline: 300 * SECOND_NS,
    ProgressDeadline: 600 * SECOND_NS,
    AutoRevert: false,
    AutoPromote: false,
    Canary: 0,
  };
}

function serviceRestart(): NomadTask["RestartPolicy"] {
  return {
    Attempts: 2,
    Interval: 1800 * SECOND_NS,
    Delay: 15 * SECOND_NS,
    Mode: "fail",
    RenderTemplates: false,
  };
}

function batchRestart(): NomadTask["RestartPolicy"] {
  return {
    Attempts: 3,
    Interval: 86_400 * SECOND_NS,
    Delay: 15 * SECOND_NS,
    Mode: "fail",
    RenderTemplates: false,
  };
}

function migrateStrategy(): Record<string, unknown> {
  return {
    HealthCheck: "checks",
    HealthyDeadline: 300 * SECOND_NS,
    MaxParallel: 1,
    MinHealthyTime: 10 * SECOND_NS,
  };
}

function reschedulePolicy(type: JobType): Record<string, unknown> | null {
  if (type === "system" || type === "sysbatch") return null;
  if (type === "batch") {
    return {
      Attempts: 1,
      Interval: 86_400 * SECOND_NS,
      Delay: 5 * SECOND_NS,
      DelayFunction: "constant",
      MaxDelay: 0,
      Unlimited: false,
    };
  }
  return {
    Attempts: 0,
    Interval: 0,
    Delay: 30 * SECOND_NS,
    DelayFunction: "exponential",
    MaxDelay: 3600 * SECOND_NS,
    Unlimited: true,
  };
}

// Nomad sends an unset map as null, never as {}.
function copyMap(map: Record<string, string> | null | undefined): Record<string, string> | null {
  return map ? { ...map } : null;
}

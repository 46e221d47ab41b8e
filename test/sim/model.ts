// Nomad's JSON shapes as the simulator serves them (PascalCase, Go nil maps/slices as null), and the
// job input tests give it (Nomad's JSON job, as `nomad job run -output` prints it).
// Reference: /work/shared/nomad-api-notes.md and openapi/nomad.yaml.

export type JobType = "service" | "batch" | "system" | "sysbatch";
export type StringMap = Record<string, string>;

/** A service check as tests write it; `Interval` and `Timeout` in nanoseconds, as in Nomad's JSON. */
export interface SimServiceCheck {
  Name?: string;
  Type: "http" | "tcp";
  Path?: string;
  Interval: number;
  Timeout?: number;
}

/** A `service` block; the node clients run the checks of `nomad` services (Consul runs the others). */
export interface SimService {
  Name: string;
  Provider?: "nomad" | "consul";
  PortLabel?: string;
  Tags?: string[] | null;
  Checks?: SimServiceCheck[] | null;
}

/** A group's `update` block (Nomad's structs.UpdateStrategy); durations in nanoseconds. */
export interface NomadUpdateStrategy {
  Stagger: number;
  MaxParallel: number;
  HealthCheck: string;
  /** How long an allocation must have run before its deployment counts it healthy. */
  MinHealthyTime: number;
  HealthyDeadline: number;
  ProgressDeadline: number;
  AutoRevert: boolean;
  AutoPromote: boolean;
  Canary: number;
}

/** A port of the group's network that Nomad picks on the node (`port "http" { to = 9464 }`). */
export interface SimDynamicPort {
  Label: string;
  /** The port inside the task it maps to; 0 (or missing) for the same as the node's. */
  To?: number;
}

/** A task of a job as tests write it; missing fields get Nomad's defaults. */
export interface SimTask {
  Name: string;
  Driver: string;
  Meta?: StringMap | null;
  Config?: Record<string, unknown> | null;
  Env?: StringMap | null;
  Services?: SimService[] | null;
}

export interface SimTaskGroup {
  Name: string;
  /** Nomad's default is 1; system jobs always run one allocation per node. */
  Count?: number;
  Meta?: StringMap | null;
  /** Mode `""` is host networking too (a `network` block without `mode`). */
  Networks?: Array<{ Mode: "bridge" | "host" | ""; DynamicPorts?: SimDynamicPort[] }> | null;
  Scaling?: { Min?: number; Max: number; Enabled?: boolean } | null;
  Services?: SimService[] | null;
  /** Merged into Nomad's defaults (service jobs: MinHealthyTime 10 s), as a job's `update` block is. */
  Update?: Partial<NomadUpdateStrategy> | null;
  Tasks: SimTask[];
}

/** Nomad's JSON job (`nomad job run -output`), reduced to what the monitor reads. */
export interface SimJob {
  ID: string;
  Name?: string;
  Namespace?: string;
  Type?: JobType;
  Meta?: StringMap | null;
  TaskGroups: SimTaskGroup[];
}

export interface NomadRestartPolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  Mode: string;
  RenderTemplates: boolean;
}

export interface NomadTask {
  Name: string;
  Driver: string;
  User: string;
  Config: Record<string, unknown> | null;
  Env: StringMap | null;
  Services: NomadService[] | null;
  Constraints: null;
  Affinities: null;
  Resources: {
    CPU: number;
    Cores: number;
    MemoryMB: number;
    MemoryMaxMB: number;
    DiskMB: number;
    IOPS: number;
    Devices: null;
    Networks: null;
  };
  RestartPolicy: NomadRestartPolicy;
  Meta: StringMap | null;
  KillTimeout: number;
  LogConfig: { MaxFiles: number; MaxFileSizeMB: number; Disabled: boolean };
  Artifacts: null;
  Templates: null;
  Leader: boolean;
  ShutdownDelay: number;
  KillSignal: string;
  Kind: string;
  CSIPluginConfig: null;
  DispatchPayload: null;
  Identity: null;
  Lifecycle: null;
  ScalingPolicies: null;
  Vault: null;
  VolumeMounts: null;
}

/** Nomad 1.6's structs.ServiceCheck as the job JSON carries it. */
export interface NomadServiceCheck {
  Name: string;
  Type: string;
  Command: string;
  Args: string[] | null;
  Path: string;
  Protocol: string;
  PortLabel: string;
  Expose: boolean;
  AddressMode: string;
  Interval: number;
  Timeout: number;
  InitialStatus: string;
  TLSServerName: string;
  TLSSkipVerify: boolean;
  Method: string;
  Header: Record<string, string[]> | null;
  CheckRestart: null;
  GRPCService: string;
  GRPCUseTLS: boolean;
  TaskName: string;
  SuccessBeforePassing: number;
  FailuresBeforeCritical: number;
  FailuresBeforeWarning: number;
  Body: string;
  OnUpdate: string;
}

/** Nomad 1.6's structs.Service as the job JSON carries it. */
export interface NomadService {
  Name: string;
  TaskName: string;
  PortLabel: string;
  AddressMode: string;
  Address: string;
  EnableTagOverride: boolean;
  Tags: string[] | null;
  CanaryTags: string[] | null;
  Checks: NomadServiceCheck[] | null;
  Connect: null;
  Meta: StringMap | null;
  CanaryMeta: StringMap | null;
  TaggedAddresses: StringMap | null;
  Namespace: string;
  OnUpdate: string;
  Provider: string;
}

export interface NomadScalingPolicy {
  ID: string;
  Type: "horizontal";
  Target: { Namespace: string; Job: string; Group: string };
  Policy: null;
  Min: number;
  Max: number;
  Enabled: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A port of a network: `Value` 0 in the job, the node's port Nomad picked in the allocation. */
export interface NomadPort {
  Label: string;
  Value: number;
  To: number;
  HostNetwork: string;
}

export interface NomadNetwork {
  Mode: string;
  Device: string;
  CIDR: string;
  IP: string;
  MBits: number;
  DNS: null;
  ReservedPorts: null;
  DynamicPorts: NomadPort[] | null;
}

export interface NomadTaskGroup {
  Name: string;
  Count: number;
  Update: NomadUpdateStrategy | null;
  Constraints: null;
  Scaling: NomadScalingPolicy | null;
  RestartPolicy: NomadRestartPolicy;
  ReschedulePolicy: Record<string, unknown> | null;
  Migrate: Record<string, unknown> | null;
  Affinities: null;
  Spreads: null;
  Consul: { Namespace: string };
  MaxClientDisconnect: null;
  StopAfterClientDisconnect: null;
  EphemeralDisk: { Sticky: boolean; SizeMB: number; Migrate: boolean };
  Networks: NomadNetwork[] | null;
  Services: NomadService[] | null;
  Volumes: null;
  Meta: StringMap | null;
  Tasks: NomadTask[];
  ShutdownDelay: null;
}

export interface NomadJob {
  Region: string;
  Namespace: string;
  ID: string;
  ParentID: string;
  Name: string;
  Type: JobType;
  Priority: number;
  AllAtOnce: boolean;
  Datacenters: string[];
  NodePool: string;
  Constraints: null;
  Affinities: null;
  Spreads: null;
  TaskGroups: NomadTaskGroup[];
  Update: Record<string, unknown>;
  Multiregion: null;
  Periodic: null;
  ParameterizedJob: null;
  Dispatched: boolean;
  DispatchIdempotencyToken: string;
  Payload: null;
  Meta: StringMap | null;
  ConsulToken: string;
  ConsulNamespace: string;
  VaultToken: string;
  VaultNamespace: string;
  NomadTokenID: string;
  Status: "pending" | "running" | "dead";
  StatusDescription: string;
  Stable: boolean;
  Version: number;
  SubmitTime: number;
  CreateIndex: number;
  ModifyIndex: number;
  JobModifyIndex: number;
  Stop: boolean;
}

export type DesiredStatus = "run" | "stop" | "evict";
export type ClientStatus = "pending" | "running" | "complete" | "failed" | "lost" | "unknown";

/** A task event; Nomad sends every field, most of them empty (`""`, 0, false). */
export interface NomadTaskEvent {
  Type: string;
  Time: number;
  Message: string;
  DisplayMessage: string;
  Details: StringMap;
  FailsTask: boolean;
  [detail: string]: unknown;
}

/** Unset times are null, not Go's zero time (recorded from Nomad 1.6.5). */
export interface NomadTaskState {
  State: "pending" | "running" | "dead";
  Failed: boolean;
  Restarts: number;
  LastRestart: string | null;
  StartedAt: string | null;
  FinishedAt: string | null;
  Events: NomadTaskEvent[];
  TaskHandle: null;
}

export interface NomadAllocation {
  ID: string;
  Namespace: string;
  EvalID: string;
  Name: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  Job: NomadJob | null;
  TaskGroup: string;
  AllocatedResources: Record<string, unknown>;
  Metrics: Record<string, unknown>;
  DesiredStatus: DesiredStatus;
  DesiredDescription: string;
  DesiredTransition: { Migrate: null; Reschedule: null; ForceReschedule: null; NoShutdownDelay: null };
  ClientStatus: ClientStatus;
  ClientDescription: string;
  TaskStates: Record<string, NomadTaskState> | null;
  DeploymentID: string;
  /** Set once the deployment saw the allocation healthy (service jobs). */
  DeploymentStatus: { Canary: boolean; Healthy: boolean; ModifyIndex: number; Timestamp: string } | null;
  FollowupEvalID: string;
  RescheduleTracker: null;
  /** Set by the client once it set the group's network up; bridge mode gives the allocation an address. */
  NetworkStatus: {
    Address: string;
    DNS: { Options: null; Searches: null; Servers: null } | null;
    InterfaceName: string;
  } | null;
  PreviousAllocation: string;
  NextAllocation: string;
  PreemptedAllocations: null;
  PreemptedByAllocation: string;
  CreateIndex: number;
  ModifyIndex: number;
  AllocModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface NomadVariable {
  Namespace: string;
  Path: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
  Items: StringMap;
}

export type EventTopic = "Allocation" | "Job";

export interface NomadEvent {
  Topic: EventTopic;
  Type: string;
  Key: string;
  Namespace: string;
  FilterKeys: string[] | null;
  Index: number;
  Payload: { Allocation: NomadAllocation } | { Job: NomadJob };
}

/** The events committed at one raft index: one line of the event stream. */
export interface EventBatch {
  Index: number;
  Events: NomadEvent[];
}

/** A scaling event of a group, as the Nomad UI lists it. */
export interface ScalingEvent {
  Time: number;
  Count: number | null;
  PreviousCount: number;
  Message: string;
  Error: boolean;
  Meta: Record<string, unknown> | null;
  EvalID: string | null;
  /** The raft index the event was recorded at. */
  CreateIndex: number;
}

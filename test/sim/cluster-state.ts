import { randomUUID } from "node:crypto";
import type { Clock } from "../../src/clock.js";
import { allocatedPorts, allocateNetworks } from "./dynamic-ports.js";
import type { EventBroker } from "./event-broker.js";
import type { JobSpec } from "./job-spec.js";
import type {
  ClientStatus,
  NomadAllocation,
  NomadEvent,
  NomadJob,
  NomadTaskEvent,
  NomadTaskState,
  NomadVariable,
  ScalingEvent,
  StringMap,
} from "./model.js";
import { isLive, type Plan } from "./scheduler.js";

export interface SimNode {
  id: string;
  name: string;
}

interface JobRecord {
  job: NomadJob;
  /** Service jobs get a deployment per version; the others have none (`""`). */
  deploymentId: string;
  deploymentActive: boolean;
  /** An evaluation is waiting for the scheduler (Nomad reports such a job as `pending`). */
  evaluationPending: boolean;
  nodesPerGroup: Record<string, string[]>;
  scalingEvents: Map<string, ScalingEvent[]>;
}

export interface JobWrite {
  job: NomadJob;
  evalId: string;
  index: number;
}

export type VariableWrite = { written: NomadVariable } | { conflict: VariableConflict };

/** The variable that won a check-and-set race; `Items` null when it does not exist. */
export type VariableConflict = Omit<NomadVariable, "Items"> & { Items: StringMap | null };

type Table = "jobs" | "allocs" | "variables";

const NS_PER_MS = 1_000_000;
// Where bridge-mode allocations get their address (Nomad's default CNI bridge subnet 172.26.64.0/20).
const BRIDGE_SUBNET = "172.26";

/**
 * The simulated cluster's raft state: one index counter, nodes, job versions, allocations and
 * variables. Every write is one raft apply, and its events form one batch of the event stream.
 */
export class ClusterState {
  #index = 1;
  readonly #tableIndex = { jobs: 0, allocs: 0, variables: 0 };
  readonly #nodes = new Map<string, SimNode>();
  readonly #jobs = new Map<string, JobRecord>();
  readonly #allocations = new Map<string, NomadAllocation>();
  readonly #variables = new Map<string, NomadVariable>();
  #bridgeAddresses = 0;

  constructor(
    private readonly clock: Clock,
    private readonly broker: EventBroker,
  ) {}

  get jobsIndex(): number {
    return this.#tableIndex.jobs;
  }

  get allocsIndex(): number {
    return this.#tableIndex.allocs;
  }

  get variablesIndex(): number {
    return this.#tableIndex.variables;
  }

  addNode(name: string): SimNode {
    const node = { id: randomUUID(), name };
    this.#nodes.set(node.id, node);
    return node;
  }

  node(id: string): SimNode | undefined {
    return this.#nodes.get(id);
  }

  get nodeIds(): string[] {
    return [...this.#nodes.keys()];
  }

  job(namespace: string, jobId: string): NomadJob | undefined {
    return this.#jobs.get(jobKey(namespace, jobId))?.job;
  }

  nodesPerGroup(namespace: string, jobId: string): Record<string, string[]> {
    return this.#jobs.get(jobKey(namespace, jobId))?.nodesPerGroup ?? {};
  }

  isDeploymentActive(namespace: string, jobId: string): boolean {
    return this.#jobs.get(jobKey(namespace, jobId))?.deploymentActive ?? false;
  }

  setDeploymentActive(namespace: string, jobId: string, active: boolean): void {
    this.#record(namespace, jobId).deploymentActive = active;
  }

  scalingEvents(namespace: string, jobId: string, group: string): ScalingEvent[] {
    return this.#jobs.get(jobKey(namespace, jobId))?.scalingEvents.get(group) ?? [];
  }

  allocation(id: string): NomadAllocation | undefined {
    return this.#allocations.get(id);
  }

  get allocations(): NomadAllocation[] {
    return [...this.#allocations.values()];
  }

  allocationsOfJob(namespace: string, jobId: string): NomadAllocation[] {
    return this.allocations.filter((alloc) => alloc.Namespace === namespace && alloc.JobID === jobId);
  }

  /** `nomad job run`: a new job, or a new version of an existing one (never stopped). */
  registerJob(spec: JobSpec, nodesPerGroup: Record<string, string[]> | undefined): JobWrite {
    const write = this.#writeJobVersion({ ...spec, Stop: false }, "JobRegistered");
    if (nodesPerGroup) this.#record(spec.Namespace, spec.ID).nodesPerGroup = structuredClone(nodesPerGroup);
    return write;
  }

  /** `DELETE /v1/job/:id`: a new version with `Stop: true`, or the job removed when purged. */
  deregisterJob(namespace: string, jobId: string, purge: boolean): JobWrite | undefined {
    const key = jobKey(namespace, jobId);
    const record = this.#jobs.get(key);
    if (!record) return undefined;
    if (!purge) return this.#writeJobVersion({ ...record.job, Stop: true }, "JobDeregistered");
    this.#jobs.delete(key);
    const index = this.#nextIndex("jobs");
    this.#publish(index, [jobEvent("JobDeregistered", index, record.job)]);
    return { job: record.job, evalId: randomUUID(), index };
  }

  /** `POST /v1/job/:id/scale`: a new version with the group's count changed. */
  scaleGroup(namespace: string, jobId: string, group: string, count: number): JobWrite {
    const spec = structuredClone(this.#record(namespace, jobId).job);
    for (const taskGroup of spec.TaskGroups) if (taskGroup.Name === group) taskGroup.Count = count;
    return this.#writeJobVersion(spec, "JobRegistered");
  }

  recordScalingEvent(
    namespace: string,
    jobId: string,
    group: string,
    event: Omit<ScalingEvent, "CreateIndex">,
  ): number {
    const events = this.#record(namespace, jobId).scalingEvents;
    const index = this.#nextIndex(undefined);
    events.set(group, [{ ...event, CreateIndex: index }, ...(events.get(group) ?? [])]);
    return index;
  }

  /** Applies a scheduler plan as one raft apply; returns the allocations placed and stopped. */
  applyPlan(
    namespace: string,
    jobId: string,
    plan: Plan,
  ): { placed: NomadAllocation[]; stopped: NomadAllocation[] } {
    const record = this.#record(namespace, jobId);
    const index = this.#nextIndex("allocs");
    const now = this.clock.now();
    const placed: NomadAllocation[] = [];
    for (const placement of plan.place) {
      const node = this.#nodes.get(placement.nodeId);
      if (!node) throw new Error(`unknown node ${placement.nodeId}`);
      const portsInUse = [...this.#allocations.values(), ...placed]
        .filter((alloc) => alloc.NodeID === node.id && isLive(alloc))
        .flatMap((alloc) => allocatedPorts(alloc).map((port) => port.Value));
      placed.push(
        newAllocation(record, placement.group, placement.nameIndex, node, index, now, new Set(portsInUse)),
      );
    }
    const stopped = plan.stop.map((id) =>
      bumped(
        {
          ...this.#existing(id),
          DesiredStatus: "stop",
          DesiredDescription: "alloc not needed due to job update",
        },
        index,
        now,
        true,
      ),
    );
    const updated = plan.update.map((id) =>
      bumped({ ...this.#existing(id), Job: record.job, DeploymentID: record.deploymentId }, index, now, true),
    );
    const changed = [...placed, ...stopped, ...updated];
    for (const alloc of changed) this.#allocations.set(alloc.ID, alloc);
    record.evaluationPending = false;
    this.#refreshJobStatus(record, index);
    this.#publish(
      index,
      changed.map((alloc) => allocationEvent("PlanResult", index, alloc)),
    );
    return { placed, stopped };
  }

  /** What a node's client reports about an allocation. */
  updateClientStatus(
    allocId: string,
    update: { status: ClientStatus; description: string; taskStates: Record<string, NomadTaskState> | null },
  ): NomadAllocation {
    const index = this.#nextIndex("allocs");
    const existing = this.#existing(allocId);
    const alloc = bumped(
      {
        ...existing,
        ClientStatus: update.status,
        ClientDescription: update.description,
        TaskStates: update.taskStates,
        NetworkStatus: existing.NetworkStatus ?? this.#networkStatusOf(existing),
        DeploymentStatus:
          existing.DeploymentStatus ??
          (update.status === "running" && existing.DeploymentID !== ""
            ? {
                Canary: false,
                Healthy: true,
                ModifyIndex: index,
                Timestamp: new Date(this.clock.now()).toISOString(),
              }
            : null),
      },
      index,
      this.clock.now(),
      false,
    );
    this.#allocations.set(allocId, alloc);
    const record = this.#jobs.get(jobKey(alloc.Namespace, alloc.JobID));
    if (record) this.#refreshJobStatus(record, index);
    this.#publish(index, [allocationEvent("AllocationUpdated", index, alloc)]);
    return alloc;
  }

  /** Removes allocations from the state; like Nomad's garbage collector, this sends no event. */
  collectGarbage(allocIds: readonly string[]): void {
    for (const id of allocIds) this.#allocations.delete(id);
    this.#nextIndex("allocs");
  }

  variable(namespace: string, path: string): NomadVariable | undefined {
    return this.#variables.get(variableKey(namespace, path));
  }

  /** The Variables of a namespace whose path starts with `prefix`, by path. */
  variablesUnder(namespace: string, prefix: string): NomadVariable[] {
    return [...this.#variables.values()]
      .filter((variable) => variable.Namespace === namespace && variable.Path.startsWith(prefix))
      .sort((a, b) => a.Path.localeCompare(b.Path));
  }

  // What the client reports once it set the group's network up (allocation-*-mode.http).
  #networkStatusOf(alloc: NomadAllocation): NomadAllocation["NetworkStatus"] {
    const group = alloc.Job?.TaskGroups.find((taskGroup) => taskGroup.Name === alloc.TaskGroup);
    if (group?.Networks?.[0]?.Mode !== "bridge") return { Address: "", DNS: null, InterfaceName: "" };
    const host = (this.#bridgeAddresses++ % 4000) + 2;
    return {
      Address: `${BRIDGE_SUBNET}.${64 + Math.floor(host / 256)}.${host % 256}`,
      DNS: { Options: null, Searches: null, Servers: null },
      InterfaceName: "eth0",
    };
  }

  /** Writes a variable; with `cas`, only over the version whose ModifyIndex is `cas` (0: none yet). */
  writeVariable(namespace: string, path: string, items: StringMap, cas: number | undefined): VariableWrite {
    const key = variableKey(namespace, path);
    const current = this.#variables.get(key);
    if (cas !== undefined && (current?.ModifyIndex ?? 0) !== cas)
      return { conflict: this.#conflictOf(namespace, path) };
    const index = this.#nextIndex("variables");
    const now = this.clock.now() * NS_PER_MS;
    const written: NomadVariable = {
      Namespace: namespace,
      Path: path,
      CreateIndex: current?.CreateIndex ?? index,
      ModifyIndex: index,
      CreateTime: current?.CreateTime ?? now,
      ModifyTime: now,
      Items: { ...items },
    };
    this.#variables.set(key, written);
    return { written };
  }

  deleteVariable(
    namespace: string,
    path: string,
    cas: number | undefined,
  ): { index: number } | { conflict: VariableConflict } {
    const key = variableKey(namespace, path);
    const current = this.#variables.get(key);
    if (cas !== undefined && (current?.ModifyIndex ?? 0) !== cas)
      return { conflict: this.#conflictOf(namespace, path) };
    this.#variables.delete(key);
    return { index: this.#nextIndex("variables") };
  }

  #conflictOf(namespace: string, path: string): VariableConflict {
    const current = this.#variables.get(variableKey(namespace, path));
    if (current) return { ...current, Items: { ...current.Items } };
    return {
      Namespace: namespace,
      Path: path,
      CreateIndex: 0,
      ModifyIndex: 0,
      CreateTime: 0,
      ModifyTime: 0,
      Items: null,
    };
  }

  // Every write of a job is a new version (Nomad's upsertJobImpl bumps Version unless told not to).
  #writeJobVersion(
    spec: JobSpec & { Stop: boolean },
    eventType: "JobRegistered" | "JobDeregistered",
  ): JobWrite {
    const key = jobKey(spec.Namespace, spec.ID);
    const existing = this.#jobs.get(key);
    const previous = existing?.job;
    const index = this.#nextIndex("jobs");
    const job: NomadJob = {
      ...structuredClone(spec),
      Status: previous?.Status ?? "pending",
      Version: previous ? previous.Version + 1 : 0,
      SubmitTime: this.clock.now() * NS_PER_MS,
      CreateIndex: previous?.CreateIndex ?? index,
      ModifyIndex: index,
      JobModifyIndex: index,
    };
    for (const group of job.TaskGroups) {
      if (!group.Scaling) continue;
      group.Scaling.CreateIndex ||= index;
      group.Scaling.ModifyIndex = index;
    }
    const record: JobRecord = existing ?? {
      job,
      deploymentId: "",
      deploymentActive: false,
      evaluationPending: false,
      nodesPerGroup: {},
      scalingEvents: new Map(),
    };
    record.job = job;
    this.#jobs.set(key, record);
    if (job.Type === "service") record.deploymentId = randomUUID();
    record.evaluationPending = !job.Stop || this.allocationsOfJob(job.Namespace, job.ID).some(isLive);
    this.#refreshJobStatus(record, index);
    this.#publish(index, [jobEvent(eventType, index, record.job)]);
    return { job: record.job, evalId: randomUUID(), index };
  }

  // Nomad's getJobStatus: running while an allocation is live, pending while an evaluation waits,
  // dead once everything is terminal. Allocations keep the job object they were planned with, so
  // a changed status is a new object.
  #refreshJobStatus(record: JobRecord, index: number): void {
    const { job } = record;
    const allocs = this.allocationsOfJob(job.Namespace, job.ID);
    let status: NomadJob["Status"];
    if (job.Type === "system" || job.Type === "sysbatch") status = job.Stop ? "dead" : "running";
    else if (allocs.some(isLive)) status = "running";
    else if (record.evaluationPending) status = "pending";
    else status = allocs.length > 0 || job.Stop ? "dead" : "pending";
    if (status !== job.Status) record.job = { ...job, Status: status, ModifyIndex: index };
  }

  #record(namespace: string, jobId: string): JobRecord {
    const record = this.#jobs.get(jobKey(namespace, jobId));
    if (!record) throw new Error(`no job ${jobId} in namespace ${namespace}`);
    return record;
  }

  #existing(allocId: string): NomadAllocation {
    const alloc = this.#allocations.get(allocId);
    if (!alloc) throw new Error(`no allocation ${allocId}`);
    return alloc;
  }

  /** One raft apply: the next index, recorded as the last write of the table it touched. */
  #nextIndex(table: Table | undefined): number {
    const index = ++this.#index;
    if (table) this.#tableIndex[table] = index;
    return index;
  }

  // The events of one raft apply form one batch of the event stream, frozen as they were then.
  #publish(index: number, events: NomadEvent[]): void {
    if (events.length > 0) this.broker.publish(structuredClone({ Index: index, Events: events }));
  }
}

export function taskStatesOf(
  alloc: NomadAllocation,
  state: NomadTaskState["State"],
  options: { failed: boolean; at: number; message: string },
): Record<string, NomadTaskState> {
  const at = new Date(options.at).toISOString();
  const tasks = alloc.Job?.TaskGroups.find((group) => group.Name === alloc.TaskGroup)?.Tasks ?? [];
  return Object.fromEntries(
    tasks.map((task) => {
      const previous = alloc.TaskStates?.[task.Name];
      const taskState: NomadTaskState = {
        State: state,
        Failed: options.failed,
        Restarts: 0,
        LastRestart: null,
        StartedAt: state === "running" ? at : (previous?.StartedAt ?? null),
        FinishedAt: state === "dead" ? at : null,
        Events: [...(previous?.Events ?? []), ...eventsOf(state, options)],
        TaskHandle: null,
      };
      return [task.Name, taskState];
    }),
  );
}

// What a task went through to reach this state: a pending task was received and set up
// (event-stream.ndjson), a running one started, a dead one was killed or failed.
function eventsOf(
  state: NomadTaskState["State"],
  options: { failed: boolean; at: number; message: string },
): NomadTaskEvent[] {
  const time = options.at * NS_PER_MS;
  if (state === "pending") {
    const setup = "Building Task Directory";
    return [
      taskEvent("Received", time, options.message, false),
      taskEvent("Task Setup", time, setup, false, { message: setup }),
    ];
  }
  const type = state === "running" ? "Started" : options.failed ? "Driver Failure" : "Killed";
  return [taskEvent(type, time, options.message, options.failed)];
}

// A task event as Nomad sends it: every field, the unused ones empty (allocation-host-mode.http).
function taskEvent(
  type: string,
  timeNs: number,
  displayMessage: string,
  failsTask: boolean,
  details: StringMap = {},
): NomadTaskEvent {
  return {
    Type: type,
    Time: timeNs,
    Message: details.message ?? "",
    DisplayMessage: displayMessage,
    Details: details,
    FailsTask: failsTask,
    DiskLimit: 0,
    DownloadError: "",
    DriverError: "",
    DriverMessage: "",
    ExitCode: 0,
    FailedSibling: "",
    GenericSource: "",
    KillError: "",
    KillReason: "",
    KillTimeout: 0,
    RestartReason: "",
    SetupError: "",
    Signal: 0,
    StartDelay: 0,
    TaskSignal: "",
    TaskSignalReason: "",
    ValidationError: "",
    VaultError: "",
  };
}

function newAllocation(
  record: JobRecord,
  group: string,
  nameIndex: number,
  node: SimNode,
  index: number,
  nowMs: number,
  portsInUse: ReadonlySet<number>,
): NomadAllocation {
  const { job } = record;
  const tasks = job.TaskGroups.find((taskGroup) => taskGroup.Name === group)?.Tasks ?? [];
  const networks = job.TaskGroups.find((taskGroup) => taskGroup.Name === group)?.Networks ?? null;
  return {
    ID: randomUUID(),
    Namespace: job.Namespace,
    EvalID: randomUUID(),
    Name: `${job.ID}.${group}[${nameIndex}]`,
    NodeID: node.id,
    NodeName: node.name,
    JobID: job.ID,
    Job: job,
    TaskGroup: group,
    AllocatedResources: {
      Tasks: Object.fromEntries(
        tasks.map((task) => [
          task.Name,
          {
            Cpu: { CpuShares: task.Resources.CPU, ReservedCores: null },
            Memory: { MemoryMB: task.Resources.MemoryMB, MemoryMaxMB: task.Resources.MemoryMaxMB },
            Networks: null,
            Devices: null,
          },
        ]),
      ),
      TaskLifecycles: Object.fromEntries(tasks.map((task) => [task.Name, null])),
      Shared: { ...allocateNetworks(networks, portsInUse), DiskMB: 300 },
    },
    Metrics: {
      NodesEvaluated: 1,
      NodesFiltered: 0,
      NodesInPool: 1,
      NodesAvailable: { dc1: 1 },
      ClassFiltered: null,
      ConstraintFiltered: null,
      NodesExhausted: 0,
      ClassExhausted: null,
      DimensionExhausted: null,
      QuotaExhausted: null,
      ResourcesExhausted: null,
      ScoreMetaData: [{ NodeID: node.id, NormScore: 0.5, Scores: { binpack: 0.5 } }],
      Scores: null,
      AllocationTime: 100_000,
      CoalescedFailures: 0,
    },
    DesiredStatus: "run",
    DesiredDescription: "",
    DesiredTransition: { Migrate: null, Reschedule: null, ForceReschedule: null, NoShutdownDelay: null },
    ClientStatus: "pending",
    ClientDescription: "",
    TaskStates: null,
    DeploymentID: record.deploymentId,
    DeploymentStatus: null,
    FollowupEvalID: "",
    RescheduleTracker: null,
    NetworkStatus: null,
    PreviousAllocation: "",
    NextAllocation: "",
    PreemptedAllocations: null,
    PreemptedByAllocation: "",
    CreateIndex: index,
    ModifyIndex: index,
    AllocModifyIndex: index,
    CreateTime: nowMs * NS_PER_MS,
    ModifyTime: nowMs * NS_PER_MS,
  };
}

// ModifyIndex moves with every change; AllocModifyIndex only with the server's (plan) changes.
function bumped(alloc: NomadAllocation, index: number, nowMs: number, byServer: boolean): NomadAllocation {
  return {
    ...alloc,
    ModifyIndex: index,
    AllocModifyIndex: byServer ? index : alloc.AllocModifyIndex,
    ModifyTime: nowMs * NS_PER_MS,
  };
}

// Allocation events carry the allocation without its job: Nomad 1.6.5 leaves `Job` out altogether,
// and the other fields it leaves out while empty (event-stream.ndjson).
function allocationEvent(type: string, index: number, alloc: NomadAllocation): NomadEvent {
  const { Job: _job, ...withoutJob } = alloc;
  return {
    Topic: "Allocation",
    Type: type,
    Key: alloc.ID,
    Namespace: alloc.Namespace,
    FilterKeys: [alloc.JobID, alloc.DeploymentID],
    Index: index,
    Payload: { Allocation: asSent(withoutJob) as NomadAllocation },
  };
}

// The fields of a full allocation Nomad's JSON encoder leaves out while they are empty (omitempty):
// missing, not `""` or null, in node-allocations.http, allocation-*.http and event-stream.ndjson.
const OMITTED_WHEN_EMPTY = [
  "ClientDescription",
  "DeploymentStatus",
  "DesiredDescription",
  "DesiredTransition",
  "FollowupEvalID",
  "Job",
  "NetworkStatus",
  "NextAllocation",
  "PreemptedAllocations",
  "PreemptedByAllocation",
  "PreviousAllocation",
  "RescheduleTracker",
  "TaskStates",
] as const;

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === "";
}

/** A full allocation as Nomad sends it (allocation endpoints, event payloads): empty fields left out. */
export function asSent(alloc: Partial<NomadAllocation>): Partial<NomadAllocation> {
  const sent: Record<string, unknown> = { ...alloc };
  for (const field of OMITTED_WHEN_EMPTY) if (isEmpty(sent[field])) delete sent[field];
  // A struct of nil pointers is empty too; NetworkStatus of host mode (empty strings) is not.
  if (Object.values(alloc.DesiredTransition ?? {}).every(isEmpty)) delete sent.DesiredTransition;
  return sent;
}

function jobEvent(type: string, index: number, job: NomadJob): NomadEvent {
  return {
    Topic: "Job",
    Type: type,
    Key: job.ID,
    Namespace: job.Namespace,
    FilterKeys: null,
    Index: index,
    Payload: { Job: job },
  };
}

function jobKey(namespace: string, jobId: string): string {
  return `${namespace}\u0000${jobId}`;
}

function variableKey(namespace: string, path: string): string {
  return `${namespace}\u0000${path}`;
}

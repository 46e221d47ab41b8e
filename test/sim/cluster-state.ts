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
  NomadTaskState,
  NomadVariable,
  ScalingEvent,
  StringMap,
} from "./model.js";
import { isLive, isTerminalClientStatus, type Plan } from "./scheduler.js";

export interface SimNode {
  id: string;
  name: string;
}

/**
 * A service job's rollout of one version: active from the plan that places or updates its allocations
 * until each of them has been healthy for the group's MinHealthyTime (then the job is `Stable`), or until
 * an allocation of it fails or a newer version replaces it. While active, the job cannot be scaled.
 */
interface Deployment {
  id: string;
  jobVersion: number;
  active: boolean;
  /** Kept active by the test (`setDeploymentActive`), whatever its allocations do. */
  held: boolean;
}

interface JobRecord {
  job: NomadJob;
  /** The latest deployment; jobs that are not service jobs never get one. */
  deployment: Deployment | undefined;
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
  /** Woken after every write of the allocations table: blocking queries on a node's allocations. */
  readonly #allocationWatchers = new Set<() => void>();
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
    return this.#jobs.get(jobKey(namespace, jobId))?.deployment?.active ?? false;
  }

  /** Holds the job's deployment active (one of its current version, made if need be), or ends it now. */
  setDeploymentActive(namespace: string, jobId: string, active: boolean): void {
    const record = this.#record(namespace, jobId);
    if (!active) {
      if (record.deployment) Object.assign(record.deployment, { active: false, held: false });
      return;
    }
    if (record.deployment?.jobVersion !== record.job.Version) {
      record.deployment = { id: randomUUID(), jobVersion: record.job.Version, active: true, held: true };
    }
    Object.assign(record.deployment, { active: true, held: true });
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

  /**
   * Applies a scheduler plan as one raft apply: its allocations and, when their change changed the job's
   * status, the job, all `PlanResult` events of one batch (event-stream.ndjson). Returns the allocations
   * placed, stopped and updated in place; an empty plan changes nothing.
   */
  applyPlan(
    namespace: string,
    jobId: string,
    plan: Plan,
  ): { placed: NomadAllocation[]; stopped: NomadAllocation[]; updated: NomadAllocation[] } {
    const record = this.#record(namespace, jobId);
    if (plan.place.length + plan.stop.length + plan.update.length === 0)
      return { placed: [], stopped: [], updated: [] };
    const index = this.#nextIndex("allocs");
    const now = this.clock.now();
    const deployment = this.#deploymentFor(record, plan);
    const placed: NomadAllocation[] = [];
    for (const placement of plan.place) {
      const node = this.#nodes.get(placement.nodeId);
      if (!node) throw new Error(`unknown node ${placement.nodeId}`);
      const portsInUse = [...this.#allocations.values(), ...placed]
        .filter((alloc) => alloc.NodeID === node.id && isLive(alloc))
        .flatMap((alloc) => allocatedPorts(alloc).map((port) => port.Value));
      placed.push(
        newAllocation(
          record.job,
          deployment?.id ?? "",
          placement.group,
          placement.nameIndex,
          node,
          index,
          now,
          new Set(portsInUse),
        ),
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
    // Moved into a new deployment, an allocation's health is judged again (Nomad's generic scheduler).
    const updated = plan.update.map((id) => {
      const alloc = this.#existing(id);
      const joins = deployment !== undefined && alloc.DeploymentID !== deployment.id;
      return bumped(
        {
          ...alloc,
          Job: record.job,
          DeploymentID: joins ? deployment.id : alloc.DeploymentID,
          DeploymentStatus: joins ? null : alloc.DeploymentStatus,
        },
        index,
        now,
        true,
      );
    });
    const changed = [...placed, ...stopped, ...updated];
    for (const alloc of changed) this.#allocations.set(alloc.ID, alloc);
    const events = changed.map((alloc) => allocationEvent("PlanResult", index, alloc));
    if (this.#refreshJobStatus(record, index)) events.push(jobEvent("PlanResult", index, record.job));
    this.#publish(index, events);
    return { placed, stopped, updated };
  }

  /** The evaluation of the job's last write is done: `EvaluationUpdated` if that changed the job's status. */
  completeEvaluation(namespace: string, jobId: string): void {
    const record = this.#jobs.get(jobKey(namespace, jobId));
    if (!record) return;
    record.evaluationPending = false;
    if (this.#statusOf(record) === record.job.Status) return;
    const index = this.#nextIndex("jobs");
    this.#refreshJobStatus(record, index);
    this.#publish(index, [jobEvent("EvaluationUpdated", index, record.job)]);
  }

  /**
   * What the allocation's client reports once it has run for its group's MinHealthyTime within a
   * deployment: healthy. The deployment completes once all its allocations are, and the job turns `Stable`.
   */
  markHealthy(allocId: string): void {
    const alloc = this.#allocations.get(allocId);
    if (!alloc || !isLive(alloc) || alloc.ClientStatus !== "running" || alloc.DeploymentID === "") return;
    if (alloc.DeploymentStatus?.Healthy) return;
    const index = this.#nextIndex("allocs");
    const now = this.clock.now();
    const healthy = bumped(
      {
        ...alloc,
        DeploymentStatus: {
          Canary: false,
          Healthy: true,
          ModifyIndex: index,
          Timestamp: new Date(now).toISOString(),
        },
      },
      index,
      now,
      false,
    );
    this.#allocations.set(allocId, healthy);
    this.#publish(index, [allocationEvent("AllocationUpdated", index, healthy)]);
    const record = this.#jobs.get(jobKey(alloc.Namespace, alloc.JobID));
    if (record) this.#completeDeployment(record);
  }

  // Nomad's reconciler: a new version gets a deployment when the plan places or updates allocations of a
  // job that wants some; the deployment of an older version is cancelled.
  #deploymentFor(record: JobRecord, plan: Plan): Deployment | undefined {
    const { job, deployment: current } = record;
    if (current?.jobVersion === job.Version) return current;
    if (current && !current.held) current.active = false;
    const wanted = job.Stop ? 0 : job.TaskGroups.reduce((sum, group) => sum + group.Count, 0);
    if (job.Type !== "service" || wanted === 0 || plan.place.length + plan.update.length === 0)
      return undefined;
    record.deployment = { id: randomUUID(), jobVersion: job.Version, active: true, held: false };
    return record.deployment;
  }

  #completeDeployment(record: JobRecord): void {
    const { deployment, job } = record;
    if (!deployment?.active || deployment.held) return;
    const wanted = job.TaskGroups.reduce((sum, group) => sum + group.Count, 0);
    const members = this.allocationsOfJob(job.Namespace, job.ID).filter(
      (alloc) => isLive(alloc) && alloc.DeploymentID === deployment.id,
    );
    if (members.length < wanted || !members.every((alloc) => alloc.DeploymentStatus?.Healthy)) return;
    deployment.active = false;
    const index = this.#nextIndex("jobs");
    record.job = { ...job, Stable: true, ModifyIndex: index };
    this.#publish(index, [jobEvent("PlanResult", index, record.job)]);
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
      },
      index,
      this.clock.now(),
      false,
    );
    this.#allocations.set(allocId, alloc);
    const events = [allocationEvent("AllocationUpdated", index, alloc)];
    const record = this.#jobs.get(jobKey(alloc.Namespace, alloc.JobID));
    if (record) {
      // An allocation of the rollout that fails ends it: the deployment failed.
      const deployment = record.deployment;
      if (isTerminalClientStatus(update.status) && deployment?.id === alloc.DeploymentID && !deployment.held)
        deployment.active = false;
      if (this.#refreshJobStatus(record, index))
        events.push(jobEvent("AllocationUpdated", index, record.job));
    }
    this.#publish(index, events);
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

  // Every write of a job is a new version (Nomad's upsertJobImpl bumps Version unless told not to), and
  // comes with an evaluation. The job is written with the status it had (new: `pending`), then with
  // the status that evaluation gives it if that differs: two batches of the same index (event-stream.ndjson).
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
      deployment: undefined,
      evaluationPending: false,
      nodesPerGroup: {},
      scalingEvents: new Map(),
    };
    record.job = job;
    this.#jobs.set(key, record);
    record.evaluationPending = true;
    this.#publish(index, [jobEvent(eventType, index, record.job)]);
    if (this.#refreshJobStatus(record, index)) this.#publish(index, [jobEvent(eventType, index, record.job)]);
    return { job: record.job, evalId: randomUUID(), index };
  }

  // Nomad's getJobStatus: running while an allocation is live, pending while an evaluation waits,
  // dead once everything is terminal. Allocations keep the job object they were planned with, so
  // a changed status is a new object. Returns whether the status changed.
  #refreshJobStatus(record: JobRecord, index: number): boolean {
    const status = this.#statusOf(record);
    if (status === record.job.Status) return false;
    record.job = { ...record.job, Status: status, ModifyIndex: index };
    return true;
  }

  #statusOf({ job, evaluationPending }: JobRecord): NomadJob["Status"] {
    const allocs = this.allocationsOfJob(job.Namespace, job.ID);
    if (job.Type === "system" || job.Type === "sysbatch") return job.Stop ? "dead" : "running";
    if (allocs.some(isLive)) return "running";
    if (evaluationPending) return "pending";
    return allocs.length > 0 || job.Stop ? "dead" : "pending";
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
    // Told once the apply is done (the caller writes right after taking its index).
    if (table === "allocs") queueMicrotask(() => this.#wakeAllocationWatchers());
    return index;
  }

  /** Calls `watcher` after each write of the allocations table until the returned function is called. */
  watchAllocations(watcher: () => void): () => void {
    this.#allocationWatchers.add(watcher);
    return () => this.#allocationWatchers.delete(watcher);
  }

  #wakeAllocationWatchers(): void {
    for (const watcher of [...this.#allocationWatchers]) watcher();
  }

  // The events of one raft apply form one batch of the event stream, frozen as they were then.
  #publish(index: number, events: NomadEvent[]): void {
    if (events.length > 0) this.broker.publish(structuredClone({ Index: index, Events: events }));
  }
}

function newAllocation(
  job: NomadJob,
  deploymentId: string,
  group: string,
  nameIndex: number,
  node: SimNode,
  index: number,
  nowMs: number,
  portsInUse: ReadonlySet<number>,
): NomadAllocation {
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
    DeploymentID: deploymentId,
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

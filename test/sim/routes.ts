import { type Grants, PERMISSION_DENIED, type TokenStore } from "./acl.js";
import { asSent, type ClusterState } from "./cluster-state.js";
import { HttpError, type Reply, type RequestContext, type Route } from "./http-server.js";
import { canonicalizeJob } from "./job-spec.js";
import type { NomadAllocation, NomadJob, SimJob, StringMap } from "./model.js";
import { isLive } from "./scheduler.js";
import type { NomadVersion } from "./simulator.js";
import { wireFormat } from "./wire-format.js";

/** What the HTTP handlers need from the simulator besides its state. */
export interface RouteDependencies {
  state: ClusterState;
  tokens: TokenStore;
  version: NomadVersion;
  /** Runs the scheduler for the job once the answer has gone out, as Nomad's evaluation broker does. */
  evaluateLater(namespace: string, jobId: string): void;
  clockNs(): number;
  /**
   * A blocking query (`?index=&wait=`): resolves once `resultIndex()` is above the asked index, or after
   * the wait — at once without an index.
   */
  blockUntil(context: RequestContext, resultIndex: () => number): Promise<void>;
}

// Nomad's Variables.Validate (nomad/structs/variables.go).
const VARIABLE_PATH = /^[a-zA-Z0-9_~/-]{1,128}$/;
const VARIABLE_MAX_BYTES = 64 * 1024;
// Go's http server sniffs the type when a handler wrote its status before setting it, as
// variableUpsert does for a 409 (hashicorp/nomad command/agent/variable_endpoint.go).
const SNIFFED_JSON = "text/plain; charset=utf-8";

export function apiRoutes(deps: RouteDependencies): Route[] {
  const { state } = deps;
  const wire = wireFormat(deps.version);
  const authorize = (context: RequestContext): Grants => {
    const resolution = deps.tokens.resolve(context.token);
    if ("error" in resolution) throw new HttpError(403, resolution.error);
    return resolution.grants;
  };
  const requireReadJob = (context: RequestContext, namespace: string): void => {
    if (!authorize(context).allowsNamespace(namespace, "read-job"))
      throw new HttpError(403, PERMISSION_DENIED);
  };

  return [
    {
      methods: ["GET"],
      pattern: /^\/v1\/node\/([^/]+)\/allocations$/,
      async handle(context, [nodeId]) {
        const grants = authorize(context);
        if (!grants.allowsNodeRead) throw new HttpError(403, PERMISSION_DENIED);
        const ofNode = () => state.allocations.filter((alloc) => alloc.NodeID === nodeId);
        // Nomad's Node.GetAllocs: the index is the highest ModifyIndex of the node's allocations.
        await deps.blockUntil(context, () => latestIndex(ofNode(), state.allocsIndex));
        const allocs = ofNode();
        const readable = allocs.filter((alloc) => grants.allowsNamespace(alloc.Namespace, "read-job"));
        return {
          json: readable.map((alloc) => wire.allocation(asSent(alloc))),
          index: latestIndex(allocs, state.allocsIndex),
        };
      },
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/allocation\/([^/]+)$/,
      handle(context, [allocId]) {
        const grants = authorize(context);
        const alloc = state.allocation(allocId ?? "");
        if (!alloc) throw new HttpError(404, "alloc not found", state.allocsIndex);
        if (!grants.allowsNamespace(alloc.Namespace, "read-job")) throw new HttpError(403, PERMISSION_DENIED);
        return { json: wire.allocation(asSent(alloc)), index: alloc.ModifyIndex };
      },
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/job\/([^/]+)\/allocations$/,
      handle(context, [jobId]) {
        requireReadJob(context, context.namespace);
        const allocs = state.allocationsOfJob(context.namespace, jobId ?? "");
        return {
          json: allocs.map((alloc) => wire.allocationStub(allocationStub(alloc))),
          index: latestIndex(allocs, state.allocsIndex),
        };
      },
    },
    {
      methods: ["POST", "PUT"],
      pattern: /^\/v1\/job\/([^/]+)\/scale$/,
      handle: (context, [jobId]) => scaleJob(deps, authorize, context, jobId ?? ""),
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/job\/([^/]+)\/scale$/,
      handle(context, [jobId]) {
        const grants = authorize(context);
        if (
          !grants.allowsNamespace(context.namespace, "read-job") &&
          !grants.allowsNamespace(context.namespace, "read-job-scaling")
        )
          throw new HttpError(403, PERMISSION_DENIED);
        const job = state.job(context.namespace, jobId ?? "");
        if (!job) throw new HttpError(404, "job not found", state.jobsIndex);
        return { json: scaleStatus(state, job), index: job.ModifyIndex };
      },
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/job\/([^/]+)$/,
      handle(context, [jobId]) {
        requireReadJob(context, context.namespace);
        const job = state.job(context.namespace, jobId ?? "");
        if (!job) throw new HttpError(404, "job not found", state.jobsIndex);
        return { json: wire.job(job), index: job.ModifyIndex };
      },
    },
    {
      // `nomad job run`; `nomad-idle-monitor wake` re-registers a recorded job this way.
      methods: ["POST", "PUT"],
      pattern: /^\/v1\/jobs$/,
      async handle(context) {
        const body = await context.readJson();
        const job = isObject(body) && isObject(body.Job) ? (body.Job as unknown as SimJob) : undefined;
        // hashicorp/nomad command/agent/job_endpoint.go jobUpdate.
        if (!job || typeof job.ID !== "string" || job.ID === "")
          throw new HttpError(400, "Job must be specified");
        const namespace = job.Namespace || context.namespace;
        if (!authorize(context).allowsNamespace(namespace, "submit-job"))
          throw new HttpError(403, PERMISSION_DENIED);
        if (isObject(body) && body.EnforceIndex === true)
          enforceIndex(state.job(namespace, job.ID), Number(body.JobModifyIndex ?? 0));
        const write = state.registerJob(canonicalizeJob({ ...job, Namespace: namespace }), undefined);
        deps.evaluateLater(namespace, job.ID);
        return {
          json: {
            EvalID: write.evalId,
            EvalCreateIndex: write.index,
            JobModifyIndex: write.index,
            Warnings: "",
            Index: write.index,
          },
          index: write.index,
        };
      },
    },
    {
      methods: ["DELETE"],
      pattern: /^\/v1\/job\/([^/]+)$/,
      handle(context, [jobId]) {
        const purge = parseBool(context.query, "purge");
        if (!authorize(context).allowsNamespace(context.namespace, "submit-job")) {
          throw new HttpError(403, PERMISSION_DENIED);
        }
        const write = state.deregisterJob(context.namespace, jobId ?? "", purge);
        // Stopping a job that does not exist answers 200 with an empty EvalID (nomad-api-notes.md "Stop and scale").
        if (!write) return { json: deregisterResponse("", 0, state.jobsIndex), index: state.jobsIndex };
        if (!purge) deps.evaluateLater(context.namespace, jobId ?? "");
        return { json: deregisterResponse(write.evalId, write.index, write.index), index: write.index };
      },
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/vars$/,
      handle(context) {
        // Only what the token may list; the rest is left out, not refused (var-list-prefix.http: metadata only).
        const grants = authorize(context);
        const listed = state
          .variablesUnder(context.namespace, context.query.get("prefix") ?? "")
          .filter((variable) => grants.allowsVariable(variable.Namespace, variable.Path, "list"))
          .map(({ Items: _items, ...metadata }) => metadata);
        return { json: listed, index: state.variablesIndex };
      },
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/var\/(.+)$/,
      handle(context, [path]) {
        if (!authorize(context).allowsVariable(context.namespace, path ?? "", "read")) {
          throw new HttpError(403, PERMISSION_DENIED);
        }
        const variable = state.variable(context.namespace, path ?? "");
        if (!variable) throw new HttpError(404, "variable not found", state.variablesIndex);
        return { json: variable, index: variable.ModifyIndex };
      },
    },
    {
      methods: ["PUT", "POST"],
      pattern: /^\/v1\/var\/(.+)$/,
      handle: (context, [path]) => writeVariable(deps, authorize, context, path ?? ""),
    },
    {
      methods: ["DELETE"],
      pattern: /^\/v1\/var\/(.+)$/,
      handle(context, [path]) {
        const cas = parseCas(context.query);
        const grants = authorize(context);
        if (!grants.allowsVariable(context.namespace, path ?? "", "destroy"))
          throw new HttpError(403, PERMISSION_DENIED);
        const result = state.deleteVariable(context.namespace, path ?? "", cas);
        if ("conflict" in result) return conflictReply(grants, result.conflict);
        return { empty: true, status: 204, index: result.index };
      },
    },
  ];
}

/**
 * `EnforceIndex`: Nomad's Job.Register refuses, before changing anything, unless the job's current
 * `JobModifyIndex` is the one given (0: unless the job does not exist) — a plain error, so 500 with its
 * text (hashicorp/nomad nomad/job_endpoint.go at v1.6.5, nomad/structs/job.go `EnforceIndex` at v2.0.5).
 */
function enforceIndex(existing: NomadJob | undefined, index: number): void {
  const prefix = `Enforcing job modify index ${index}`;
  if (existing && index === 0) throw new HttpError(500, `${prefix}: job already exists`);
  if (existing && index !== existing.JobModifyIndex)
    throw new HttpError(
      500,
      `${prefix}: job exists with conflicting job modify index: ${existing.JobModifyIndex}`,
    );
  if (!existing && index !== 0) throw new HttpError(500, `${prefix}: job does not exist`);
}

async function scaleJob(
  deps: RouteDependencies,
  authorize: (context: RequestContext) => Grants,
  context: RequestContext,
  jobId: string,
): Promise<Reply> {
  const request = scalingRequestOf(await context.readJson());
  if (request.Target.Job !== undefined && request.Target.Job !== jobId) {
    throw new HttpError(400, "job ID in payload did not match URL");
  }
  const namespace = context.namespace;
  if (!authorize(context).allowsScaling(namespace)) throw new HttpError(403, PERMISSION_DENIED);

  // Nomad's JobScaleRequest.Validate, then Job.Scale (hashicorp/nomad nomad/job_endpoint.go).
  if (request.Target.Namespace !== undefined && request.Target.Namespace !== namespace) {
    throw new HttpError(400, "namespace in payload did not match header");
  }
  const groupName = request.Target.Group ?? "";
  if (groupName === "") throw new HttpError(400, "missing task group name for scaling action");
  const count = request.Count;
  if (count !== null) {
    if (count < 0) throw new HttpError(400, "scaling action count can't be negative");
    if (request.Error) throw new HttpError(400, "scaling action should not contain count if error is true");
  }
  const { state } = deps;
  const job = state.job(namespace, jobId);
  if (!job) throw new HttpError(404, `job "${jobId}" not found`);
  if (job.Type === "system" && (count ?? 0) > 1) {
    throw new HttpError(400, 'jobs of type "system" can only be scaled to 1 or 0');
  }
  const group = job.TaskGroups.find((taskGroup) => taskGroup.Name === groupName);
  if (!group)
    throw new HttpError(400, `task group "${groupName}" specified for scaling does not exist in job`);

  let answer = { EvalID: "", EvalCreateIndex: 0, JobModifyIndex: job.ModifyIndex };
  if (count !== null) {
    if (group.Scaling && count < group.Scaling.Min) {
      throw new HttpError(
        400,
        `group count was less than scaling policy minimum: ${count} < ${group.Scaling.Min}`,
      );
    }
    if (group.Scaling && group.Scaling.Max < count) {
      throw new HttpError(
        400,
        `group count was greater than scaling policy maximum: ${count} > ${group.Scaling.Max}`,
      );
    }
    if (state.isDeploymentActive(namespace, jobId)) {
      throw new HttpError(400, "job scaling blocked due to active deployment");
    }
    const write = state.scaleGroup(namespace, jobId, groupName, count);
    answer = { EvalID: write.evalId, EvalCreateIndex: write.index, JobModifyIndex: write.index };
    deps.evaluateLater(namespace, jobId);
  }
  const index = state.recordScalingEvent(namespace, jobId, groupName, {
    Time: deps.clockNs(),
    Count: count,
    PreviousCount: group.Count,
    Message: request.Message,
    Error: request.Error,
    Meta: request.Meta,
    EvalID: answer.EvalID === "" ? null : answer.EvalID,
  });
  return {
    json: { ...answer, Warnings: "", Index: index, LastContact: 0, KnownLeader: false, NextToken: "" },
    index,
  };
}

async function writeVariable(
  deps: RouteDependencies,
  authorize: (context: RequestContext) => Grants,
  context: RequestContext,
  path: string,
): Promise<Reply> {
  const body = await context.readJson();
  const { Namespace, Items } = (isObject(body) ? body : {}) as { Namespace?: unknown; Items?: unknown };
  if (!isObject(Items) || Object.keys(Items).length === 0) {
    throw new HttpError(400, "variable missing required Items object");
  }
  if (!Object.values(Items).every((value) => typeof value === "string")) {
    throw new HttpError(
      400,
      "json: cannot unmarshal into Go struct field VariableDecrypted.Items of type string",
    );
  }
  const cas = parseCas(context.query);
  const namespace = typeof Namespace === "string" && Namespace !== "" ? Namespace : context.namespace;
  const grants = authorize(context);
  if (!grants.allowsVariable(namespace, path, "write")) throw new HttpError(403, PERMISSION_DENIED);
  // Nomad refuses invalid Variables with X-Nomad-Index 0, plain text, never worth a retry
  // (var-put-invalid-path.http, var-put-too-large.http): 1.6.5 with 500 and the bare message, 2.0.5
  // with 400 and the message after `RPC Error:: 400,`.
  const invalid = (message: string) =>
    deps.version === "1.6.5"
      ? new HttpError(500, message, 0)
      : new HttpError(400, `RPC Error:: 400,${message}`, 0);
  if (!VARIABLE_PATH.test(path)) throw invalid(`invalid path "${path}"`);
  const items = Items as StringMap;
  // Go's len(): bytes of the keys and values, not characters (nomad/structs/variables.go Items.Size).
  const size = Object.entries(items).reduce(
    (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
    0,
  );
  if (size > VARIABLE_MAX_BYTES) throw invalid("variables are limited to 64KiB in total size");

  const result = deps.state.writeVariable(namespace, path, items, cas);
  if ("conflict" in result) return conflictReply(grants, result.conflict);
  return { json: result.written, index: result.written.ModifyIndex };
}

// A lost check-and-set answers 409 with the variable as it is now, its items only for a token that
// may read them (hashicorp/nomad nomad/variables_endpoint.go makeVariablesApplyResponse).
function conflictReply(
  grants: Grants,
  conflict: { Namespace: string; Path: string; ModifyIndex: number; Items: StringMap | null },
): Reply {
  const canRead = grants.allowsVariable(conflict.Namespace, conflict.Path, "read");
  return {
    json: { ...conflict, Items: canRead ? conflict.Items : null },
    status: 409,
    index: conflict.ModifyIndex,
    contentType: SNIFFED_JSON,
  };
}

interface ScalingRequest {
  Count: number | null;
  Target: { Group?: string; Job?: string; Namespace?: string };
  Message: string;
  Error: boolean;
  Meta: Record<string, unknown> | null;
}

function scalingRequestOf(body: unknown): ScalingRequest {
  if (!isObject(body))
    throw new HttpError(400, "json: cannot unmarshal into Go value of type api.ScalingRequest");
  const { Count, Target, Message, Error: isError, Meta } = body;
  if (Count !== undefined && Count !== null && !Number.isInteger(Count)) {
    throw new HttpError(
      400,
      `json: cannot unmarshal ${JSON.stringify(Count)} into Go struct field ScalingRequest.Count of type int64`,
    );
  }
  if (isError !== undefined && typeof isError !== "boolean") {
    throw new HttpError(400, "json: cannot unmarshal into Go struct field ScalingRequest.Error of type bool");
  }
  const target = isObject(Target) ? Target : {};
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    Count: typeof Count === "number" ? Count : null,
    Target: { Group: text(target.Group), Job: text(target.Job), Namespace: text(target.Namespace) },
    Message: typeof Message === "string" ? Message : "",
    Error: isError === true,
    Meta: isObject(Meta) ? Meta : null,
  };
}

function deregisterResponse(evalId: string, evalIndex: number, index: number) {
  return {
    EvalID: evalId,
    EvalCreateIndex: evalIndex,
    JobModifyIndex: index,
    VolumeEvalID: "",
    VolumeEvalIndex: 0,
    Index: index,
    LastContact: 0,
    KnownLeader: false,
    NextToken: "",
  };
}

function allocationStub(alloc: NomadAllocation) {
  return {
    ID: alloc.ID,
    EvalID: alloc.EvalID,
    Name: alloc.Name,
    Namespace: alloc.Namespace,
    NodeID: alloc.NodeID,
    NodeName: alloc.NodeName,
    JobID: alloc.JobID,
    JobType: alloc.Job?.Type ?? "service",
    JobVersion: alloc.Job?.Version ?? 0,
    TaskGroup: alloc.TaskGroup,
    DesiredStatus: alloc.DesiredStatus,
    DesiredDescription: alloc.DesiredDescription,
    ClientStatus: alloc.ClientStatus,
    ClientDescription: alloc.ClientDescription,
    DesiredTransition: alloc.DesiredTransition,
    TaskStates: alloc.TaskStates,
    DeploymentStatus: alloc.DeploymentStatus,
    FollowupEvalID: alloc.FollowupEvalID,
    NextAllocation: alloc.NextAllocation,
    RescheduleTracker: alloc.RescheduleTracker,
    PreemptedAllocations: alloc.PreemptedAllocations,
    PreemptedByAllocation: alloc.PreemptedByAllocation,
    CreateIndex: alloc.CreateIndex,
    ModifyIndex: alloc.ModifyIndex,
    CreateTime: alloc.CreateTime,
    ModifyTime: alloc.ModifyTime,
  };
}

// `GET /v1/job/:id/scale` (job-scale-status*.http): the counts of each group and its scaling events.
function scaleStatus(state: ClusterState, job: NomadJob) {
  const allocs = state.allocationsOfJob(job.Namespace, job.ID);
  return {
    JobID: job.ID,
    Namespace: job.Namespace,
    JobCreateIndex: job.CreateIndex,
    JobModifyIndex: job.ModifyIndex,
    JobStopped: job.Stop,
    TaskGroups: Object.fromEntries(
      job.TaskGroups.map((group) => {
        const live = allocs.filter((alloc) => alloc.TaskGroup === group.Name && isLive(alloc));
        const running = live.filter((alloc) => alloc.ClientStatus === "running").length;
        const health = (healthy: boolean) =>
          live.filter((alloc) => alloc.DeploymentStatus?.Healthy === healthy).length;
        const events = state.scalingEvents(job.Namespace, job.ID, group.Name);
        return [
          group.Name,
          {
            Desired: group.Count,
            Placed: live.length,
            Running: running,
            Healthy: health(true),
            Unhealthy: health(false),
            Events: events.length === 0 ? null : events,
          },
        ];
      }),
    ),
  };
}

// Nomad's list endpoints answer with the highest ModifyIndex of what they list, or the table's index.
function latestIndex(allocs: readonly NomadAllocation[], tableIndex: number): number {
  return allocs.length === 0 ? tableIndex : Math.max(...allocs.map((alloc) => alloc.ModifyIndex));
}

// Go's strconv.ParseBool, as Nomad parses `?purge=`.
function parseBool(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null || value === "") return false;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw new HttpError(
    400,
    `Failed to parse value of "${name}" (${value}) as a bool: strconv.ParseBool: parsing "${value}": invalid syntax`,
  );
}

function parseCas(query: URLSearchParams): number | undefined {
  const value = query.get("cas");
  if (value === null || value === "") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new HttpError(400, `can not parse cas: strconv.ParseUint: parsing "${value}": invalid syntax`);
  }
  return Number(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

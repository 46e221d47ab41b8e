import { type Clock, systemClock } from "../../src/clock.js";
import { type AclPolicy, TOKEN_EXPIRED, TokenStore } from "./acl.js";
import { BlockingQueries } from "./blocking.js";
import { ClusterState } from "./cluster-state.js";
import { EventBroker } from "./event-broker.js";
import { eventStreamRoute, OpenStreams } from "./event-stream.js";
import { Faults, type SimulatorFaults } from "./faults.js";
import { type CallRecord, NomadHttpServer } from "./http-server.js";
import { canonicalizeJob } from "./job-spec.js";
import type { ClientStatus, NomadAllocation, NomadJob, ScalingEvent, SimJob, StringMap } from "./model.js";
import { type AllocationRuntime, NodeClients, PendingWork, type RuntimeFailure } from "./node-clients.js";
import { apiRoutes } from "./routes.js";
import { isLive, isTerminalClientStatus, reconcile } from "./scheduler.js";
import { ServiceCatalog, serviceCatalogRoutes } from "./service-catalog.js";

/** The Nomad versions the simulator answers as, each recorded in test/fixtures/nomad-<version>/. */
export const NOMAD_VERSIONS = ["1.6.5", "2.0.5"] as const;
export type NomadVersion = (typeof NOMAD_VERSIONS)[number];

export interface SimulatorOptions {
  /**
   * Which Nomad to answer as where the recorded versions differ (test/fixtures/nomad-2.0.5/README.md);
   * 1.6.5 by default.
   */
  version?: NomadVersion;
  /** Interval of the `{}` heartbeat lines on the event stream; Nomad's is 30 s. */
  heartbeatIntervalMs?: number;
  /** Batches the event stream can replay on resume; Nomad's default is 100. */
  eventBufferSize?: number;
  /** ACLs enforced (the default); without them every request may do everything. */
  acl?: boolean;
  /**
   * The clients report each new allocation's tasks received and set up (`pending`, `StartedAt`
   * null, events `Received` and `Task Setup`) before they start, as a real client may
   * (event-stream.ndjson). Off by default: one event less per placement keeps tests' sequences short.
   */
  pendingTaskReports?: boolean;
  /**
   * The cluster's clock (allocation and job times, Variable times, the event stream's heartbeat, when
   * an allocation has run for its group's MinHealthyTime): the test's own, so that the monitor under
   * test and the cluster it watches agree on the time.
   */
  clock?: Clock;
}

export interface JobPlacement {
  /** Group name → the nodes its allocations go to (spread over them); every node by default. */
  nodes?: Record<string, string[]>;
}

export interface RegisteredJob {
  jobId: string;
  namespace: string;
  version: number;
  jobModifyIndex: number;
  evalId: string;
  /** The job's live allocations once the registration has settled. */
  allocIds: string[];
}

interface SimulatorParts {
  version: NomadVersion;
  http: NomadHttpServer;
  state: ClusterState;
  tokens: TokenStore;
  broker: EventBroker;
  streams: OpenStreams;
  clients: NodeClients;
  work: PendingWork;
  faults: Faults;
  calls: CallRecord[];
  managementToken: string;
}

// What Nomad's event publisher writes last when a subscription's token changes.
const SUBSCRIPTION_CLOSED = "subscription closed by server, client should resubscribe";
const NS_PER_MS = 1_000_000;

/**
 * A Nomad cluster on loopback for the calls the monitor makes (nomad-api-notes.md), with real
 * containers through each node's runtime, ACL tokens, an event stream and injectable faults.
 */
export class NomadSimulator {
  /** The Nomad version the simulator answers as. */
  readonly version: NomadVersion;
  private readonly http: NomadHttpServer;
  private readonly state: ClusterState;
  private readonly tokens: TokenStore;
  private readonly broker: EventBroker;
  private readonly streams: OpenStreams;
  private readonly clients: NodeClients;
  private readonly work: PendingWork;
  private readonly faultControl: Faults;
  private readonly callLog: CallRecord[];
  /** The bootstrap (management) token's secret ID. */
  readonly managementToken: string;

  private constructor(parts: SimulatorParts) {
    this.version = parts.version;
    this.http = parts.http;
    this.state = parts.state;
    this.tokens = parts.tokens;
    this.broker = parts.broker;
    this.streams = parts.streams;
    this.clients = parts.clients;
    this.work = parts.work;
    this.faultControl = parts.faults;
    this.callLog = parts.calls;
    this.managementToken = parts.managementToken;
  }

  static async start(options: SimulatorOptions = {}): Promise<NomadSimulator> {
    const version = options.version ?? "1.6.5";
    const clock: Clock = options.clock ?? systemClock;
    const broker = new EventBroker(options.eventBufferSize ?? 100);
    const state = new ClusterState(clock, broker);
    const tokens = new TokenStore(options.acl ?? true);
    const work = new PendingWork();
    const clients = new NodeClients(state, clock, work, options.pendingTaskReports ?? false);
    const streams = new OpenStreams();
    const blocking = new BlockingQueries(state, clock);
    const faults = new Faults(clock, streams, blocking);
    const calls: CallRecord[] = [];
    const managementToken = tokens.create({ management: true });

    const routes = [
      eventStreamRoute({
        broker,
        tokens,
        streams,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
        version,
      }),
      ...apiRoutes({
        state,
        tokens,
        version,
        clockNs: () => clock.now() * NS_PER_MS,
        blockUntil: (context, resultIndex) => blocking.until(context, resultIndex),
        evaluateLater: (namespace, jobId) =>
          work.track(
            new Promise<void>((resolve, reject) =>
              setImmediate(() => {
                try {
                  resolve(evaluate(state, clients, namespace, jobId));
                } catch (error) {
                  reject(error);
                }
              }),
            ),
          ),
      }),
      ...serviceCatalogRoutes(new ServiceCatalog(state, broker), tokens),
    ];
    const http = await NomadHttpServer.listen(routes, { faults, clock, record: (call) => calls.push(call) });
    return new NomadSimulator({
      version,
      http,
      state,
      tokens,
      broker,
      streams,
      clients,
      work,
      faults,
      calls,
      managementToken,
    });
  }

  /** `http://127.0.0.1:<port>` */
  get address(): string {
    return this.http.address;
  }

  get faults(): SimulatorFaults {
    return this.faultControl;
  }

  /** Every request answered so far, in order (method, decoded path, query, status; never the token). */
  get calls(): ReadonlyArray<Readonly<CallRecord>> {
    return this.callLog;
  }

  /** Errors the node runtimes threw while starting or stopping containers. */
  get runtimeFailures(): readonly RuntimeFailure[] {
    return this.clients.failures;
  }

  /** A client node; with a runtime its allocations get real containers, without one it is an "other node". */
  addNode(name: string, runtime?: AllocationRuntime): string {
    const node = this.state.addNode(name);
    if (runtime) this.clients.attach(node.id, runtime);
    return node.id;
  }

  /**
   * `nomad job run`: registers the job (or a new version of it: `JobRegistered` event), places or
   * stops allocations to match each group's Count, and resolves once their containers are up.
   */
  async registerJob(input: SimJob, placement: JobPlacement = {}): Promise<RegisteredJob> {
    const spec = canonicalizeJob(input);
    if (this.state.nodeIds.length === 0) throw new Error("add a node before registering jobs");
    for (const [group, nodeIds] of Object.entries(placement.nodes ?? {})) {
      for (const nodeId of nodeIds)
        if (!this.state.node(nodeId)) throw new Error(`group ${group}: unknown node ${nodeId}`);
    }
    const write = this.state.registerJob(spec, placement.nodes);
    evaluate(this.state, this.clients, spec.Namespace, spec.ID);
    await this.work.settled();
    return {
      jobId: spec.ID,
      namespace: spec.Namespace,
      version: write.job.Version,
      jobModifyIndex: write.index,
      evalId: write.evalId,
      allocIds: this.state
        .allocationsOfJob(spec.Namespace, spec.ID)
        .filter(isLive)
        .map((alloc) => alloc.ID),
    };
  }

  /** What Nomad's garbage collector does to a stopped job after a while (or `nomad job stop -purge`). */
  purgeJob(namespace: string, jobId: string): void {
    if (!this.state.deregisterJob(namespace, jobId, true)) throw new Error(`no job ${jobId} in ${namespace}`);
  }

  /** An operator's `nomad job stop` (no purge), settled. */
  async stopJob(namespace: string, jobId: string): Promise<void> {
    if (!this.state.deregisterJob(namespace, jobId, false))
      throw new Error(`no job ${jobId} in ${namespace}`);
    evaluate(this.state, this.clients, namespace, jobId);
    await this.work.settled();
  }

  /** Stops one allocation from the server side (no replacement), settled. */
  async stopAllocation(allocId: string): Promise<void> {
    const alloc = this.#allocation(allocId);
    const { stopped } = this.state.applyPlan(alloc.Namespace, alloc.JobID, {
      place: [],
      stop: [allocId],
      update: [],
    });
    for (const each of stopped) this.clients.stop(each.ID);
    await this.work.settled();
  }

  /** What the allocation's client reports; a terminal status (failed, complete, lost) takes its containers down. */
  async setClientStatus(allocId: string, status: ClientStatus): Promise<void> {
    this.#allocation(allocId);
    this.clients.setClientStatus(allocId, status);
    await this.work.settled();
  }

  /**
   * Removes terminal allocations (all of them, or those named) the way Nomad's garbage collector
   * does: silently, no event. Returns the IDs removed.
   */
  garbageCollect(allocIds?: readonly string[]): string[] {
    const chosen = allocIds ? allocIds.map((id) => this.#allocation(id)) : this.state.allocations;
    const live = chosen.filter((alloc) => !isTerminalClientStatus(alloc.ClientStatus));
    if (allocIds && live.length > 0)
      throw new Error(`not terminal, cannot be collected: ${live.map((a) => a.ID).join(", ")}`);
    const removed = chosen
      .filter((alloc) => isTerminalClientStatus(alloc.ClientStatus))
      .map((alloc) => alloc.ID);
    this.state.collectGarbage(removed);
    return removed;
  }

  /**
   * Holds the job's deployment active (scale requests answer 400 `job scaling blocked due to active
   * deployment`) whatever its allocations do, or, `false`, ends it now. Without it a service job's
   * deployment ends once its allocations have run for MinHealthyTime.
   */
  setDeploymentActive(namespace: string, jobId: string, active: boolean): void {
    this.state.setDeploymentActive(namespace, jobId, active);
  }

  /** A new ACL token with this policy; returns its secret ID. */
  createToken(policy: AclPolicy): string {
    return this.tokens.create(policy);
  }

  /**
   * A task's workload identity (a JWT): it may only read and list the Variables `nomad/jobs`,
   * `nomad/jobs/<job>[/<group>[/<task>]]` of its namespace.
   */
  /** `nomad acl policy apply -namespace <ns> -job <job> …`: the policy joins the job's workload identities. */
  attachPolicyToJob(namespace: string, jobId: string, policy: AclPolicy): void {
    this.tokens.attachToJob(namespace, jobId, policy);
  }

  workloadIdentity(namespace: string, jobId: string, group?: string, task?: string): string {
    if (task !== undefined && group === undefined) throw new Error("a task identity needs its group");
    return this.tokens.createWorkloadIdentity({ namespace, jobId, group, task });
  }

  /**
   * Deletes the token: requests get 403 `Permission denied`. Nomad 1.6.5 ends its open streams with a
   * last line; Nomad 2.0.5 leaves them open (event-stream-token-revoked.ndjson of each).
   */
  revokeToken(secret: string): void {
    if (!this.tokens.revoke(secret)) throw new Error("no such token");
    if (this.version === "1.6.5") this.broker.endSubscriptionsOf(secret, SUBSCRIPTION_CLOSED);
  }

  /**
   * Expires the token: requests get 403 `ACL token expired`. Nomad 1.6.5 ends its open streams with that
   * line; as with a deleted token, Nomad 2.0.5 is taken to leave them open (not recorded).
   */
  expireToken(secret: string): void {
    if (!this.tokens.expire(secret)) throw new Error("no such token");
    if (this.version === "1.6.5") this.broker.endSubscriptionsOf(secret, TOKEN_EXPIRED);
  }

  /** Writes a Variable (no check-and-set); returns its new ModifyIndex. */
  putVariable(namespace: string, path: string, items: StringMap): number {
    const result = this.state.writeVariable(namespace, path, items, undefined);
    if ("conflict" in result) throw new Error("unreachable: a write without cas never conflicts");
    return result.written.ModifyIndex;
  }

  /** The paths of a namespace's Variables under `prefix`, sorted. */
  listVariables(namespace: string, prefix: string): string[] {
    return this.state.variablesUnder(namespace, prefix).map((variable) => variable.Path);
  }

  /** The job's current version, as `GET /v1/job/:id` would answer (in Nomad 1.6.5's shape, whatever the version). */
  job(namespace: string, jobId: string): NomadJob | undefined {
    const job = this.state.job(namespace, jobId);
    return job && structuredClone(job);
  }

  /** Full allocations (with `Job`, in Nomad 1.6.5's shape), optionally only a job's or a node's. */
  allocations(filter: { namespace?: string; jobId?: string; nodeId?: string } = {}): NomadAllocation[] {
    return structuredClone(
      this.state.allocations.filter(
        (alloc) =>
          (filter.namespace === undefined || alloc.Namespace === filter.namespace) &&
          (filter.jobId === undefined || alloc.JobID === filter.jobId) &&
          (filter.nodeId === undefined || alloc.NodeID === filter.nodeId),
      ),
    );
  }

  /** The group's scaling events, newest first, as the Nomad UI lists them. */
  scalingEvents(namespace: string, jobId: string, group: string): ScalingEvent[] {
    return structuredClone(this.state.scalingEvents(namespace, jobId, group));
  }

  /** Resolves once every placement, container start/stop and status report under way has finished. */
  whenSettled(): Promise<void> {
    return this.work.settled();
  }

  /** Ends open streams, waits for container work under way, then stops listening. Containers stay up. */
  async close(): Promise<void> {
    this.clients.stopTimers();
    this.faultControl.clear();
    this.streams.endAll();
    await this.work.settled();
    await this.http.close();
  }

  #allocation(allocId: string): NomadAllocation {
    const alloc = this.state.allocation(allocId);
    if (!alloc) throw new Error(`no allocation ${allocId}`);
    return alloc;
  }
}

/** One evaluation of a job: the scheduler's plan, applied, then carried out by the node clients. */
function evaluate(state: ClusterState, clients: NodeClients, namespace: string, jobId: string): void {
  const job = state.job(namespace, jobId);
  if (!job) return;
  const plan = reconcile(
    job,
    state.allocationsOfJob(namespace, jobId),
    state.nodeIds,
    state.nodesPerGroup(namespace, jobId),
  );
  const { placed, stopped, updated } = state.applyPlan(namespace, jobId, plan);
  state.completeEvaluation(namespace, jobId);
  for (const alloc of placed) clients.run(alloc);
  for (const alloc of stopped) clients.stop(alloc.ID);
  for (const alloc of updated) clients.trackHealth(alloc.ID);
}

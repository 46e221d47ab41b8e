import type { Logger } from "pino";
import { type ActionOutcome, Actions } from "./actions.js";
import { jobKey, type LiveAllocation, NodeAllocations } from "./allocations.js";
import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import type { NetworkSampler } from "./docker/reading.js";
import { formatDuration } from "./duration.js";
import { ActivityTracker, decideGroup, type GroupDecision, type Reading, TrafficMeter } from "./idle.js";
import type { Job, NomadApi } from "./nomad/api.js";
import type { ActionToken } from "./nomad/token.js";
import { AllocationWatch, type WatchTiming } from "./nomad/watch.js";
import { type GroupPolicy, groupPolicy, ignoredTaskKeys, type PolicyDefaults } from "./policy.js";
import { RateLimitedNotice, sleep } from "./retry.js";

export interface MonitorOptions {
  config: Config;
  nodeId: string;
  nomad: NomadApi;
  token: ActionToken;
  sampler: NetworkSampler;
  clock: Clock;
  log: Logger;
  watchTiming?: WatchTiming;
}

/** An opted-in task group as seen on this node in one cycle. */
interface WatchedGroup {
  key: string;
  namespace: string;
  jobId: string;
  group: string;
  job: Job;
  policy: GroupPolicy;
  allocations: LiveAllocation[];
}

const SYSTEM_TYPES = new Set(["system", "sysbatch"]);
const NODE_SCOPE = "";

/**
 * The loop that wires the pieces: every CHECK_INTERVAL, sample the opted-in allocations of this node,
 * decide which groups are idle, and stop or scale them. Cycles never overlap.
 */
export class Monitor {
  readonly view: NodeAllocations;
  private readonly watch: AllocationWatch;
  private readonly actions: Actions;
  private readonly meter = new TrafficMeter();
  private readonly tracker = new ActivityTracker();
  /** Things said once, per job (forgotten with the job's last allocation on this node) or for the node. */
  private readonly said = new Map<string, Set<string>>();
  private readonly lastDecision = new Map<string, GroupDecision["kind"]>();
  private readonly cooldownUntil = new Map<string, number>();
  private readonly notices: RateLimitedNotice;
  private readonly knownAllocations = new Set<string>();

  constructor(private readonly options: MonitorOptions) {
    const { config, nomad, token, nodeId, clock, log } = options;
    this.view = new NodeAllocations(nodeId);
    this.watch = new AllocationWatch({
      nomad,
      token,
      view: this.view,
      nodeId,
      clock,
      log,
      timing: options.watchTiming,
    });
    this.actions = new Actions({ nomad, token, dryRun: config.dryRun });
    this.notices = new RateLimitedNotice(60_000, () => clock.now());
  }

  private get policyDefaults(): PolicyDefaults {
    const { config } = this.options;
    return {
      timeoutMs: config.idleTimeoutMs,
      thresholdBytes: config.activityThresholdBytes,
      checkIntervalMs: config.checkIntervalMs,
    };
  }

  /** Watches and samples until the signal aborts; an action in flight is allowed to finish. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, config, log } = this.options;
    const watching = this.watch.run(signal);
    let nextTick = clock.now();
    while (!signal.aborted) {
      const started = clock.now();
      await this.cycle(signal).catch((error: unknown) => {
        log.error(`sampling cycle failed: ${(error as Error).message}`);
      });
      nextTick += config.checkIntervalMs;
      const now = clock.now();
      if (now > nextTick) {
        const skipped = Math.ceil((now - nextTick) / config.checkIntervalMs);
        log.warn(
          `a sampling cycle took ${formatDuration(now - started)}, longer than CHECK_INTERVAL (${formatDuration(config.checkIntervalMs)}); skipping ${skipped} tick(s)`,
        );
        nextTick += skipped * config.checkIntervalMs;
      }
      await sleep(nextTick - clock.now(), signal);
    }
    await watching;
  }

  /** One sampling cycle: sample → decide → act. */
  async cycle(signal?: AbortSignal): Promise<void> {
    const { clock, log, sampler } = this.options;
    const groups = this.watchedGroups();
    this.forgetWhatIsGone(groups);
    const allocations = groups.flatMap((group) => group.allocations.map((alloc) => ({ alloc, group })));
    this.forgetAllocationsExcept(new Set(allocations.map(({ alloc }) => alloc.id)));
    if (allocations.length === 0) return;

    const at = clock.now();
    let readings: Map<string, Reading>;
    try {
      readings = await sampler.sample(
        allocations.map(({ alloc }) => alloc.id),
        at,
      );
      if (this.notices.clear("docker")) log.info("the Docker Engine answers again; sampling resumed");
      if (sampler.procRootVisible?.() === false) {
        this.sayOnce(NODE_SCOPE, "proc-root", () =>
          log.error(
            `cannot see any container's processes under PROC_ROOT=${this.options.config.procRoot}: mount the host's /proc read-only at /host/proc (the job spec in nomad/ does); until then nothing can be measured`,
          ),
        );
      }
    } catch (error) {
      if (this.notices.shouldSay("docker")) {
        log.warn(
          `cannot reach the Docker Engine: ${(error as Error).message}; allocations count as unknown until it answers`,
        );
      }
      const reason = "Docker Engine unreachable";
      readings = new Map(
        allocations.map(({ alloc }) => [alloc.id, { allocId: alloc.id, at, state: "unknown", reason }]),
      );
    }

    const threshold = (policy: GroupPolicy) => ({
      thresholdBytes: policy.thresholdBytes,
      checkIntervalMs: this.options.config.checkIntervalMs,
    });
    for (const { alloc, group } of allocations) {
      const reading = readings.get(alloc.id) ?? {
        allocId: alloc.id,
        at,
        state: "unknown",
        reason: "not sampled",
      };
      const activity = this.meter.measure(reading, threshold(group.policy));
      this.tracker.record(activity, alloc.startedAt);
      log.debug({ alloc: alloc.id, job: group.jobId, group: group.group, ...activity }, "activity");
    }

    const decisions = groups.map((group) => ({ group, decision: this.decide(group, clock.now()) }));
    await this.act(decisions, signal);
  }

  /** Opted-in groups of this node's live allocations, saying once what is left alone and why. */
  private watchedGroups(): WatchedGroup[] {
    const { config } = this.options;
    const byGroup = new Map<string, { job: Job; group: string; allocations: LiveAllocation[] }>();
    for (const alloc of this.view.live()) {
      const { job, namespace, jobId, group } = alloc;
      if (!job || SYSTEM_TYPES.has(job.Type)) continue;
      if (jobId === config.self.jobId && namespace === config.namespace) continue;
      const key = `${jobKey(namespace, jobId)}/${group}`;
      const entry = byGroup.get(key) ?? { job, group, allocations: [] };
      entry.allocations.push(alloc);
      byGroup.set(key, entry);
    }
    const watched: WatchedGroup[] = [];
    for (const [key, { job, group, allocations }] of byGroup) {
      const policy = this.optedInPolicy(job, group);
      if (policy)
        watched.push({ key, namespace: job.Namespace, jobId: job.ID, group, job, policy, allocations });
    }
    return watched;
  }

  /** The group's policy when it may be watched; otherwise undefined, having said once why not. */
  private optedInPolicy(job: Job, group: string): GroupPolicy | undefined {
    const { config, log } = this.options;
    const { ID: jobId, Namespace: namespace } = job;
    const result = groupPolicy(job, group, this.policyDefaults);
    const jobLog = log.child({ job: jobId, namespace });
    const scope = jobKey(namespace, jobId);
    const version = `@${job.JobModifyIndex}`;
    for (const ignored of ignoredTaskKeys(job)) {
      this.sayOnce(scope, `task-key:${version}:${ignored.group}/${ignored.task}/${ignored.key}`, () =>
        jobLog.warn(
          `job ${jobId}: meta key ${ignored.key} on task ${ignored.task} (group ${ignored.group}) is ignored; set it on the job or the group`,
        ),
      );
    }
    if (result.kind === "not-opted-in") return undefined;
    if (config.namespaces !== "*" && !config.namespaces.includes(namespace)) {
      this.sayOnce(scope, `namespace:${version}`, () =>
        jobLog.info(
          `job ${jobId} opted in, but namespace ${namespace} is not in NAMESPACES; leaving it alone`,
        ),
      );
      return undefined;
    }
    if (result.kind === "invalid") {
      for (const problem of result.problems) {
        this.sayOnce(scope, `invalid:${version}:${group}:${problem.scope}:${problem.key}`, () =>
          jobLog.warn(
            `job ${jobId} group ${group}: ${problem.scope} meta ${problem.key}="${problem.value}" is not valid (expected ${problem.expected}); leaving the group alone`,
          ),
        );
      }
      return undefined;
    }
    const taskGroup = job.TaskGroups.find((candidate) => candidate.Name === group);
    const otherDriver = taskGroup?.Tasks.find((task) => task.Driver !== "docker");
    if (otherDriver) {
      this.sayOnce(scope, `driver:${version}:${group}`, () =>
        jobLog.warn(
          `job ${jobId} group ${group} opted in but cannot be measured: task ${otherDriver.Name} uses the ${otherDriver.Driver} driver (only docker is supported); leaving it alone`,
        ),
      );
      return undefined;
    }
    return result.policy;
  }

  private decide(group: WatchedGroup, now: number): GroupDecision {
    const states = group.allocations.map((alloc) => this.tracker.stateOf(alloc.id));
    const decision = decideGroup(states, group.policy, now, this.options.config.checkIntervalMs);
    const log = this.options.log.child({ job: group.jobId, namespace: group.namespace, group: group.group });
    const previous = this.lastDecision.get(group.key);
    this.lastDecision.set(group.key, decision.kind);
    const what = `job ${group.jobId} group ${group.group}`;
    if (previous === undefined) {
      const { timeoutMs, thresholdBytes, action } = group.policy;
      const interval = formatDuration(this.options.config.checkIntervalMs);
      log.info(
        `watching ${what}: ${action === "stop" ? "stop the job" : "scale the group to 0"} after ${formatDuration(timeoutMs)} without more than ${thresholdBytes} B per ${interval}`,
      );
    }
    if (decision.kind === "unknown") {
      if (decision.reason.includes("not measured yet")) return decision;
      this.sayOnce(
        jobKey(group.namespace, group.jobId),
        `unknown:${group.group}:${decision.reason.replace(/allocation \S+ /, "")}`,
        () => log.warn(`cannot measure ${what}: ${decision.reason}; it is not treated as idle`),
      );
    }
    if (decision.kind === "active" && previous === "idle") log.info(`${what} is active again`);
    log.debug(`${what}: ${decision.kind}: ${decision.reason}`);
    return decision;
  }

  private async act(
    decisions: Array<{ group: WatchedGroup; decision: GroupDecision }>,
    signal?: AbortSignal,
  ) {
    const byJob = new Map<string, Array<{ group: WatchedGroup; decision: GroupDecision }>>();
    for (const entry of decisions) {
      const key = jobKey(entry.group.namespace, entry.group.jobId);
      byJob.set(key, [...(byJob.get(key) ?? []), entry]);
    }
    for (const [key, entries] of byJob) {
      const idle = entries.filter((entry) => entry.decision.kind === "idle");
      const [first] = idle;
      if (!first || signal?.aborted) continue;
      const until = this.cooldownUntil.get(key);
      if (until !== undefined && this.options.clock.now() < until) continue;
      try {
        await this.actOnJob(key, first.group, entries, idle, signal);
      } catch (error) {
        if (signal?.aborted) return;
        // One bad job never stops the others.
        this.options.log.error(`acting on job ${first.group.jobId} failed: ${(error as Error).message}`);
      }
    }
  }

  private async actOnJob(
    key: string,
    { namespace, jobId }: WatchedGroup,
    entries: Array<{ group: WatchedGroup; decision: GroupDecision }>,
    idle: Array<{ group: WatchedGroup; decision: GroupDecision }>,
    signal?: AbortSignal,
  ): Promise<void> {
    const { nomad, nodeId } = this.options;
    const log = this.options.log.child({ job: jobId, namespace });
    const target = { namespace, jobId };

    // Re-read right before acting: the view may lag, and a stop cannot be undone.
    const job = await nomad.job(namespace, jobId, signal);
    if (!job || job.Stop) return;
    const everywhere = (await nomad.jobAllocations(namespace, jobId, signal)).filter(
      (alloc) =>
        (alloc.ClientStatus === "pending" || alloc.ClientStatus === "running") &&
        alloc.DesiredStatus === "run",
    );
    const elsewhere = everywhere.filter((alloc) => alloc.NodeID !== nodeId);
    const stillOptedIn = ({ group }: { group: WatchedGroup }) => {
      const fresh = groupPolicy(job, group.group, this.policyDefaults);
      return fresh.kind === "opted-in" && fresh.policy.action === group.policy.action;
    };

    const scale = idle.filter(({ group }) => group.policy.action === "scale-to-zero").filter(stillOptedIn);
    for (const { group, decision } of scale) {
      const remote = elsewhere.filter((alloc) => alloc.TaskGroup === group.group);
      if (remote.length > 0) {
        this.sayOnce(key, `elsewhere:${group.group}`, () =>
          log.info(
            `group ${group.group} of job ${jobId} is idle here but also runs on ${describeNodes(remote)}; not scaling it (activity is not shared across nodes yet)`,
          ),
        );
        continue;
      }
      const min = job.TaskGroups.find((candidate) => candidate.Name === group.group)?.Scaling?.Min ?? 0;
      if (min > 0) {
        this.sayOnce(key, `scaling-min:${group.group}:${job.JobModifyIndex}`, () =>
          log.warn(
            `group ${group.group} of job ${jobId} is idle, but its scaling block has min = ${min}, so it cannot be scaled to 0; leaving it`,
          ),
        );
        continue;
      }
      if (signal?.aborted) return;
      const reason = `group ${group.group} ${decision.kind === "idle" ? decision.reason : ""}`;
      this.afterAction(
        key,
        await this.actions.scaleToZero(target, group.group, reason, log, signal),
        `scale group ${group.group}`,
        log,
      );
    }

    const stop = idle.filter(({ group }) => group.policy.action === "stop");
    if (stop.length === 0) return;
    const idleGroups = new Set(stop.filter(stillOptedIn).map(({ group }) => group.group));
    const liveGroups = new Set(everywhere.map((alloc) => alloc.TaskGroup));
    const waitingFor = [...liveGroups].filter((group) => !idleGroups.has(group));
    if (elsewhere.length > 0) {
      this.sayOnce(key, "elsewhere", () =>
        log.info(
          `job ${jobId} is idle here but also has live allocations on ${describeNodes(elsewhere)}; not stopping it (activity is not shared across nodes yet)`,
        ),
      );
      return;
    }
    if (waitingFor.length > 0) {
      const why = waitingFor
        .map((group) => `${group} ${this.describeGroupState(job, entries, group)}`)
        .join(", ");
      this.sayOnce(key, `waiting:${waitingFor.join(",")}`, () =>
        log.info(
          `job ${jobId}: group(s) ${[...idleGroups].join(", ")} idle, but not stopping the job while group(s) ${why}`,
        ),
      );
      return;
    }
    if (signal?.aborted) return;
    const reasons = stop.map(
      ({ group, decision }) => `group ${group.group} ${decision.kind === "idle" ? decision.reason : ""}`,
    );
    this.afterAction(
      key,
      await this.actions.stopJob(target, reasons.join("; "), log, signal),
      "stop the job",
      log,
    );
  }

  private afterAction(key: string, outcome: ActionOutcome, what: string, log: Logger): void {
    if (outcome.kind === "done" || outcome.kind === "dry-run") {
      this.cooldownUntil.set(key, this.options.clock.now() + this.options.config.actionCooldownMs);
      return;
    }
    if (this.notices.shouldSay(`action:${key}:${what}`)) {
      const retry = outcome.kind === "refused" ? "will try again next cycle" : "will try again";
      log.warn(`could not ${what}: ${outcome.message}; ${retry}`);
    }
  }

  private describeGroupState(
    job: Job,
    entries: ReadonlyArray<{ group: WatchedGroup; decision: GroupDecision }>,
    group: string,
  ): string {
    const entry = entries.find((candidate) => candidate.group.group === group);
    if (entry?.decision.kind === "idle") return `(set to ${entry.group.policy.action})`;
    if (entry) return `(${entry.decision.reason})`;
    const policy = groupPolicy(job, group, this.policyDefaults);
    if (policy.kind === "not-opted-in") return "(not opted in)";
    return policy.kind === "invalid" ? "(invalid meta)" : "(cannot be measured)";
  }

  private forgetWhatIsGone(groups: readonly WatchedGroup[]): void {
    const jobsHere = new Set(this.view.live().map((alloc) => jobKey(alloc.namespace, alloc.jobId)));
    for (const scope of this.said.keys()) {
      if (scope !== NODE_SCOPE && !jobsHere.has(scope)) this.said.delete(scope);
    }
    const watched = new Set(groups.map((group) => group.key));
    for (const key of this.lastDecision.keys()) {
      if (!watched.has(key)) this.lastDecision.delete(key);
    }
    const now = this.options.clock.now();
    for (const [key, until] of this.cooldownUntil) {
      if (until <= now) this.cooldownUntil.delete(key);
    }
  }

  private forgetAllocationsExcept(live: ReadonlySet<string>): void {
    for (const allocId of this.knownAllocations) {
      if (live.has(allocId)) continue;
      this.meter.forget(allocId);
      this.tracker.forget(allocId);
      this.knownAllocations.delete(allocId);
    }
    for (const allocId of live) this.knownAllocations.add(allocId);
  }

  private sayOnce(scope: string, key: string, say: () => void): void {
    const said = this.said.get(scope) ?? new Set<string>();
    this.said.set(scope, said);
    if (said.has(key)) return;
    said.add(key);
    say();
  }
}

function describeNodes(allocations: ReadonlyArray<{ NodeID: string; NodeName?: string }>): string {
  const nodes = [...new Set(allocations.map((alloc) => alloc.NodeName || alloc.NodeID.slice(0, 8)))];
  return nodes.length === 1 ? `node ${nodes[0]}` : `nodes ${nodes.join(", ")}`;
}

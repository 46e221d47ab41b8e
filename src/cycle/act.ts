import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { PlannedAction, WaitCause } from "../decide/causes.js";
import { claimLetsAct, mustClaim, spansNodes } from "../decide/claim.js";
import {
  describeFiring,
  describeFiringWait,
  describeIdleness,
  describeSkippedFiring,
  describeWarning,
} from "../decide/describe.js";
import type { EligibilityRules, WatchedGroup } from "../decide/eligibility.js";
import { planFiring } from "../decide/firing.js";
import { planJob } from "../decide/plan.js";
import { firedTogether, lookAtStopAt, type StopAtMemory } from "../decide/stop-at.js";
import { triage } from "../decide/triage.js";
import { warningsDue } from "../decide/warnings.js";
import type { MonitorMetrics } from "../metrics.js";
import { isLive } from "../model/allocation.js";
import type { NodeReport, PeerEvidence } from "../model/cluster.js";
import type { AllocationListStub, Job } from "../model/nomad.js";
import { TAKEOVER_INTERVALS } from "../model/timing.js";
import type { AllocationView, ClusterPort, JobActions, NomadApi, TokenSource } from "../ports.js";
import { withTokenReload } from "../token-reload.js";
import { CarryOut } from "./carry-out.js";
import type { GroupCycle } from "./judge.js";
import type { Measure } from "./measure.js";
import { PeerLooks } from "./peer-looks.js";
import type { Say } from "./say.js";
import type { StateStore } from "./state.js";

export interface ActDeps {
  nodeId: string;
  checkIntervalMs: number;
  actionCooldownMs: number;
  dryRun: boolean;
  /** A firing missed by more than this is skipped, not carried out late. */
  graceMs: number;
  rules: EligibilityRules;
  nomad: Pick<NomadApi, "job" | "jobAllocations">;
  token: Pick<TokenSource, "load">;
  cluster: ClusterPort;
  actions: JobActions;
  view: Pick<AllocationView, "updateJob">;
  clock: Clock;
  log: Logger;
  metrics: MonitorMetrics;
  measure: Measure;
  say: Say;
  store: StateStore;
}

/**
 * Acts on one job per call, in one walk: a `stop-at` that fired, else warnings, then the triage
 * (decide/triage.ts) → a fresh look at the job in Nomad → the plan (decide/plan.ts) → the claim → carry
 * out (carry-out.ts → actions.ts → nomad/api.ts). Keeps the cooldowns and each group's stop-at.
 */
export class Act {
  readonly #deps: ActDeps;
  readonly #carryOut: CarryOut;
  /** Each job acted on, and until when it is left alone; kept through its allocations' drain. */
  readonly #cooldowns: Map<string, number>;
  /** Each group's stop-at: up to when its firings were looked at, and one still to carry out. */
  readonly #stopAt: Map<string, StopAtMemory>;
  readonly #peerLooks: PeerLooks;
  /** Before the first cycle after a restart: when this node last reported, so missed firings show. */
  #restoredFrom: number | undefined;

  constructor(deps: ActDeps) {
    this.#deps = deps;
    this.#cooldowns = deps.store.deadlines("job");
    this.#stopAt = deps.store.map("group");
    this.#peerLooks = new PeerLooks(deps.store, deps.checkIntervalMs);
    this.#carryOut = new CarryOut({ ...deps, cooldowns: this.#cooldowns });
  }

  /** The cooldowns this node's last report carried, and when it was written; returns how many still run. */
  resumeFrom(report: NodeReport, now: number): number {
    this.#restoredFrom = report.writtenAt;
    for (const [key, until] of Object.entries(report.cooldowns)) {
      if (until > now) this.#cooldowns.set(key, until);
    }
    return this.#cooldowns.size;
  }

  /** The jobs in their cooldown at `now`, for this node's report. */
  cooldowns(now: number): Record<string, number> {
    return Object.fromEntries([...this.#cooldowns].filter(([, until]) => until > now));
  }

  /** Whether this node decides a job with other nodes now: its report must then go out every cycle. */
  deciding(now: number): boolean {
    return this.#peerLooks.deciding(now);
  }

  /** The first cycle after a restart is over: from now on each group's own last look counts. */
  cycleDone(): void {
    this.#restoredFrom = undefined;
  }

  /** `key`: the job's key; `decidedAt`: when the groups' decisions were made (their idle times count from then). */
  async onJob(
    key: string,
    groups: readonly GroupCycle[],
    decidedAt: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const { clock, nodeId, cluster, checkIntervalMs, view, rules } = this.#deps;
    const [{ group: first }] = groups as [GroupCycle];
    const now = clock.now();
    const fired = firedTogether(
      groups.map((entry) => ({ group: entry, firing: this.#dueStopAt(entry.group, now) })),
    );
    if (fired) return this.#onFiring(key, fired, signal);
    this.#warnAhead(groups, decidedAt);
    const verdicts = groups.map(({ verdict }) => verdict);
    const triaged = triage(verdicts, this.#cooldowns.get(key), now);
    const byGroup = new Map(groups.map((entry) => [entry.group.group, entry]));
    for (const [name, held] of triaged.held) this.#wait((byGroup.get(name) as GroupCycle).group, held);
    // A schedule holding back every idle group, or the cooldown, needs no fresh look at the job.
    if (!triaged.look) return;
    // A job waiting on other nodes is looked at again only when they may have come round (peer-look.ts).
    if (!this.#peerLooks.due(key, now)) return;

    // Re-read right before acting: the view may lag, and a stop cannot be undone.
    const { job, allocations } = await this.#freshLook(first.namespace, first.jobId, signal);
    if (signal?.aborted) return;
    if (job) view.updateJob(job);
    // Other nodes' reports are read only for a job that runs on them too, and only now.
    const remote = allocations.filter((alloc) => isLive(alloc) && alloc.NodeID !== nodeId);
    const nodes = [...new Set(remote.map((alloc) => alloc.NodeID))];
    const peers: PeerEvidence[] = nodes.length === 0 ? [] : ((await cluster.peerEvidence(nodes)) ?? []);
    const outcomes = planJob({
      nodeId,
      decidedOn: first.job,
      verdicts,
      fresh: job,
      allocations,
      peers,
      takeoverMs: TAKEOVER_INTERVALS * checkIntervalMs,
      triage: triaged,
      rules,
    });
    for (const outcome of outcomes) {
      if (outcome.kind === "wait")
        this.#wait((byGroup.get(outcome.group) as GroupCycle).group, outcome.cause);
    }
    this.#peerLooks.remember(key, { outcomes, remote, peers, verdicts, now: clock.now() });
    const actions = outcomes.filter((outcome) => outcome.kind !== "wait");
    const [firstAction] = actions;
    if (!firstAction || signal?.aborted) return;
    if (!(await this.#claim(first, firstAction.kind, spansNodes(actions)))) return;
    await this.#carryOut.run(
      key,
      first,
      job,
      actions,
      (outcome) => {
        const { verdict } = byGroup.get(outcome.group) as GroupCycle;
        return `group ${outcome.group} ${describeIdleness(verdict, outcome.otherNodes, checkIntervalMs)}`;
      },
      signal,
    );
  }

  /** A stop-at fired: the job is stopped (or the groups scaled to zero) whatever its activity, by one node. */
  async #onFiring(key: string, fired: { firing: number; groups: GroupCycle[] }, signal?: AbortSignal) {
    const { clock, nodeId, view, rules, say } = this.#deps;
    const [{ group: first }] = fired.groups as [GroupCycle];
    const { job, allocations } = await this.#freshLook(first.namespace, first.jobId, signal);
    if (signal?.aborted) return;
    if (job) view.updateJob(job);
    const byGroup = new Map(fired.groups.map((entry) => [entry.group.group, entry.group]));
    const outcomes = planFiring({
      nodeId,
      fired: fired.groups.map(({ verdict }) => ({ group: verdict.group, policy: verdict.policy })),
      firing: fired.firing,
      fresh: job,
      allocations,
      now: clock.now(),
      rules,
    });
    for (const outcome of outcomes) {
      if (outcome.kind !== "wait") continue;
      const group = byGroup.get(outcome.group) as WatchedGroup;
      this.#settleStopAt(group);
      const { jobId, policy } = group;
      say
        .groupLog(group)
        .info(
          describeFiringWait(jobId, group.group, policy.schedule, fired.firing, outcome.cause, clock.now()),
        );
    }
    const actions = outcomes.filter((outcome) => outcome.kind !== "wait");
    const [firstAction] = actions;
    if (!firstAction || signal?.aborted) return;
    if (!(await this.#claim(first, firstAction.kind, spansNodes(actions)))) {
      for (const entry of fired.groups) this.#settleStopAt(entry.group);
      return;
    }
    const reasonOf = (outcome: PlannedAction) =>
      describeFiring(
        outcome.group,
        (byGroup.get(outcome.group) as WatchedGroup).policy.schedule,
        fired.firing,
      );
    for (const { groups, result } of await this.#carryOut.run(key, first, job, actions, reasonOf, signal)) {
      if (result.kind !== "done" && result.kind !== "dry-run") continue;
      for (const group of groups) this.#settleStopAt(byGroup.get(group) as WatchedGroup);
    }
  }

  #dueStopAt(group: WatchedGroup, now: number): number | undefined {
    const { graceMs, say } = this.#deps;
    const { schedule } = group.policy;
    const look = lookAtStopAt({
      schedule,
      memory: this.#stopAt.get(group.key),
      restoredFrom: this.#restoredFrom,
      startedAt: group.allocations.map((alloc) => alloc.startedAt),
      now,
      graceMs,
    });
    if (look.memory) this.#stopAt.set(group.key, look.memory);
    if (look.skipped)
      say
        .groupLog(group)
        .info(describeSkippedFiring(group.jobId, group.group, schedule.timezone, look.skipped, graceMs));
    return look.firing;
  }

  /** The firing of the group is done with: carried out, or no longer to be. */
  #settleStopAt(group: WatchedGroup): void {
    const memory = this.#stopAt.get(group.key);
    if (memory) this.#stopAt.set(group.key, { ...memory, pending: undefined });
  }

  /**
   * One info line (and a `warned` event) when a group is within its warn-before of being acted on: its
   * stop-at, or its idle timeout if it stays quiet — not when its schedule would hold the action back.
   */
  #warnAhead(groups: readonly GroupCycle[], now: number): void {
    const { checkIntervalMs, say } = this.#deps;
    for (const { group, verdict } of groups) {
      for (const warning of warningsDue(verdict, now, checkIntervalMs)) {
        const line = describeWarning(group.jobId, group.group, verdict.policy, warning, now);
        say.warn(group, warning.kind, warning.at, line);
      }
    }
  }

  /** Whether this node may act on the job now (decide/claim.ts): claimed, or no claim needed. */
  async #claim(group: WatchedGroup, action: PlannedAction["kind"], spans: boolean): Promise<boolean> {
    const { cluster, actionCooldownMs, say } = this.#deps;
    if (!mustClaim(cluster.sharing, spans)) return true;
    const claim = await cluster.claim(group.namespace, group.jobId, action, actionCooldownMs);
    if (claimLetsAct(claim, spans)) return true;
    say
      .groupLog(group)
      .debug(
        `job ${group.jobId}: ${claim === "held" ? "another node claimed the action" : "cannot claim the action"}; not acting`,
      );
    return false;
  }

  /** The job and its allocations everywhere, read now; a refused token is read again and the read tried once more. */
  async #freshLook(
    namespace: string,
    jobId: string,
    signal?: AbortSignal,
  ): Promise<{ job: Job | undefined; allocations: AllocationListStub[] }> {
    const { nomad, token } = this.#deps;
    return withTokenReload(
      token,
      async () => {
        const job = await nomad.job(namespace, jobId, signal);
        const allocations = job ? await nomad.jobAllocations(namespace, jobId, signal) : [];
        return { job, allocations };
      },
      { signal },
    );
  }

  #wait(group: WatchedGroup, cause: WaitCause): void {
    if (cause.kind === "job-changed") this.#deps.measure.restartTimers(group, this.#deps.clock.now());
    this.#deps.say.wait(group, cause);
  }
}

import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { WaitCause } from "../decide/causes.js";
import { describeWait, waitKey } from "../decide/describe.js";
import type { JobNotes, WatchedGroup } from "../decide/eligibility.js";
import { jobKey } from "../model/allocation.js";
import type { MonitorEvent } from "../model/events.js";
import { RateLimitedNotice, SayOnce } from "../notices.js";
import type { Notifier } from "../ports.js";
import type { StateStore } from "./state.js";

export interface SayDeps {
  log: Logger;
  clock: Clock;
  nodeId: string;
  /** Webhooks; none when WEBHOOK_URL and WEBHOOK_ALLOWED_HOSTS are unset. */
  notifier?: Notifier;
  store: StateStore;
}

/** Node-level notices (Docker, start-at) are said at most once a minute. */
const NOTICE_INTERVAL_MS = 60_000;

/**
 * What the cycle tells people: log lines said once per job (until it leaves the node), lines said at most
 * once a minute, warnings said once per coming action, and the events the webhooks send.
 */
export class Say {
  readonly #deps: SayDeps;
  /** Lines said once, per job. */
  readonly #said = new SayOnce();
  /** Lines said once, per allocation: what names an allocation or its containers goes when it does. */
  readonly #saidOfAllocation = new SayOnce();
  /** Lines said once about the node itself. */
  readonly #saidOfNode = new SayOnce();
  readonly #notices: RateLimitedNotice;
  readonly #jobNotices: Map<string, RateLimitedNotice>;
  /** The action each group was last warned of, per kind, so that a warning is said once. */
  readonly #warned: Map<string, Map<string, number>>;
  /**
   * What each group was last said to wait for, per kind of cause: a new cause replaces the last one, so
   * that lines naming allocations or dates are not kept for as long as the group stays.
   */
  readonly #waitedFor: Map<string, Map<string, string>>;

  constructor(deps: SayDeps) {
    this.#deps = deps;
    this.#notices = new RateLimitedNotice(NOTICE_INTERVAL_MS, () => deps.clock.now());
    deps.store.add("job", this.#said);
    deps.store.add("allocation", this.#saidOfAllocation);
    this.#jobNotices = deps.store.map("job");
    this.#warned = deps.store.map("group");
    this.#waitedFor = deps.store.map("group");
  }

  /** The logger of one group: its lines carry the job, namespace and group. */
  groupLog(group: WatchedGroup): Logger {
    return this.#deps.log.child({ job: group.jobId, namespace: group.namespace, group: group.group });
  }

  /** Runs `say` unless `key` was said already about the job (since it came to this node). */
  once(group: Pick<WatchedGroup, "namespace" | "jobId">, key: string, say: () => void): void {
    this.#said.say(jobKey(group.namespace, group.jobId), key, say);
  }

  /** Runs `say` unless `key` was said already about the allocation (while it is on this node). */
  onceOfAllocation(allocId: string, key: string, say: () => void): void {
    this.#saidOfAllocation.say(allocId, key, say);
  }

  /** Runs `say` unless `key` was said already about this node. */
  onceOfNode(key: string, say: () => void): void {
    this.#saidOfNode.say("", key, say);
  }

  /** Whether a node-level line about `key` may be said now (at most once a minute). */
  mayNotice(key: string): boolean {
    return this.#notices.shouldSay(key);
  }

  /** Whether something had been said about `key` (so "it works again" is worth saying); forgets it. */
  cleared(key: string): boolean {
    return this.#notices.clear(key);
  }

  /** Whether a line about `key` of one job may be said now (at most once a minute). */
  mayNoticeOfJob(job: string, key: string): boolean {
    const notices =
      this.#jobNotices.get(job) ?? new RateLimitedNotice(NOTICE_INTERVAL_MS, () => this.#deps.clock.now());
    this.#jobNotices.set(job, notices);
    return notices.shouldSay(key);
  }

  /** Why a group waits: said once per cause where a cause lasts, at debug where it passes. */
  wait(group: WatchedGroup, cause: WaitCause): void {
    const log = this.groupLog(group);
    const line = describeWait(group.jobId, group.group, cause, this.#deps.clock.now());
    switch (cause.kind) {
      case "job-changed":
        log.info(line);
        return;
      case "scaling-min":
        this.#waitingFor(group, cause.kind, String(cause.min), () => log.warn(line));
        return;
      case "excluded":
      case "keep-alive":
      case "cooldown":
        this.#waitingFor(group, cause.kind, String(cause.untilMs), () => log.info(line));
        return;
      case "awaiting-nodes":
      case "other-groups":
      case "unmeasured-allocations":
        this.#waitingFor(group, cause.kind, waitKey(cause), () => log.info(line));
        return;
      default:
        log.debug(line);
    }
  }

  /** Runs `say` unless the group was last said to wait for this very `cause` of its `kind`. */
  #waitingFor(group: WatchedGroup, kind: string, cause: string, say: () => void): void {
    const waited = this.#waitedFor.get(group.key) ?? new Map<string, string>();
    this.#waitedFor.set(group.key, waited);
    if (waited.get(kind) === cause) return;
    waited.set(kind, cause);
    say();
  }

  /** A coming action, said once (and sent as a `warned` event) per kind and time. */
  warn(group: WatchedGroup, kind: string, at: number, line: string): void {
    const warned = this.#warned.get(group.key) ?? new Map<string, number>();
    this.#warned.set(group.key, warned);
    if (warned.get(kind) === at) return;
    warned.set(kind, at);
    this.groupLog(group).info(line);
    this.notify(group, "warned", line, group.group);
  }

  /** Tells the job's owners through the webhooks, if any are set. */
  notify(group: WatchedGroup, type: MonitorEvent["type"], reason: string, groupName?: string): void {
    const { notifier, clock, nodeId } = this.#deps;
    notifier?.notify(
      {
        type,
        namespace: group.namespace,
        job: group.jobId,
        ...(groupName !== undefined ? { group: groupName } : {}),
        reason,
        node: nodeId,
        at: clock.now(),
      },
      group.policy.webhook,
    );
  }

  /** What is wrong with a job's meta or layout, said once per job version. */
  notes({ namespace, jobId, jobModifyIndex, notes }: JobNotes): void {
    const job = { namespace, jobId };
    const log = this.#deps.log.child({ job: jobId, namespace });
    for (const note of notes) {
      if (note.kind === "task-key-ignored") {
        this.once(job, `task-key:${jobModifyIndex}:${note.group}/${note.task}/${note.key}`, () =>
          log.warn(
            `job ${jobId}: meta key ${note.key} on task ${note.task} (group ${note.group}) is ignored; set it on the job or the group`,
          ),
        );
        continue;
      }
      const { group, why } = note;
      if (why.kind === "namespace-not-allowed") {
        this.once(job, `namespace:${jobModifyIndex}`, () =>
          log.info(
            `job ${jobId} opted in, but namespace ${namespace} is not in NAMESPACES; leaving it alone`,
          ),
        );
      } else if (why.kind === "invalid-meta") {
        for (const problem of why.problems) {
          this.once(job, `invalid:${jobModifyIndex}:${group}:${problem.scope}:${problem.key}`, () =>
            log.warn(
              `job ${jobId} group ${group}: ${problem.scope} meta ${problem.key}="${problem.value}" is not valid (expected ${problem.expected}); leaving the group alone`,
            ),
          );
        }
      } else if (why.kind === "other-driver") {
        this.once(job, `driver:${jobModifyIndex}:${group}`, () =>
          log.warn(
            `job ${jobId} group ${group} opted in but cannot be measured: task ${why.task} uses the ${why.driver} driver (only docker is supported); leaving it alone`,
          ),
        );
      }
    }
  }
}

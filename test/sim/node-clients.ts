import type { Cancel, Clock } from "../../src/clock.js";
import type { HealthCheck } from "../world/world.js";
import type { ClusterState } from "./cluster-state.js";
import type { ClientStatus, NomadAllocation, NomadService } from "./model.js";
import { isTerminalClientStatus } from "./scheduler.js";
import { killingTaskStates, taskStatesOf } from "./task-states.js";

const NS_PER_MS = 1_000_000;

/** Starts and stops the containers of a node's allocations (an adapter over the Docker test world). */
export interface AllocationRuntime {
  start(alloc: AllocationContainers): Promise<void>;
  stop(allocId: string): Promise<void>;
  /** One run of a service check against the allocation; runtimes without containers have none. */
  check?(allocId: string, check: HealthCheck): Promise<void>;
}

/** What a node's runtime needs to lay out an allocation's containers as Nomad's docker driver does. */
export interface AllocationContainers {
  allocId: string;
  /** The group's tasks that use the docker driver. */
  tasks: string[];
  networkMode: "host" | "bridge";
  taskNetworkMode?: "host";
  /** Tasks whose docker config sets `command` (and `args`): what they run. */
  commands?: Record<string, string[]>;
}

export interface RuntimeFailure {
  allocId: string;
  action: "start" | "stop";
  error: unknown;
}

/** Promises still running, so tests can wait until the simulated cluster has settled. */
export class PendingWork {
  readonly #running = new Set<Promise<unknown>>();

  track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#running.add(settled);
    void settled.then(() => this.#running.delete(settled));
  }

  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }
}

/**
 * The Nomad clients of the simulated nodes: they run what the scheduler placed through the node's
 * runtime and report each allocation's client status back to the cluster state. Work on one
 * allocation is serialized, so a stop always follows the start it races with.
 */
export class NodeClients {
  readonly #runtimes = new Map<string, AllocationRuntime>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #containersUp = new Set<string>();
  /** The timers of each allocation's running service checks. */
  readonly #checks = new Map<string, Cancel[]>();
  /** The timer of each allocation waiting out its group's MinHealthyTime. */
  readonly #healthTimers = new Map<string, Cancel>();
  readonly #failures: RuntimeFailure[] = [];

  constructor(
    private readonly state: ClusterState,
    private readonly clock: Clock,
    private readonly work: PendingWork,
    private readonly reportsPendingTasks = false,
  ) {}

  get failures(): readonly RuntimeFailure[] {
    return this.#failures;
  }

  attach(nodeId: string, runtime: AllocationRuntime): void {
    this.#runtimes.set(nodeId, runtime);
  }

  /**
   * A placed allocation: optionally report its tasks received (pending, not started: StartedAt null),
   * start its containers (nodes without a runtime have none), then report running.
   */
  run(alloc: NomadAllocation): void {
    this.#enqueue(alloc.ID, "start", async () => {
      if (this.reportsPendingTasks)
        this.#report(alloc.ID, "pending", "No tasks have started", "Task received by client");
      const runtime = this.#runtimes.get(alloc.NodeID);
      const containers = containersOf(alloc);
      if (runtime && containers.tasks.length > 0) {
        try {
          await runtime.start(containers);
          this.#containersUp.add(alloc.ID);
          this.#startChecks(alloc, runtime);
        } catch (error) {
          this.#failures.push({ allocId: alloc.ID, action: "start", error });
          this.#report(alloc.ID, "failed", "Failed tasks", `failed to start: ${String(error)}`);
          return;
        }
      }
      if (this.state.allocation(alloc.ID)?.DesiredStatus !== "run") return;
      this.#report(alloc.ID, "running", "Tasks are running", "Task started by client");
      this.trackHealth(alloc.ID);
    });
  }

  /**
   * A running allocation of a deployment (placed, or moved into a new one in place) is reported healthy
   * once it has run for its group's MinHealthyTime, on the cluster's clock (allocation-*.http: healthy
   * exactly MinHealthyTime after StartedAt).
   */
  trackHealth(allocId: string): void {
    const alloc = this.state.allocation(allocId);
    if (alloc?.ClientStatus !== "running" || alloc.DeploymentID === "") return;
    this.#healthTimers.get(allocId)?.();
    const group = alloc.Job?.TaskGroups.find((taskGroup) => taskGroup.Name === alloc.TaskGroup);
    const minHealthyMs = (group?.Update?.MinHealthyTime ?? 0) / NS_PER_MS;
    if (minHealthyMs <= 0) {
      this.state.markHealthy(allocId);
      return;
    }
    const cancel = this.clock.after(minHealthyMs, () => {
      this.#healthTimers.delete(allocId);
      this.state.markHealthy(allocId);
    });
    this.#healthTimers.set(allocId, cancel);
  }

  /**
   * A server-side stop: a running allocation's tasks are told to stop (the `Killing` report, still
   * running), the containers go, and the allocation completes unless it already ended.
   */
  stop(allocId: string): void {
    this.#enqueue(allocId, "stop", async () => {
      this.#stopTimers(allocId);
      const alloc = this.state.allocation(allocId);
      if (alloc?.ClientStatus === "running") {
        const taskStates = killingTaskStates(alloc, this.clock.now());
        this.state.updateClientStatus(allocId, { ...clientReport("running"), taskStates });
      }
      await this.#stopContainers(allocId);
      const current = this.state.allocation(allocId);
      if (!current || isTerminalClientStatus(current.ClientStatus)) return;
      this.#report(allocId, "complete", "All tasks have completed", "Task successfully killed");
    });
  }

  /** What a test makes a client report; a terminal status takes the containers down first. */
  setClientStatus(allocId: string, status: ClientStatus): void {
    this.#enqueue(allocId, "stop", async () => {
      if (!isTerminalClientStatus(status)) {
        const current = this.state.allocation(allocId);
        if (current)
          this.state.updateClientStatus(allocId, { ...clientReport(status), taskStates: current.TaskStates });
        return;
      }
      await this.#stopContainers(allocId);
      const message = status === "failed" ? "Task failed" : "Task killed";
      this.#report(allocId, status, clientReport(status).description, message);
    });
  }

  /** Stops every check and health timer (the simulator closes). */
  stopTimers(): void {
    for (const allocId of new Set([...this.#checks.keys(), ...this.#healthTimers.keys()]))
      this.#stopTimers(allocId);
  }

  /**
   * The checks of the group's `nomad` services, run as Nomad's client runs them (checks_hook.go): the first
   * after half the interval, each next one an interval after the previous one ended.
   */
  #startChecks(alloc: NomadAllocation, runtime: AllocationRuntime): void {
    const { check: runCheck } = runtime;
    if (!runCheck) return;
    const group = alloc.Job?.TaskGroups.find((taskGroup) => taskGroup.Name === alloc.TaskGroup);
    const services: NomadService[] = [
      ...(group?.Services ?? []),
      ...(group?.Tasks ?? []).flatMap((task) => task.Services ?? []),
    ].filter((service) => service.Provider === "nomad");
    const timers: Cancel[] = [];
    this.#checks.set(alloc.ID, timers);
    for (const service of services) {
      for (const check of service.Checks ?? []) {
        if (check.Type !== "http" && check.Type !== "tcp") continue;
        const intervalMs = check.Interval / 1e6;
        const run: HealthCheck = { type: check.Type, path: check.Path, timeoutMs: check.Timeout / 1e6 };
        const index = timers.length;
        const schedule = (delayMs: number) => {
          timers[index] = this.clock.after(delayMs, () => {
            if (this.#checks.get(alloc.ID) !== timers) return;
            void runCheck.call(runtime, alloc.ID, run).finally(() => {
              if (this.#checks.get(alloc.ID) === timers) schedule(intervalMs);
            });
          });
        };
        schedule(intervalMs / 2);
      }
    }
  }

  #stopTimers(allocId: string): void {
    for (const cancel of this.#checks.get(allocId) ?? []) cancel();
    this.#checks.delete(allocId);
    this.#healthTimers.get(allocId)?.();
    this.#healthTimers.delete(allocId);
  }

  async #stopContainers(allocId: string): Promise<void> {
    this.#stopTimers(allocId);
    if (!this.#containersUp.delete(allocId)) return;
    const nodeId = this.state.allocation(allocId)?.NodeID;
    const runtime = nodeId === undefined ? undefined : this.#runtimes.get(nodeId);
    try {
      await runtime?.stop(allocId);
    } catch (error) {
      this.#failures.push({ allocId, action: "stop", error });
    }
  }

  #report(allocId: string, status: ClientStatus, description: string, message: string): void {
    const alloc = this.state.allocation(allocId);
    if (!alloc) return; // garbage-collected meanwhile
    const taskState = status === "running" || status === "pending" ? status : "dead";
    const taskStates = taskStatesOf(alloc, taskState, {
      failed: status === "failed",
      at: this.clock.now(),
      message,
    });
    this.state.updateClientStatus(allocId, { status, description, taskStates });
  }

  #enqueue(allocId: string, action: RuntimeFailure["action"], task: () => Promise<void>): void {
    const next = (this.#chains.get(allocId) ?? Promise.resolve()).then(task).catch((error: unknown) => {
      this.#failures.push({ allocId, action, error });
    });
    this.#chains.set(allocId, next);
    this.work.track(next);
  }
}

function clientReport(status: ClientStatus): { status: ClientStatus; description: string } {
  const descriptions: Record<ClientStatus, string> = {
    pending: "No tasks have started",
    running: "Tasks are running",
    complete: "All tasks have completed",
    failed: "Failed tasks",
    lost: "alloc is lost since its node is down",
    unknown: "alloc is unknown since its node is disconnected",
  };
  return { status, description: descriptions[status] };
}

function containersOf(alloc: NomadAllocation): AllocationContainers {
  const group = alloc.Job?.TaskGroups.find((taskGroup) => taskGroup.Name === alloc.TaskGroup);
  const dockerTasks = (group?.Tasks ?? []).filter((task) => task.Driver === "docker");
  const containers: AllocationContainers = {
    allocId: alloc.ID,
    tasks: dockerTasks.map((task) => task.Name),
    networkMode: group?.Networks?.[0]?.Mode === "bridge" ? "bridge" : "host",
  };
  if (dockerTasks.some((task) => task.Config?.network_mode === "host")) containers.taskNetworkMode = "host";
  const commands = dockerTasks.flatMap((task) => {
    const command = task.Config?.command;
    const args = task.Config?.args;
    return typeof command === "string"
      ? [[task.Name, [command, ...(Array.isArray(args) ? args.map(String) : [])]]]
      : [];
  });
  if (commands.length > 0) containers.commands = Object.fromEntries(commands);
  return containers;
}

import { systemClock } from "../clock.js";
import type { Reading } from "../model/readings.js";
import type { NetworkSampler } from "../ports.js";
import { ContainerWatch, type ContainerWatchOptions } from "./container-watch.js";
import { type AllocationNetwork, allocationNetworks, NO_RUNNING_CONTAINERS } from "./network-namespaces.js";

/** The clock (`ContainerWatchOptions.clock`) also times the readings delivered outside the cycle. */
export type DockerNetworkSamplerOptions = ContainerWatchOptions;

export type AllocationProcesses =
  | { containerIds: readonly string[]; namespaces: Array<{ ownerId: string; pid: number }> }
  | { reason: string };

type NamespaceRead =
  | { bytes: number; processesVisible: true }
  | { reason: string; processesVisible: boolean | undefined };

const NOT_MEASURABLE: AllocationNetwork = { measurable: false, reason: NO_RUNNING_CONTAINERS };

/**
 * Rx+Tx counters per network namespace, read synchronously through descriptors kept open on
 * `<procRoot>/<pid>/net/dev` of the process that holds each namespace, each paired with a liveness check.
 * The set of containers comes from the Docker Engine's event stream (ContainerWatch): a cycle asks
 * nothing of Docker while the stream stays up. The watch starts with the first cycle.
 */
export class DockerNetworkSampler implements NetworkSampler {
  readonly #watch: ContainerWatch;
  readonly #now: () => number;
  readonly #baselineListeners: Array<(reading: Reading) => void> = [];
  #networks: { version: number; byAlloc: Map<string, AllocationNetwork> } | undefined;
  #procRootVisible: boolean | undefined;

  constructor(options: DockerNetworkSamplerOptions) {
    this.#watch = new ContainerWatch(options);
    const clock = options.clock ?? systemClock;
    this.#now = () => clock.now();
    this.#watch.onInspected((allocId) => this.#announce(allocId));
  }

  /**
   * Whether the containers' processes show under procRoot, as of the last cycle that checked any PID:
   * true when at least one did, false when none did, undefined before any check.
   */
  procRootVisible(): boolean | undefined {
    return this.#procRootVisible;
  }

  async sample(allocIds: readonly string[], at: number): Promise<Map<string, Reading>> {
    await this.#watch.ready(allocIds);
    // A namespace owned by a container of another allocation (rare): wait for its inspect too.
    const owners = new Set(allocIds.flatMap((allocId) => namespaceOwners(this.#networkOf(allocId))));
    await this.#watch.settled((tracked) => owners.has(tracked.container.id));
    const reads = new Map<string, NamespaceRead>();
    const readings = new Map<string, Reading>();
    for (const allocId of allocIds) readings.set(allocId, this.#reading(allocId, at, reads));
    this.#noteVisibility(reads.values());
    return readings;
  }

  /**
   * A measured reading of an allocation as soon as one of its containers has been inspected after it
   * started (or appeared in a relist), outside the regular cycle: the allocation's baseline, within a
   * moment of the container's start. Delivered for every such container, so an allocation of several
   * containers is delivered several times: take it only for an allocation without a good reading yet.
   */
  onBaseline(listener: (reading: Reading) => void): void {
    this.#baselineListeners.push(listener);
  }

  /**
   * Each allocation's running containers and the PIDs of the processes holding its network namespaces, as
   * the watch knows them now (no Docker call): what the activity signals read (activity-signals.ts).
   */
  processes(allocIds: readonly string[]): Map<string, AllocationProcesses> {
    const processes = new Map<string, AllocationProcesses>();
    for (const allocId of allocIds) {
      const network = this.#networkOf(allocId);
      if (!network.measurable) {
        processes.set(allocId, { reason: network.reason });
        continue;
      }
      const namespaces: Array<{ ownerId: string; pid: number }> = [];
      for (const ownerId of network.namespaceOwners) {
        const pid = this.#watch.tracked(ownerId)?.probe?.pid;
        if (pid !== undefined) namespaces.push({ ownerId, pid });
      }
      processes.set(
        allocId,
        namespaces.length === network.namespaceOwners.size
          ? { containerIds: network.containerIds, namespaces }
          : { reason: "a container holding its network namespace has no process to read" },
      );
    }
    return processes;
  }

  /** Stops the event watch and closes every descriptor and connection. */
  async close(): Promise<void> {
    this.#watch.close();
  }

  #announce(allocId: string): void {
    if (this.#baselineListeners.length === 0) return;
    const reading = this.#reading(allocId, this.#now(), new Map());
    if (reading.state !== "measured") return;
    for (const listener of this.#baselineListeners) {
      try {
        listener(reading);
      } catch {
        // A listener's failure is its own; the watch goes on.
      }
    }
  }

  /** Never partial: one namespace that cannot be read makes the whole allocation unknown. */
  #reading(allocId: string, at: number, reads: Map<string, NamespaceRead>): Reading {
    const network = this.#networkOf(allocId);
    if (!network.measurable) return { allocId, at, state: "unknown", reason: network.reason };
    const counters = new Map<string, number>();
    for (const owner of network.namespaceOwners) {
      let read = reads.get(owner);
      if (read === undefined) {
        read = this.#readNamespace(owner);
        reads.set(owner, read);
      }
      if (!("bytes" in read)) return { allocId, at, state: "unknown", reason: read.reason };
      counters.set(owner, read.bytes);
    }
    return { allocId, at, state: "measured", counters };
  }

  #networkOf(allocId: string): AllocationNetwork {
    const version = this.#watch.version;
    if (this.#networks?.version !== version) {
      const containers = this.#watch.containers();
      const allocIds = [...new Set(containers.map((container) => container.allocId))];
      this.#networks = { version, byAlloc: allocationNetworks(containers, allocIds) };
    }
    return this.#networks.byAlloc.get(allocId) ?? NOT_MEASURABLE;
  }

  #readNamespace(ownerId: string): NamespaceRead {
    const tracked = this.#watch.tracked(ownerId);
    const shortId = ownerId.slice(0, 12);
    if (!tracked) return { reason: `container ${shortId} is not running`, processesVisible: undefined };
    // Not seen under procRoot at the inspect: try again from the same PID, which needs no Docker call.
    if (!tracked.probe && tracked.failure?.processesVisible === false) {
      tracked.failure = this.#watch.openProbe(tracked);
    }
    const { probe, failure } = tracked;
    if (!probe) {
      return (
        failure ?? { reason: `container ${shortId} has no process to read`, processesVisible: undefined }
      );
    }
    const read = probe.read();
    if ("bytes" in read) return { bytes: read.bytes, processesVisible: true };
    if (read.exited) {
      // Its `die` event is on the way and will tell the rest; until then the allocation is unknown.
      probe.close();
      tracked.probe = undefined;
      tracked.failure = {
        reason: `container ${shortId} stopped: ${read.reason}`,
        processesVisible: undefined,
      };
      return tracked.failure;
    }
    return { reason: read.reason, processesVisible: true };
  }

  #noteVisibility(reads: Iterable<NamespaceRead>): void {
    let checked = false;
    for (const read of reads) {
      if (read.processesVisible === true) {
        this.#procRootVisible = true;
        return;
      }
      if (read.processesVisible === false) checked = true;
    }
    if (checked) this.#procRootVisible = false;
  }
}

function namespaceOwners(network: AllocationNetwork): string[] {
  return network.measurable ? [...network.namespaceOwners] : [];
}

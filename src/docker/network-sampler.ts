import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type Dockerode from "dockerode";
import type { Reading } from "../idle.js";
import type { NetworkSampler } from "../ports.js";
import { mapBounded } from "./bounded.js";
import { externalTrafficBytes } from "./net-dev.js";
import { type AllocationNetwork, allocationNetworks, type NomadContainer } from "./network-namespaces.js";

/** The one label Nomad's docker driver always sets (nomad-api-notes.md, "Docker task driver"). */
const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";
const DEFAULT_CONCURRENCY = 32;

export interface DockerNetworkSamplerOptions {
  docker: Dockerode;
  /** Where the host's /proc is visible (PROC_ROOT). */
  procRoot: string;
  /** Network namespaces read at the same time. */
  concurrency?: number;
}

type PidLookup = { pid: number } | { reason: string; processesVisible: boolean | undefined };

type NamespaceRead =
  | { bytes: number; processesVisible: true }
  | { reason: string; processesVisible: boolean | undefined };

/**
 * Rx+Tx counters per network namespace, read from `<procRoot>/<pid>/net/dev` of the process that holds each
 * namespace. A cycle costs one container list plus two small file reads per namespace; containers are
 * inspected only to learn a PID that is not yet known, or no longer belongs to the container.
 */
export class DockerNetworkSampler implements NetworkSampler {
  readonly #docker: Dockerode;
  readonly #procRoot: string;
  readonly #concurrency: number;
  /** Host PIDs confirmed to run in their container, kept while the container is listed. */
  readonly #verifiedPids = new Map<string, number>();
  #procRootVisible: boolean | undefined;

  constructor({ docker, procRoot, concurrency = DEFAULT_CONCURRENCY }: DockerNetworkSamplerOptions) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    this.#docker = docker;
    this.#procRoot = procRoot;
    this.#concurrency = concurrency;
  }

  /**
   * Whether the containers' processes show under procRoot, as of the last cycle that checked any PID:
   * true when at least one did, false when none did, undefined before any check.
   */
  procRootVisible(): boolean | undefined {
    return this.#procRootVisible;
  }

  async sample(allocIds: readonly string[], at: number): Promise<Map<string, Reading>> {
    const containers = await this.#listNomadContainers();
    this.#forgetContainersNotIn(containers);
    const networks = allocationNetworks(containers, allocIds);
    const owners = [...new Set([...networks.values()].flatMap(namespaceOwners))];
    const results = await mapBounded(owners, this.#concurrency, (owner) => this.#readNamespace(owner));
    const reads = new Map(owners.map((owner, index) => [owner, results[index] as NamespaceRead]));
    this.#noteVisibility(results);

    const readings = new Map<string, Reading>();
    for (const [allocId, network] of networks) readings.set(allocId, readingOf(allocId, at, network, reads));
    return readings;
  }

  async #listNomadContainers(): Promise<NomadContainer[]> {
    let listed: Dockerode.ContainerInfo[];
    try {
      listed = await this.#docker.listContainers({ filters: { label: [ALLOC_ID_LABEL] } });
    } catch (error) {
      throw new Error(`cannot list containers from the Docker Engine: ${messageOf(error)}`, { cause: error });
    }
    return listed.flatMap((container) => {
      const allocId = container.Labels[ALLOC_ID_LABEL];
      if (!allocId) return [];
      const networkMode = container.HostConfig?.NetworkMode ?? "default";
      return [{ id: container.Id, names: container.Names, allocId, networkMode }];
    });
  }

  #forgetContainersNotIn(containers: readonly NomadContainer[]): void {
    const listed = new Set(containers.map((container) => container.id));
    for (const id of this.#verifiedPids.keys()) {
      if (!listed.has(id)) this.#verifiedPids.delete(id);
    }
  }

  async #readNamespace(ownerId: string): Promise<NamespaceRead> {
    const lookup = await this.#pidOf(ownerId);
    if (!("pid" in lookup)) return lookup;
    const path = join(this.#procRoot, String(lookup.pid), "net", "dev");
    try {
      return { bytes: externalTrafficBytes(await readFile(path, "utf8")), processesVisible: true };
    } catch (error) {
      return { reason: `cannot read ${path}: ${messageOf(error)}`, processesVisible: true };
    }
  }

  /** The container's host PID, trusted only once its cgroup names the container (nomad-api-notes.md). */
  async #pidOf(containerId: string): Promise<PidLookup> {
    const cached = this.#verifiedPids.get(containerId);
    if (cached !== undefined && (await this.#runsIn(cached, containerId))) return { pid: cached };
    // A restart gives the same container a new PID; the old one may already belong to another process.
    this.#verifiedPids.delete(containerId);

    const shortId = containerId.slice(0, 12);
    let pid: number;
    try {
      pid = (await this.#docker.getContainer(containerId).inspect()).State.Pid;
    } catch (error) {
      return {
        reason: `cannot inspect container ${shortId}: ${messageOf(error)}`,
        processesVisible: undefined,
      };
    }
    if (pid <= 0)
      return { reason: `container ${shortId} stopped while being sampled`, processesVisible: undefined };
    if (!(await this.#runsIn(pid, containerId))) {
      return {
        reason: `cannot see the container's processes under ${this.#procRoot}: mount the host's /proc`,
        processesVisible: false,
      };
    }
    this.#verifiedPids.set(containerId, pid);
    return { pid };
  }

  /**
   * Whatever the cgroup layout — `/docker/<id>` (cgroupfs), `docker-<id>.scope` (systemd), or a path relative
   * to a private cgroup namespace — the full container ID appears in the process's cgroup file.
   */
  async #runsIn(pid: number, containerId: string): Promise<boolean> {
    try {
      return (await readFile(join(this.#procRoot, String(pid), "cgroup"), "utf8")).includes(containerId);
    } catch {
      return false;
    }
  }

  #noteVisibility(reads: readonly NamespaceRead[]): void {
    const checked = reads.flatMap((read) =>
      read.processesVisible === undefined ? [] : [read.processesVisible],
    );
    if (checked.length > 0) this.#procRootVisible = checked.includes(true);
  }
}

function namespaceOwners(network: AllocationNetwork): string[] {
  return network.measurable ? [...network.namespaceOwners] : [];
}

/** Never partial: one namespace that cannot be read makes the whole allocation unknown. */
function readingOf(
  allocId: string,
  at: number,
  network: AllocationNetwork,
  reads: ReadonlyMap<string, NamespaceRead>,
): Reading {
  if (!network.measurable) return { allocId, at, state: "unknown", reason: network.reason };
  const counters = new Map<string, number>();
  for (const owner of network.namespaceOwners) {
    const read = reads.get(owner) as NamespaceRead;
    if (!("bytes" in read)) return { allocId, at, state: "unknown", reason: read.reason };
    counters.set(owner, read.bytes);
  }
  return { allocId, at, state: "measured", counters };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What the sampler needs of one running container that Nomad's docker driver started. */
export interface NomadContainer {
  id: string;
  /** Docker's names, each with its leading "/". */
  names: readonly string[];
  allocId: string;
  /** `HostConfig.NetworkMode`: "host", "container:<id-or-name>", "none", "default", "bridge" or a network. */
  networkMode: string;
}

export type AllocationNetwork =
  | {
      measurable: true;
      namespaceOwners: ReadonlySet<string>;
      /** The allocation's running containers, by ID, sorted. */
      containerIds: readonly string[];
    }
  | { measurable: false; reason: string };

export const NO_RUNNING_CONTAINERS = "no running containers";
export const HOST_NETWORKING = "host networking: counters would be the whole machine's";

const JOINED_PREFIX = "container:";

type Owner = { kind: "container"; id: string } | { kind: "host" } | { kind: "unresolved"; reference: string };

/**
 * The network namespaces of each allocation, keyed by the container that owns each one, from Docker's
 * metadata alone (nomad-api-notes.md, "Docker task driver"): a bridge-mode allocation's tasks join the
 * pause container's namespace, so its namespace is counted once; host networking cannot be measured.
 */
export function allocationNetworks(
  containers: readonly NomadContainer[],
  allocIds: readonly string[],
): Map<string, AllocationNetwork> {
  const resolve = referenceResolver(containers);
  const byAlloc = new Map<string, NomadContainer[]>();
  for (const container of containers) {
    const ofAlloc = byAlloc.get(container.allocId);
    if (ofAlloc) ofAlloc.push(container);
    else byAlloc.set(container.allocId, [container]);
  }
  const networks = new Map<string, AllocationNetwork>();
  for (const allocId of allocIds) {
    const ofAlloc = byAlloc.get(allocId) ?? [];
    const owners = ofAlloc.map((container) => namespaceOwner(container, resolve));
    networks.set(allocId, networkOf(owners, ofAlloc.map((container) => container.id).sort()));
  }
  return networks;
}

function networkOf(owners: readonly Owner[], containerIds: readonly string[]): AllocationNetwork {
  if (owners.length === 0) return { measurable: false, reason: NO_RUNNING_CONTAINERS };
  if (owners.some((owner) => owner.kind === "host")) return { measurable: false, reason: HOST_NETWORKING };
  const namespaceOwners = new Set<string>();
  for (const owner of owners) {
    if (owner.kind === "unresolved") {
      return {
        measurable: false,
        reason: `shares the network namespace of ${JOINED_PREFIX}${owner.reference}, which is not a running Nomad container`,
      };
    }
    if (owner.kind === "container") namespaceOwners.add(owner.id);
  }
  return { measurable: true, namespaceOwners, containerIds };
}

function namespaceOwner(
  container: NomadContainer,
  resolve: (reference: string) => NomadContainer | undefined,
): Owner {
  const visited = new Set<string>();
  let current = container;
  for (;;) {
    if (current.networkMode === "host") return { kind: "host" };
    if (!current.networkMode.startsWith(JOINED_PREFIX)) return { kind: "container", id: current.id };
    const reference = current.networkMode.slice(JOINED_PREFIX.length);
    const joined = resolve(reference);
    if (!joined || visited.has(joined.id)) return { kind: "unresolved", reference };
    visited.add(current.id);
    current = joined;
  }
}

/** Docker's own order for a container reference: full ID, then name, then unique ID prefix. */
function referenceResolver(
  containers: readonly NomadContainer[],
): (reference: string) => NomadContainer | undefined {
  const byId = new Map(containers.map((container) => [container.id, container]));
  const byName = new Map<string, NomadContainer>();
  for (const container of containers) {
    for (const name of container.names) byName.set(name.replace(/^\//, ""), container);
  }
  return (reference) => {
    const exact = byId.get(reference) ?? byName.get(reference.replace(/^\//, ""));
    if (exact || reference === "") return exact;
    const byPrefix = containers.filter((container) => container.id.startsWith(reference));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  };
}

/** Whether the container holds a network namespace of its own, rather than the host's or another container's. */
export function ownsNamespace(networkMode: string): boolean {
  return networkMode !== "host" && !networkMode.startsWith(JOINED_PREFIX);
}

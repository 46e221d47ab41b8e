import type { NomadAllocation, NomadNetwork } from "./model.js";

// Nomad's default range of dynamic ports (client `min_dynamic_port`, `max_dynamic_port`). It lies below
// Linux's ephemeral range (32768-60999), so a port picked here is never one the kernel hands out to a
// listener on port 0.
const MIN_DYNAMIC_PORT = 20_000;
const MAX_DYNAMIC_PORT = 32_000;
/** Every simulated node is this machine, reached on loopback, as a dev agent's node is. */
const NODE_ADDRESS = "127.0.0.1";

/** An entry of `AllocatedResources.Shared.Ports`: where the node's port is and what it maps to. */
export interface AllocatedPort {
  HostIP: string;
  Label: string;
  To: number;
  Value: number;
}

/**
 * The group's networks as the scheduler places them on a node: each dynamic port gets a port of the
 * node's range that no other allocation there holds (`Shared.Networks` and `Shared.Ports`, as in the
 * recorded node-allocations.http). A group that asks for no port keeps its networks, and `Ports` is null.
 */
export function allocateNetworks(
  networks: NomadNetwork[] | null,
  taken: ReadonlySet<number>,
): { Networks: NomadNetwork[] | null; Ports: AllocatedPort[] | null } {
  if (!networks?.some((network) => (network.DynamicPorts ?? []).length > 0))
    return { Networks: networks, Ports: null };
  const used = new Set(taken);
  const pick = (): number => {
    for (;;) {
      const port = MIN_DYNAMIC_PORT + Math.floor(Math.random() * (MAX_DYNAMIC_PORT - MIN_DYNAMIC_PORT + 1));
      if (used.has(port)) continue;
      used.add(port);
      return port;
    }
  };
  const allocated = networks.map((network) => ({
    ...network,
    IP: NODE_ADDRESS,
    DynamicPorts: network.DynamicPorts?.map((port) => ({ ...port, Value: pick() })) ?? null,
  }));
  const ports = allocated.flatMap((network) =>
    (network.DynamicPorts ?? []).map((port) => ({
      HostIP: NODE_ADDRESS,
      Label: port.Label,
      To: port.To,
      Value: port.Value,
    })),
  );
  return { Networks: allocated, Ports: ports };
}

/** The node ports the allocation holds (none when its group asked for none). */
export function allocatedPorts(alloc: NomadAllocation): AllocatedPort[] {
  const shared = alloc.AllocatedResources.Shared as { Ports?: AllocatedPort[] | null } | undefined;
  return shared?.Ports ?? [];
}

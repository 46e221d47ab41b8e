import type { DockerWorld } from "../world/world.js";
import type { AllocationRuntime } from "./node-clients.js";

/** A node runtime that lays out real containers in the Docker test world. */
export function dockerWorldRuntime(
  world: Pick<DockerWorld, "createAllocation" | "removeAllocation" | "runCheck">,
): AllocationRuntime {
  return {
    async start(alloc) {
      await world.createAllocation(alloc);
    },
    stop: (allocId) => world.removeAllocation(allocId),
    check: (allocId, check) => world.runCheck(allocId, check),
  };
}

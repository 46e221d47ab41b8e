import { afterAll, describe, expect, it } from "vitest";
import { jobSpec } from "./sim/fixtures.js";
import { send } from "./sim/http-probe.js";
import { dockerWorldRuntime, NomadSimulator } from "./sim/index.js";
import { openWorldForTests } from "./world/world.js";

const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";

const world = await openWorldForTests();
afterAll(() => world?.close());

describe.skipIf(!world)("the simulator on the Docker test world", () => {
  it("starts an allocation's containers on placement and removes them when the job stops", async () => {
    if (!world) throw new Error("no Docker world");
    const sim = await NomadSimulator.start();
    try {
      sim.addNode("node-1", dockerWorldRuntime(world));
      const containersOf = async (allocId: string) =>
        (
          await world.docker.listContainers({
            all: true,
            filters: { label: [`${ALLOC_ID_LABEL}=${allocId}`] },
          })
        )
          .map((container) => container.Names[0])
          .sort();
      const job = jobSpec("web", {
        groups: [
          {
            Name: "web",
            Networks: [{ Mode: "bridge" }],
            Tasks: [
              { Name: "server", Driver: "docker", Config: { image: "busybox" } },
              { Name: "sidecar", Driver: "docker", Config: { image: "busybox" } },
            ],
          },
        ],
      });

      const { allocIds } = await sim.registerJob(job);
      const allocId = allocIds[0] ?? "";
      const placed = await containersOf(allocId);
      await send(sim.address, "DELETE", "/v1/job/web", { token: sim.managementToken });
      await sim.whenSettled();

      expect(sim.runtimeFailures).toEqual([]);
      expect(placed).toEqual([`/nomad_init_${allocId}`, `/server-${allocId}`, `/sidecar-${allocId}`]);
      expect(await containersOf(allocId)).toEqual([]);
      expect(sim.allocations({ jobId: "web" })[0]).toMatchObject({
        DesiredStatus: "stop",
        ClientStatus: "complete",
      });
    } finally {
      await sim.close();
    }
  });
});

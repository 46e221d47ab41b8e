import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { ALLOC_ID_LABEL, type Layout, layoutOf, recordedLayouts } from "./contract/docker-layout.js";
import type { DockerInspectRecord } from "./contract/recordings.js";
import { NOMAD_VERSIONS } from "./sim/index.js";
import { type DockerWorld, openWorldForTests } from "./world/world.js";

// The test world (test/world/world.ts) lays out containers as Nomad's docker driver does; this holds
// it to what real Nomad 1.6.5 and 2.0.5 agents made (test/fixtures/nomad-*/docker-inspect-nomad-containers.json):
// a host-mode task, and a bridge-mode task with its nomad_init_<alloc> pause container.

// Needs the Docker Engine: skipped with a warning outside CI when none can be had, a failure under CI=true.
const world = await openWorldForTests();
afterAll(() => world?.close());

describe.skipIf(!world)("the test world lays out allocations as the recorded Nomad did", () => {
  const theWorld = (): DockerWorld => {
    if (!world) throw new Error("no Docker world");
    return world;
  };

  async function worldLayout(networkMode: "host" | "bridge"): Promise<Layout[]> {
    const allocId = randomUUID();
    await theWorld().createAllocation({ allocId, tasks: ["httpd"], networkMode });
    try {
      const listed = await theWorld().docker.listContainers({
        all: true,
        filters: { label: [`${ALLOC_ID_LABEL}=${allocId}`] },
      });
      const records = await Promise.all(
        listed.map((container) => theWorld().docker.getContainer(container.Id).inspect()),
      );
      return layoutOf(records as unknown as DockerInspectRecord[], allocId);
    } finally {
      await theWorld().removeAllocation(allocId);
    }
  }

  it.each(NOMAD_VERSIONS)(
    "a host-mode group: the task on Docker's default bridge, named <task>-<alloc>, with the alloc label (Nomad %s)",
    async (version) => {
      expect(await worldLayout("host")).toEqual(recordedLayouts(version).hostMode);
    },
  );

  it.each(NOMAD_VERSIONS)(
    "a bridge-mode group: nomad_init_<alloc> with NetworkMode none, the task in its namespace (Nomad %s)",
    async (version) => {
      expect(await worldLayout("bridge")).toEqual(recordedLayouts(version).bridgeMode);
    },
  );
});

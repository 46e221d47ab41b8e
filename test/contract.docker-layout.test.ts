import { describe, expect, it } from "vitest";
import { ALLOC_ID_LABEL, recordedLayouts } from "./contract/docker-layout.js";
import { NOMAD_VERSIONS } from "./sim/index.js";

// The test world (test/world/world.ts) lays out containers as Nomad's docker driver does; this holds
// it to what real Nomad 1.6.5 and 2.0.5 agents made (test/fixtures/nomad-*/docker-inspect-nomad-containers.json):
// a host-mode task, and a bridge-mode task with its nomad_init_<alloc> pause container.

describe.each(NOMAD_VERSIONS)("the layout recorded from Nomad %s", (version) => {
  it("is what nomad-api-notes.md describes", () => {
    const { hostMode, bridgeMode } = recordedLayouts(version);
    expect(hostMode).toEqual([
      {
        name: "/httpd-<alloc>",
        nomadLabels: { [ALLOC_ID_LABEL]: "<alloc>" },
        networkMode: "default",
        dockerNetworks: ["bridge"],
        status: "running",
      },
    ]);
    expect(bridgeMode).toEqual([
      {
        name: "/httpd-<alloc>",
        nomadLabels: { [ALLOC_ID_LABEL]: "<alloc>" },
        networkMode: "container:<pause>",
        dockerNetworks: [],
        status: "running",
      },
      {
        name: "/nomad_init_<alloc>",
        nomadLabels: { [ALLOC_ID_LABEL]: "<alloc>" },
        networkMode: "none",
        dockerNetworks: ["none"],
        status: "running",
      },
    ]);
  });
});

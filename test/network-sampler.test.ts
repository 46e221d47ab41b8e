import { describe, expect, it } from "vitest";
import { DockerEngineClient } from "../src/docker/engine-client.js";
import { externalTrafficBytes } from "../src/docker/net-dev.js";
import { allocationNetworks } from "../src/docker/network-namespaces.js";
import { DockerNetworkSampler } from "../src/docker/network-sampler.js";
import { NET_DEV_HEADER, netDev } from "./support/net-dev.js";

describe("net/dev parsing", () => {
  it.each([
    { name: "loopback only", table: netDev(["lo", 500, 500]), bytes: 0 },
    { name: "eth0 beside the loopback", table: netDev(["lo", 500, 500], ["eth0", 1296, 936]), bytes: 2232 },
    {
      name: "every interface but lo",
      table: netDev(["eth0", 10, 20], ["lo", 1, 1], ["eth1", 30, 40]),
      bytes: 100,
    },
    {
      name: "a counter wide enough to touch the colon",
      table: `${NET_DEV_HEADER.join("\n")}\n  eth0:12345678901 9 0 0 0 0 0 0 98765432109 9 0 0 0 0 0 0\n`,
      bytes: 12345678901 + 98765432109,
    },
    { name: "headers only", table: `${NET_DEV_HEADER.join("\n")}\n`, bytes: 0 },
    { name: "an interface name with a colon", table: netDev(["lo", 1, 1], ["eth0:1", 5, 5]), bytes: 10 },
  ])("$name", ({ table, bytes }) => {
    expect(externalTrafficBytes(table)).toBe(bytes);
  });

  it("rejects a table it does not understand rather than miscounting", () => {
    expect(() => externalTrafficBytes(`${NET_DEV_HEADER.join("\n")}\n  eth0: 1 2 3\n`)).toThrow(
      /unexpected net\/dev line/,
    );
  });
});

describe("network namespaces from Docker's metadata", () => {
  const PAUSE_ID = `a1b2c3${"0".repeat(58)}`;
  const pause = { id: PAUSE_ID, names: ["/nomad_init_alloc-1"], allocId: "alloc-1", networkMode: "none" };
  const task = (id: string, networkMode: string, allocId = "alloc-1") => ({
    id: id.repeat(64),
    names: [`/web-${id}`],
    allocId,
    networkMode,
  });

  it.each([
    {
      name: "a joined container by full ID",
      containers: [pause, task("b", `container:${PAUSE_ID}`)],
      owners: [PAUSE_ID],
    },
    {
      name: "a joined container by name",
      containers: [pause, task("b", "container:nomad_init_alloc-1")],
      owners: [PAUSE_ID],
    },
    {
      name: "a joined container by ID prefix",
      containers: [pause, task("b", "container:a1b2c3")],
      owners: [PAUSE_ID],
    },
    {
      name: "a chain of joined containers",
      containers: [pause, task("b", `container:${PAUSE_ID}`), task("c", `container:${"b".repeat(64)}`)],
      owners: [PAUSE_ID],
    },
    {
      name: "containers with their own namespaces",
      containers: [task("b", "default"), task("c", "bridge"), task("d", "custom-net")],
      owners: ["b", "c", "d"].map((id) => id.repeat(64)),
    },
    {
      name: "a namespace owned by another allocation's container",
      containers: [{ ...pause, allocId: "alloc-2" }, task("b", `container:${PAUSE_ID}`)],
      owners: [PAUSE_ID],
    },
  ])("keys $name by the namespace's owner", ({ containers, owners }) => {
    expect(allocationNetworks(containers, ["alloc-1"]).get("alloc-1")).toEqual({
      measurable: true,
      namespaceOwners: new Set(owners),
      containerIds: containers
        .filter((container) => container.allocId === "alloc-1")
        .map((container) => container.id)
        .sort(),
    });
  });

  it.each([
    { name: "no containers", containers: [task("b", "default", "alloc-2")], reason: "no running containers" },
    {
      name: "one task on host networking",
      containers: [task("b", "default"), task("c", "host")],
      reason: "host networking: counters would be the whole machine's",
    },
    {
      name: "a task joined to a host-networking container",
      containers: [task("b", "host", "alloc-2"), task("c", `container:${"b".repeat(64)}`)],
      reason: "host networking: counters would be the whole machine's",
    },
    {
      name: "a joined container that is not running",
      containers: [task("b", "container:nomad_init_alloc-1")],
      reason:
        "shares the network namespace of container:nomad_init_alloc-1, which is not a running Nomad container",
    },
    {
      name: "an ambiguous ID prefix",
      containers: [
        pause,
        { ...pause, id: `a1b2c3${"f".repeat(58)}`, names: ["/other"] },
        task("b", "container:a1b2"),
      ],
      reason: "shares the network namespace of container:a1b2, which is not a running Nomad container",
    },
  ])("cannot measure an allocation with $name", ({ containers, reason }) => {
    expect(allocationNetworks(containers, ["alloc-1"]).get("alloc-1")).toEqual({ measurable: false, reason });
  });
});

describe("DockerNetworkSampler options", () => {
  it.each([0, -1, 1.5])("refuses a concurrency of %s", (concurrency) => {
    expect(
      () =>
        new DockerNetworkSampler({
          engine: new DockerEngineClient({ socketPath: "/var/run/docker.sock" }),
          procRoot: "/proc",
          concurrency,
        }),
    ).toThrow(/concurrency must be a positive integer/);
  });
});

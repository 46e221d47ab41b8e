import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { PAYLOAD } from "./world/image.js";
import { DockerWorld, openWorldForTests, type PlacedAllocation } from "./world/world.js";

const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";
const TEST_LABEL = "nomad-idle-monitor.test";
const WORLD_LABEL = "nomad-idle-monitor.test.world";

const world = await openWorldForTests();
afterAll(() => world?.close());

function theWorld(): DockerWorld {
  if (!world) throw new Error("no Docker world");
  return world;
}

function eth0Counters(pid: number): { rx: number; tx: number } {
  const line = readFileSync(`/proc/${pid}/net/dev`, "utf8")
    .split("\n")
    .find((row) => row.trim().startsWith("eth0:"));
  if (!line) throw new Error(`no eth0 in the namespace of pid ${pid}`);
  const fields = line.split(":")[1]?.trim().split(/\s+/).map(Number) ?? [];
  return { rx: fields[0] ?? Number.NaN, tx: fields[8] ?? Number.NaN };
}

async function containersOf(allocId: string) {
  return theWorld().docker.listContainers({
    all: true,
    filters: { label: [`${ALLOC_ID_LABEL}=${allocId}`] },
  });
}

/** The containers Docker destroyed since `since` (Unix seconds), in the order it did. */
/** The Docker Engine's own clock, in whole seconds: the test's may be moved (faketime), the engine's is not. */
async function engineNowS(): Promise<number> {
  const { SystemTime } = (await theWorld().docker.info()) as { SystemTime: string };
  return Math.floor(Date.parse(SystemTime) / 1000);
}

async function destroyedSince(since: number): Promise<Array<{ allocId: string; name: string }>> {
  const stream = await theWorld().docker.getEvents({
    since,
    until: (await engineNowS()) + 1,
    filters: { type: ["container"], event: ["destroy"], label: [TEST_LABEL] },
  });
  let text = "";
  for await (const chunk of stream) text += String(chunk);
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { timeNano: number; Actor: { Attributes: Record<string, string> } })
    .sort((a, b) => a.timeNano - b.timeNano)
    .map(({ Actor }) => ({
      allocId: Actor.Attributes[ALLOC_ID_LABEL] ?? "",
      name: Actor.Attributes.name ?? "",
    }));
}

function inspect(id: string) {
  return theWorld().docker.getContainer(id).inspect();
}

function hostAddresses(): string[] {
  const links = JSON.parse(execFileSync("ip", ["-j", "-4", "addr", "show"], { encoding: "utf8" })) as Array<{
    addr_info?: Array<{ local: string }>;
  }>;
  return links.flatMap((link) => (link.addr_info ?? []).map((info) => info.local));
}

/** The host end of a bridge-mode allocation's /30 (eth0 has .2 of the block, the host end .1). */
function hostEndOf(placed: PlacedAllocation): string {
  const octets = placed.address.split(".").map(Number);
  return [...octets.slice(0, 3), (octets[3] ?? 0) - 1].join(".");
}

function linkExists(name: string): boolean {
  return spawnSync("ip", ["link", "show", name]).status === 0;
}

describe.skipIf(!world)("DockerWorld", () => {
  describe("host-mode allocation", () => {
    it("runs one container per task, named <task>-<alloc>, with Nomad's alloc label, on Docker's default bridge", async () => {
      const allocId = randomUUID();
      const placed = await theWorld().createAllocation({
        allocId,
        tasks: ["web", "log/shipper"],
        networkMode: "host",
      });

      const containers = await Promise.all(placed.tasks.map((task) => inspect(task.id)));
      expect(containers.map((c) => c.Name)).toEqual([`/web-${allocId}`, `/log_shipper-${allocId}`]);
      for (const container of containers) {
        expect(Object.keys(container.Config.Labels).sort()).toEqual([
          ALLOC_ID_LABEL,
          TEST_LABEL,
          WORLD_LABEL,
        ]);
        expect(container.Config.Labels[ALLOC_ID_LABEL]).toBe(allocId);
        expect(container.HostConfig.NetworkMode).toBe("default");
        expect(container.State.Running).toBe(true);
      }
      expect(await containersOf(allocId)).toHaveLength(2);
      expect(placed.pause).toBeUndefined();
      expect(placed.address).toBe(containers[0]?.NetworkSettings.Networks.bridge?.IPAddress);
    });

    it("counts the traffic in the serving task's eth0, not in its sibling's namespace", async () => {
      const placed = await theWorld().createAllocation({
        allocId: randomUUID(),
        tasks: ["web", "sidecar"],
        networkMode: "host",
      });
      const [server, sibling] = placed.tasks.map((task) => task.pid) as [number, number];
      const before = { server: eth0Counters(server), sibling: eth0Counters(sibling) };

      const received = await theWorld().sendTraffic(placed.allocId, 3);

      expect(received).toBe(3 * PAYLOAD.bytes);
      expect(eth0Counters(server).tx - before.server.tx).toBeGreaterThanOrEqual(received);
      expect(eth0Counters(server).rx - before.server.rx).toBeGreaterThan(0);
      expect(eth0Counters(sibling).tx - before.sibling.tx).toBeLessThan(PAYLOAD.bytes);
    });
  });

  describe("bridge-mode allocation", () => {
    it("has a nomad_init_<alloc> pause container with no Docker network, holding eth0, joined by the tasks", async () => {
      const allocId = randomUUID();
      const placed = await theWorld().createAllocation({
        allocId,
        tasks: ["api", "proxy"],
        networkMode: "bridge",
      });
      if (!placed.pause) throw new Error("bridge mode placed no pause container");

      const pause = await inspect(placed.pause.id);
      expect(pause.Name).toBe(`/nomad_init_${allocId}`);
      expect(pause.HostConfig.NetworkMode).toBe("none");
      expect(Object.keys(pause.Config.Labels).sort()).toEqual([ALLOC_ID_LABEL, TEST_LABEL, WORLD_LABEL]);
      const tasks = await Promise.all(placed.tasks.map((task) => inspect(task.id)));
      expect(tasks.map((t) => t.Name)).toEqual([`/api-${allocId}`, `/proxy-${allocId}`]);
      for (const task of tasks) {
        expect(task.HostConfig.NetworkMode).toBe(`container:${placed.pause.id}`);
        expect(task.Config.Labels[ALLOC_ID_LABEL]).toBe(allocId);
      }

      const eth0 = execFileSync(
        "nsenter",
        ["-t", String(placed.pause.pid), "-n", "ip", "-j", "-4", "addr", "show", "eth0"],
        {
          encoding: "utf8",
        },
      );
      expect(JSON.parse(eth0)[0].addr_info.map((info: { local: string }) => info.local)).toEqual([
        placed.address,
      ]);
      expect(hostAddresses()).toContain(hostEndOf(placed));
    });

    it("shows the traffic in eth0 of the pause process and of every task process alike", async () => {
      const placed = await theWorld().createAllocation({
        allocId: randomUUID(),
        tasks: ["api", "proxy"],
        networkMode: "bridge",
      });
      const pausePid = placed.pause?.pid ?? 0;
      const before = eth0Counters(pausePid);

      const received = await theWorld().sendTraffic(placed.allocId, 3);

      const after = eth0Counters(pausePid);
      expect(received).toBe(3 * PAYLOAD.bytes);
      expect(after.tx - before.tx).toBeGreaterThanOrEqual(received);
      expect(after.rx - before.rx).toBeGreaterThan(0);
      for (const task of placed.tasks) expect(eth0Counters(task.pid)).toEqual(after);
    });
  });

  describe("task host networking", () => {
    it.each(["host", "bridge"] as const)(
      "in a %s-mode group puts the tasks on the host network",
      async (networkMode) => {
        const placed = await theWorld().createAllocation({
          allocId: randomUUID(),
          tasks: ["web", "worker"],
          networkMode,
          taskNetworkMode: "host",
        });

        for (const task of placed.tasks) expect((await inspect(task.id)).HostConfig.NetworkMode).toBe("host");
        expect(await theWorld().sendTraffic(placed.allocId)).toBe(PAYLOAD.bytes);
      },
    );
  });

  describe("removal", () => {
    it.each(["host", "bridge"] as const)(
      "removeAllocation of a %s-mode allocation leaves no container or host veth, and may be repeated",
      async (networkMode) => {
        const placed = await theWorld().createAllocation({
          allocId: randomUUID(),
          tasks: ["web", "db"],
          networkMode,
        });

        await theWorld().removeAllocation(placed.allocId);

        expect(await containersOf(placed.allocId)).toEqual([]);
        if (networkMode === "bridge") expect(hostAddresses()).not.toContain(hostEndOf(placed));
        await expect(theWorld().removeAllocation(placed.allocId)).resolves.toBeUndefined();
      },
    );

    it("removeAllocations removes several at once, each one's tasks before the pause container that holds their namespace", async () => {
      const since = await engineNowS();
      const placed = await Promise.all(
        [1, 2, 3].map(() =>
          theWorld().createAllocation({ allocId: randomUUID(), tasks: ["web", "db"], networkMode: "bridge" }),
        ),
      );

      expect(await theWorld().removeAllocations(placed.map((one) => one.allocId))).toEqual([]);

      const destroyed = await destroyedSince(since);
      for (const { allocId } of placed) {
        expect(await containersOf(allocId)).toEqual([]);
        const names = destroyed.filter((event) => event.allocId === allocId).map((event) => event.name);
        expect(names).toHaveLength(3);
        expect(names.at(-1)).toBe(`nomad_init_${allocId}`);
      }
    });

    it("close() removes everything its world created and nothing of another world", async () => {
      const survivor = await theWorld().createAllocation({
        allocId: randomUUID(),
        tasks: ["web"],
        networkMode: "bridge",
      });
      const closing = await DockerWorld.open();
      const gone = [
        await closing.createAllocation({ allocId: randomUUID(), tasks: ["web", "db"], networkMode: "host" }),
        await closing.createAllocation({
          allocId: randomUUID(),
          tasks: ["web", "db"],
          networkMode: "bridge",
        }),
      ];

      await closing.close();

      for (const placed of gone) expect(await containersOf(placed.allocId)).toEqual([]);
      expect(hostAddresses()).not.toContain(hostEndOf(gone[1] as PlacedAllocation));
      expect((await containersOf(survivor.allocId)).map((c) => c.State)).toEqual(["running", "running"]);
      expect(await theWorld().sendTraffic(survivor.allocId)).toBe(PAYLOAD.bytes);
    });
  });

  describe("stale objects of crashed runs", () => {
    it("open() removes containers and host veths whose owner process is gone, and nothing a live process owns", async () => {
      const deadPid = spawnSync("true").pid;
      const liveOwner = spawn("sleep", ["600"]);
      const docker = theWorld().docker;
      const startLabelled = async (ownerPid: number | undefined) => {
        const container = await docker.createContainer({
          Image: theWorld().image,
          Cmd: ["/bin/sleep", "600"],
          Labels: {
            [ALLOC_ID_LABEL]: randomUUID(),
            [TEST_LABEL]: "1",
            [WORLD_LABEL]: `${ownerPid}-0badc0de`,
          },
          HostConfig: { NetworkMode: "none" },
        });
        await container.start();
        return container;
      };
      const staleVeth = `nimv${randomBytes(4).toString("hex")}`;
      execFileSync("ip", ["link", "add", staleVeth, "type", "veth", "peer", "name", `${staleVeth}p`]);
      execFileSync("ip", ["link", "set", staleVeth, "alias", `${WORLD_LABEL}=${deadPid}-0badc0de`]);
      const crashed = await startLabelled(deadPid);
      const alive = await startLabelled(liveOwner.pid);
      const ours = await theWorld().createAllocation({
        allocId: randomUUID(),
        tasks: ["web"],
        networkMode: "bridge",
      });

      try {
        await (await DockerWorld.open()).close();

        await expect(crashed.inspect()).rejects.toMatchObject({ statusCode: 404 });
        expect(linkExists(staleVeth)).toBe(false);
        expect((await alive.inspect()).State.Running).toBe(true);
        expect(await theWorld().sendTraffic(ours.allocId)).toBe(PAYLOAD.bytes);
      } finally {
        liveOwner.kill();
        await alive.remove({ force: true });
        if (linkExists(staleVeth)) execFileSync("ip", ["link", "del", staleVeth]);
      }
    });
  });
});

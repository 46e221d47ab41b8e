import { randomUUID } from "node:crypto";
import { readdir, readlink } from "node:fs/promises";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { DockerActivitySignals } from "../src/docker/activity-signals.js";
import { DockerEngineClient } from "../src/docker/engine-client.js";
import { DockerNetworkSampler } from "../src/docker/network-sampler.js";
import type { SignalRequest } from "../src/ports.js";
import { openWorldForTests } from "./world/world.js";

// The Docker adapter of the signals beyond bytes, on a real container: what it reads, and that it keeps a
// descriptor only while its allocation is asked about (the monitor reads a quiet allocation's CPU every third
// cycle, and its connections only near its timeout).

const world = await openWorldForTests();

describe.skipIf(!world)("DockerActivitySignals on a real container", () => {
  const allocId = randomUUID();
  const sampler = new DockerNetworkSampler({
    engine: new DockerEngineClient({ socketPath: "/var/run/docker.sock" }),
    procRoot: "/proc",
  });
  const signals = new DockerActivitySignals({ sampler, procRoot: "/proc", cgroupRoot: "/sys/fs/cgroup" });
  afterAll(async () => {
    signals.close();
    await sampler.close();
    await world?.removeAllocation(allocId);
    await world?.close();
  });

  it("reads CPU time and an open session, keeps its descriptors across calls without them, lets them go after six, and closes all", async () => {
    const alloc = await world!.createAllocation({ allocId, tasks: ["web"], networkMode: "host" });
    const [task] = alloc.tasks;
    if (!task) throw new Error("no task container");
    const target = world!.addressOf(allocId);
    if (!target) throw new Error("no address");
    await sampler.sample([allocId], Date.now());
    // The sampler keeps its own (net/dev): only the adapter's count here.
    const ours = async () =>
      (await openDescriptors()).filter(
        (link) =>
          (link.includes(task.id) && /\/(cpuacct\.usage|cpu\.stat)$/.test(link)) ||
          link === `/proc/${task.pid}/net/snmp`,
      );
    const both: SignalRequest = { allocId, cpu: true, connections: { kind: "any-port" } };

    const socket = net.connect({ host: target.address, port: target.port });
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    try {
      const reading = (await signals.read([both])).get(allocId);
      expect(reading?.cpu).toMatchObject({ state: "measured", value: { containers: task.id } });
      expect(reading?.sessions).toMatchObject({ state: "measured", value: [{ port: target.port }] });
    } finally {
      socket.destroy();
    }
    // The cgroup's CPU file and the namespace's net/snmp stay open (net/tcp{,6} are read whole, rarely).
    const kept = await ours();
    expect(kept).toContain(`/proc/${task.pid}/net/snmp`);
    expect(kept).toHaveLength(2);

    for (let call = 1; call < 6; call++) await signals.read([]);
    expect(await ours()).toEqual(kept);
    await signals.read([]);
    expect(await ours()).toEqual([]);

    expect((await signals.read([both])).get(allocId)?.sessions).toEqual({ state: "measured", value: [] });
    expect(await ours()).toHaveLength(2);
    signals.close();
    expect(await ours()).toEqual([]);
  }, 60_000);
});

async function openDescriptors(): Promise<string[]> {
  const fds = await readdir("/proc/self/fd");
  return Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")));
}

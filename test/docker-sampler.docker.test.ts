import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Dockerode from "dockerode";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type CountingProxy, countingProxy } from "../bench/docker-proxy.js";
import { type DockerEndpoint, DockerEngineClient } from "../src/docker/engine-client.js";
import { DockerNetworkSampler, type DockerNetworkSamplerOptions } from "../src/docker/network-sampler.js";
import type { Reading } from "../src/model/readings.js";
import { FakeClock } from "./support/fake-clock.js";
import { netDev } from "./support/net-dev.js";
import {
  type AllocationSpec,
  openWorldForTests,
  type PlacedAllocation,
  type PlacedContainer,
} from "./world/world.js";

const world = await openWorldForTests();
/** The engine the world uses, for DockerEngineClient (the world speaks dockerode). */
const engineEndpoint: DockerEndpoint = {
  socketPath: (world?.docker.modem as unknown as { socketPath?: string } | undefined)?.socketPath ?? "",
};
const AT = 1_700_000_000_000;
const MOUNT_HINT = "mount the host's /proc";

describe.skipIf(!world)("DockerNetworkSampler against the Docker Engine", () => {
  const docker = world?.docker as Dockerode;
  const placed: string[] = [];
  const temporaryDirs: string[] = [];
  const samplers: DockerNetworkSampler[] = [];
  const proxies: CountingProxy[] = [];

  /** A sampler on the engine (or a proxy's endpoint), closed after the test. */
  function samplerOn(
    options: Partial<Omit<DockerNetworkSamplerOptions, "engine">> & { endpoint?: DockerEndpoint } = {},
  ): DockerNetworkSampler {
    const { endpoint = engineEndpoint, procRoot = "/proc", ...rest } = options;
    const sampler = new DockerNetworkSampler({ engine: new DockerEngineClient(endpoint), procRoot, ...rest });
    samplers.push(sampler);
    return sampler;
  }

  async function proxy(): Promise<CountingProxy> {
    const counting = await countingProxy(engineEndpoint);
    proxies.push(counting);
    return counting;
  }

  async function place(spec: Omit<AllocationSpec, "allocId">): Promise<PlacedAllocation> {
    const allocId = randomUUID();
    placed.push(allocId);
    return (world as NonNullable<typeof world>).createAllocation({ allocId, ...spec });
  }

  async function fakeProcRoot(files: Record<string, string>): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), "fake-proc-"));
    temporaryDirs.push(root);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), content);
    }
    return root;
  }

  afterEach(async () => {
    for (const sampler of samplers.splice(0)) await sampler.close();
    for (const counting of proxies.splice(0)) await counting.close();
    for (const allocId of placed.splice(0)) await world?.removeAllocation(allocId);
    for (const dir of temporaryDirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await world?.close();
  });

  it("measures a host-mode allocation per task namespace, and the counters grow by the bytes sent", async () => {
    const alloc = await place({ tasks: ["web", "sidecar"], networkMode: "host" });
    const sampler = samplerOn();

    const before = measured(await sampleOne(sampler, alloc.allocId));
    const sent = await world?.sendTraffic(alloc.allocId, 3);
    const after = measured(await sampleOne(sampler, alloc.allocId));

    const [web, sidecar] = alloc.tasks.map((task) => task.id) as [string, string];
    expect([...after.keys()].sort()).toEqual([web, sidecar].sort());
    expect(sent).toBeGreaterThan(0);
    expect(counter(after, web) - counter(before, web)).toBeGreaterThanOrEqual(sent as number);
    expect(sampler.procRootVisible()).toBe(true);
  });

  it("counts a bridge-mode allocation's shared namespace once, keyed by the pause container", async () => {
    const alloc = await place({ tasks: ["web", "worker"], networkMode: "bridge" });
    const pause = alloc.pause?.id as string;
    const sampler = samplerOn();

    const before = measured(await sampleOne(sampler, alloc.allocId));
    const sent = (await world?.sendTraffic(alloc.allocId, 3)) as number;
    const after = measured(await sampleOne(sampler, alloc.allocId));

    expect([...after.keys()]).toEqual([pause]);
    const grown = counter(after, pause) - counter(before, pause);
    expect(grown).toBeGreaterThanOrEqual(sent);
    // Three containers share the namespace: counting it per container would add the traffic three times.
    expect(grown).toBeLessThan(2 * sent);
  });

  it.each([
    {
      name: "task host networking",
      arrange: () => place({ tasks: ["web"], networkMode: "host", taskNetworkMode: "host" }),
      reason: "host networking: counters would be the whole machine's",
    },
    {
      name: "an allocation without containers",
      arrange: async () => ({ allocId: randomUUID() }),
      reason: "no running containers",
    },
  ])("reports $name as unknown", async ({ arrange, reason }) => {
    const { allocId } = await arrange();
    const sampler = samplerOn();

    expect(await sampleOne(sampler, allocId)).toEqual({ allocId, at: AT, state: "unknown", reason });
  });

  it("refuses PIDs whose cgroup does not name the container, and says to mount the host's /proc", async () => {
    const alloc = await place({ tasks: ["web"], networkMode: "host" });
    const task = alloc.tasks[0] as PlacedContainer;
    const someoneElse = randomBytes(32).toString("hex");
    const procRoot = await fakeProcRoot({
      [`${task.pid}/cgroup`]: `12:pids:/docker/${someoneElse}\n0::/docker/${someoneElse}\n`,
      [`${task.pid}/net/dev`]: netDev(["eth0", 1, 1]),
    });
    const sampler = samplerOn({ procRoot });

    const reading = await sampleOne(sampler, alloc.allocId);

    expect(reading).toEqual({
      allocId: alloc.allocId,
      at: AT,
      state: "unknown",
      reason: `cannot see the container's processes under ${procRoot}: ${MOUNT_HINT}`,
    });
    expect(sampler.procRootVisible()).toBe(false);
  });

  it.each([
    { name: "cgroupfs", cgroup: (id: string) => `12:pids:/docker/${id}\n1:name=systemd:/docker/${id}\n` },
    { name: "systemd scope", cgroup: (id: string) => `0::/system.slice/docker-${id}.scope\n` },
    {
      name: "private cgroup namespace",
      cgroup: (id: string) => `0::/../../system.slice/docker-${id}.scope\n`,
    },
  ])("reads the counters under procRoot once the $name cgroup names the container", async ({ cgroup }) => {
    const alloc = await place({ tasks: ["web"], networkMode: "host" });
    const task = alloc.tasks[0] as PlacedContainer;
    const procRoot = await fakeProcRoot({
      [`${task.pid}/cgroup`]: cgroup(task.id),
      [`${task.pid}/net/dev`]: netDev(["lo", 9000, 9000], ["eth0", 1200, 34]),
    });
    const sampler = samplerOn({ procRoot });

    expect(measured(await sampleOne(sampler, alloc.allocId))).toEqual(new Map([[task.id, 1234]]));
    expect(sampler.procRootVisible()).toBe(true);
  });

  it("makes the whole allocation unknown when one of its namespaces cannot be read", async () => {
    const alloc = await place({ tasks: ["web", "sidecar"], networkMode: "host" });
    const [web, sidecar] = alloc.tasks as [PlacedContainer, PlacedContainer];
    const procRoot = await fakeProcRoot({
      [`${web.pid}/cgroup`]: `0::/docker/${web.id}\n`,
      [`${web.pid}/net/dev`]: netDev(["eth0", 1, 1]),
      [`${sidecar.pid}/cgroup`]: `0::/docker/${sidecar.id}\n`,
      [`${sidecar.pid}/net/dev`]: "garbage: 1 2\n",
    });
    const sampler = samplerOn({ procRoot });

    const reading = await sampleOne(sampler, alloc.allocId);

    expect(reading.state).toBe("unknown");
    expect(reading.state === "unknown" && reading.reason).toMatch(
      /^cannot read .*net\/dev: unexpected net\/dev line/,
    );
  });

  it("resolves a restarted container's new PID with one inspect, when its start event comes", async () => {
    const alloc = await place({ tasks: ["web"], networkMode: "host" });
    const task = alloc.tasks[0] as PlacedContainer;
    const engine = await proxy();
    const sampler = samplerOn({ endpoint: engine.endpoint });
    measured(await sampleOne(sampler, alloc.allocId));
    measured(await sampleOne(sampler, alloc.allocId));
    expect(countOf(engine, INSPECT, [alloc])).toBe(1);

    const restarted = nextBaseline(sampler, alloc.allocId);
    await docker.getContainer(task.id).restart({ t: 0 });
    const { State } = await docker.getContainer(task.id).inspect();
    expect(State.Pid).not.toBe(task.pid);
    await restarted;

    expect([...measured(await sampleOne(sampler, alloc.allocId)).keys()]).toEqual([task.id]);
    expect(countOf(engine, INSPECT, [alloc])).toBe(2);
  });

  it("samples many allocations from one container list, and inspects only the containers owning a namespace", async () => {
    const hostMode = await Promise.all(
      [1, 2, 3, 4].map(() => place({ tasks: ["web"], networkMode: "host" })),
    );
    const bridge = await place({ tasks: ["web", "worker"], networkMode: "bridge" });
    const hostNetworking = await place({ tasks: ["web"], networkMode: "host", taskNetworkMode: "host" });
    const gone = randomUUID();
    const allocIds = [...hostMode, bridge, hostNetworking].map((alloc) => alloc.allocId).concat(gone);
    const engine = await proxy();
    const sampler = samplerOn({ endpoint: engine.endpoint, concurrency: 2 });
    const ours = [...hostMode, bridge, hostNetworking];

    const first = await sampler.sample(allocIds, AT);
    expect(countOf(engine, LIST, ours)).toBe(1);
    expect(countOf(engine, INSPECT, ours)).toBe(hostMode.length + 1);

    const second = await sampler.sample(allocIds, AT + 60_000);
    expect(countOf(engine, LIST, ours)).toBe(1);
    expect(countOf(engine, INSPECT, ours)).toBe(hostMode.length + 1);

    for (const readings of [first, second]) {
      expect([...readings.keys()]).toEqual(allocIds);
      expect(allocIds.map((allocId) => readings.get(allocId)?.state)).toEqual([
        ...hostMode.map(() => "measured"),
        "measured",
        "unknown",
        "unknown",
      ]);
    }
  });

  it("throws when the Docker Engine cannot be reached at all", async () => {
    const engine = await proxy();
    await engine.close();
    const sampler = samplerOn({ endpoint: engine.endpoint });

    await expect(sampler.sample([randomUUID()], AT)).rejects.toThrow(/cannot list containers/);
  });
});

describe.skipIf(!world)("DockerNetworkSampler's container set, kept from Docker's events", () => {
  const docker = world?.docker as Dockerode;
  const placed: string[] = [];
  const samplers: DockerNetworkSampler[] = [];
  const proxies: CountingProxy[] = [];

  async function place(
    spec: Omit<AllocationSpec, "allocId"> & { allocId?: string },
  ): Promise<PlacedAllocation> {
    const allocId = spec.allocId ?? randomUUID();
    placed.push(allocId);
    return (world as NonNullable<typeof world>).createAllocation({ ...spec, allocId });
  }

  /** A sampler behind a counting proxy, which reconnects within a moment once the proxy is restored. */
  async function proxiedSampler({ clock }: { clock?: FakeClock } = {}): Promise<{
    sampler: DockerNetworkSampler;
    engine: CountingProxy;
  }> {
    const engine = await countingProxy(engineEndpoint);
    proxies.push(engine);
    const sampler = new DockerNetworkSampler({
      engine: new DockerEngineClient(engine.endpoint),
      procRoot: "/proc",
      reconnect: { initialMs: 20, maxMs: 200 },
      clock,
    });
    samplers.push(sampler);
    return { sampler, engine };
  }

  afterEach(async () => {
    for (const sampler of samplers.splice(0)) await sampler.close();
    for (const engine of proxies.splice(0)) await engine.close();
    for (const allocId of placed.splice(0)) await world?.removeAllocation(allocId);
  });

  it("takes a started container's baseline outside the cycle, and asks Docker nothing per cycle", async () => {
    const { sampler, engine } = await proxiedSampler();
    const first = await place({ tasks: ["web"], networkMode: "host" });
    measured(await sampleOne(sampler, first.allocId));

    const allocId = randomUUID();
    const baseline = nextBaseline(sampler, allocId);
    const second = await place({ allocId, tasks: ["web"], networkMode: "host" });
    const task = second.tasks[0] as PlacedContainer;
    expect([...measured(await baseline).keys()]).toEqual([task.id]);

    const before = requestsFor(engine, [first, second]);
    for (let cycle = 1; cycle <= 3; cycle++) {
      const readings = await sampler.sample([first.allocId, allocId], AT + cycle * 60_000);
      expect([...readings.values()].map((reading) => reading.state)).toEqual(["measured", "measured"]);
    }
    expect(requestsFor(engine, [first, second])).toEqual(before);
    expect(before).toEqual([EVENTS, LIST, INSPECT, INSPECT]);
  });

  it("makes a killed container's allocation unknown, never quiet, even before its die event arrives", async () => {
    const { sampler, engine } = await proxiedSampler();
    const alloc = await place({ tasks: ["web"], networkMode: "host" });
    const task = alloc.tasks[0] as PlacedContainer;
    measured(await sampleOne(sampler, alloc.allocId));
    expect(await descriptorsOn(task.pid)).not.toEqual([]);

    // Docker's die event is held back: only the liveness check can tell the counters are frozen.
    engine.holdEvents();
    await docker.getContainer(task.id).kill();
    const blind = await sampleOne(sampler, alloc.allocId);
    expect(blind).toMatchObject({
      state: "unknown",
      reason: expect.stringMatching(/stopped: process \d+ exited/),
    });

    engine.releaseEvents();
    await eventually(async () => (await descriptorsOn(task.pid)).length === 0);
    expect(await sampleOne(sampler, alloc.allocId)).toMatchObject({
      state: "unknown",
      reason: "no running containers",
    });
  });

  it("relists after the engine restarted (its connections dropped, refused while down), recovering the events missed meanwhile", async () => {
    const { sampler, engine } = await proxiedSampler();
    const [kept, killed, restarted] = await Promise.all(
      [1, 2, 3].map(() => place({ tasks: ["web"], networkMode: "host" })),
    );
    const allocs = [kept, killed, restarted] as PlacedAllocation[];
    const before = await sampler.sample(
      allocs.map((alloc) => alloc.allocId),
      AT,
    );
    expect([...before.values()].map((reading) => reading.state)).toEqual([
      "measured",
      "measured",
      "measured",
    ]);

    engine.cut();
    // Once the sampler has seen the stream drop, it relists at once, which fails while the engine is away.
    // (Sampling the test's allocations: the relist inspects theirs before other work's containers.)
    const startedId = randomUUID();
    await eventually(() =>
      sampler.sample([...allocs.map((alloc) => alloc.allocId), startedId], AT).then(
        () => false,
        (error: Error) => /cannot list containers/.test(error.message),
      ),
    );
    const [killedTask, restartedTask] = [killed, restarted].map(
      (alloc) => alloc?.tasks[0] as PlacedContainer,
    );
    await docker.getContainer(killedTask?.id as string).kill();
    await docker.getContainer(restartedTask?.id as string).restart({ t: 0 });
    const started = await place({ allocId: startedId, tasks: ["web"], networkMode: "host" });
    engine.restore();
    await eventually(() => countOf(engine, LIST, []) === 2);

    const allocIds = [...allocs, started].map((alloc) => alloc.allocId);
    const after = await sampler.sample(allocIds, AT + 60_000);
    expect(allocIds.map((allocId) => after.get(allocId)?.state)).toEqual([
      "measured",
      "unknown",
      "measured",
      "measured",
    ]);
    expect(after.get(killed?.allocId as string)).toMatchObject({ reason: "no running containers" });
    // Inspected again: the restarted container (its process died) and the new one; the kept one not.
    expect(countOf(engine, INSPECT, [...allocs, started])).toBe(3 + 2);
    expect(await descriptorsOn(killedTask?.pid as number)).toEqual([]);
  });

  it("reconnects and relists when a ping fails on a stream gone silent, recovering a container started meanwhile", async () => {
    const clock = new FakeClock(Date.now());
    const { sampler, engine } = await proxiedSampler({ clock });
    const kept = await place({ tasks: ["web"], networkMode: "host" });
    measured(await sampleOne(sampler, kept.allocId));

    // The stream stays open but loses the new container's start event: nothing tells the sampler but a ping.
    engine.stall();
    const allocId = randomUUID();
    const baseline = nextBaseline(sampler, allocId);
    const missed = await place({ allocId, tasks: ["web"], networkMode: "host" });
    expect(await sampleOne(sampler, allocId)).toMatchObject({
      state: "unknown",
      reason: "no running containers",
    });
    expect(countOf(engine, LIST, [])).toBe(1);

    await clock.advance(30_000);
    await eventually(() => engine.requests().includes(PING));
    engine.restore();
    // The reconnect waits out its backoff on the same clock.
    await eventually(async () => {
      await clock.advance(100);
      return countOf(engine, LIST, []) === 2;
    });

    const task = missed.tasks[0] as PlacedContainer;
    expect([...measured(await baseline).keys()]).toEqual([task.id]);
    expect([...measured(await sampleOne(sampler, allocId)).keys()]).toEqual([task.id]);
    measured(await sampleOne(sampler, kept.allocId));
    // The kept container's process lived through: the relist inspected only the one it had missed.
    expect(countOf(engine, INSPECT, [kept, missed])).toBe(2);
  });

  it("closes every descriptor when closed", async () => {
    const { sampler } = await proxiedSampler();
    const alloc = await place({ tasks: ["web", "sidecar"], networkMode: "host" });
    measured(await sampleOne(sampler, alloc.allocId));
    const pids = alloc.tasks.map((task) => task.pid);

    await sampler.close();

    for (const pid of pids) expect(await descriptorsOn(pid)).toEqual([]);
  });
});

const LIST = "GET /containers/json";
const INSPECT = "GET /containers/{id}/json";
const EVENTS = "GET /events";
const PING = "GET /_ping";

/**
 * The proxy's requests, endpoints folded, without the inspects of containers that are not the test's: the
 * sampler watches every container with Nomad's label, and other test files start some at the same time.
 */
function requestsFor(engine: CountingProxy, allocs: readonly PlacedAllocation[]): string[] {
  const ours = new Set(
    allocs.flatMap((alloc) =>
      [...alloc.tasks, ...(alloc.pause ? [alloc.pause] : [])].map((container) => container.id),
    ),
  );
  return engine.paths().flatMap((path) => {
    const inspected = path.match(/^GET \/containers\/([0-9a-f]{64})\/json$/)?.[1];
    if (inspected === undefined) return [path];
    return ours.has(inspected) ? [INSPECT] : [];
  });
}

function countOf(engine: CountingProxy, endpoint: string, allocs: readonly PlacedAllocation[]): number {
  return requestsFor(engine, allocs).filter((request) => request === endpoint).length;
}

/** The next reading the sampler delivers outside the cycle for the allocation. */
function nextBaseline(sampler: DockerNetworkSampler, allocId: string): Promise<Reading> {
  return new Promise((resolve) => {
    sampler.onBaseline((reading) => {
      if (reading.allocId === allocId) resolve(reading);
    });
  });
}

/** This process's open descriptors on files of the process `pid` under /proc. */
async function descriptorsOn(pid: number): Promise<string[]> {
  const links = await Promise.all(
    (await readdir("/proc/self/fd")).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")),
  );
  return links.filter((link) => link.startsWith(`/proc/${pid}/`));
}

/** Waits for a condition that a background event makes true; the test's own timeout bounds it. */
async function eventually(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function sampleOne(sampler: DockerNetworkSampler, allocId: string): Promise<Reading> {
  const reading = (await sampler.sample([allocId], AT)).get(allocId);
  if (!reading) throw new Error(`no reading for ${allocId}`);
  return reading;
}

function measured(reading: Reading): ReadonlyMap<string, number> {
  if (reading.state !== "measured") throw new Error(`expected a measurement, got unknown: ${reading.reason}`);
  return reading.counters;
}

function counter(counters: ReadonlyMap<string, number>, namespace: string): number {
  const bytes = counters.get(namespace);
  if (bytes === undefined) throw new Error(`no counter for namespace ${namespace}`);
  return bytes;
}

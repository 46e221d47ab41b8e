import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type Dockerode from "dockerode";
import { mapBounded } from "../../src/docker/bounded.js";
import { type Engine, EngineUnavailableError, ensureEngine, processExists } from "./engine.js";
import { ensureTestImage, PAYLOAD } from "./image.js";

export type GroupNetworkMode = "host" | "bridge";

export interface AllocationSpec {
  allocId: string;
  tasks: string[];
  networkMode: GroupNetworkMode;
  /** Task-level `network_mode = "host"`: the task containers share the host's namespace. */
  taskNetworkMode?: "host";
  /** A task's own command (docker `command` + `args`); without, the first task serves HTTP, the others sleep. */
  commands?: Readonly<Record<string, readonly string[]>>;
}

/** One run of a Nomad service check: `http` GETs `path`, `tcp` connects. */
export interface HealthCheck {
  type: "http" | "tcp";
  path: string;
  timeoutMs: number;
}

export interface PlacedContainer {
  id: string;
  name: string;
  pid: number;
}

export interface PlacedAllocation {
  allocId: string;
  networkMode: GroupNetworkMode;
  /** Where the first task's httpd listens, reachable from the host. */
  address: string;
  port: number;
  tasks: PlacedContainer[];
  /** The `nomad_init_<alloc>` container holding the bridge-mode namespace. */
  pause?: PlacedContainer;
}

// Labels: Nomad's (nomad-api-notes.md "Docker task driver") and ours, which mark test objects and
// name the world that owns them as "<owner pid>-<random>" so a later run can tell a crashed owner.
const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";
const TEST_LABEL = "nomad-idle-monitor.test";
const WORLD_LABEL = "nomad-idle-monitor.test.world";

const HTTPD_PORT = 8080;
const SLEEP_FOREVER = ["/bin/sleep", "2147483647"];
// Bridge-mode addresses: one /30 per allocation (host end .1, eth0 .2) out of 10.213.0.0/16.
const BRIDGE_NET_PREFIX = [10, 213];
const BLOCKS_IN_NET = 16_384;
const HOST_VETH_PREFIX = "nimv";
const READY_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * Every Docker call of set-up and clean-up is bounded: an engine that stops answering fails the call
 * (and whoever waits on it) instead of holding it forever. Under load a create or a forced removal
 * takes seconds; a minute means the engine is stuck.
 */
export const DOCKER_CALL_TIMEOUT_MS = 60_000;
/** Allocations removeAllocations removes at once. */
const REMOVAL_CONCURRENCY = 6;
/** removeAllocations stops after this many removals in a row that the engine did not answer. */
const UNANSWERED_BEFORE_GIVING_UP = 3;

/** /30 blocks claimed by any world of this process, so concurrent allocations never pick the same one. */
const claimedBlocks = new Set<number>();

interface BridgeLink {
  hostVeth: string;
  block: number;
}

interface Placement {
  placed: PlacedAllocation;
  link?: BridgeLink;
}

/**
 * Real Docker containers laid out exactly as Nomad's docker driver lays out allocations, for the
 * integration tests, the demo and the simulator. Several worlds (one per test file or helper) may
 * live at once; each removes only what it created, plus what crashed runs left behind.
 */
export class DockerWorld {
  private readonly placements = new Map<string, Placement>();
  private readonly worldId = `${process.pid}-${randomBytes(4).toString("hex")}`;

  private constructor(
    private readonly engine: Engine,
    readonly image: string,
  ) {}

  get docker(): Dockerode {
    return this.engine.docker;
  }

  static async open(): Promise<DockerWorld> {
    const engine = await ensureEngine();
    const image = await ensureTestImage(engine.docker);
    await removeLeftoversOfDeadWorlds(engine.docker);
    return new DockerWorld(engine, image);
  }

  async createAllocation(spec: AllocationSpec): Promise<PlacedAllocation> {
    if (spec.tasks.length === 0) throw new Error(`allocation ${spec.allocId} needs at least one task`);
    if (this.placements.has(spec.allocId)) throw new Error(`allocation ${spec.allocId} already exists`);
    const placement: Placement = {
      placed: { allocId: spec.allocId, networkMode: spec.networkMode, address: "", port: 0, tasks: [] },
    };
    this.placements.set(spec.allocId, placement);
    try {
      await this.place(spec, placement);
      return placement.placed;
    } catch (error) {
      await this.removeAllocation(spec.allocId);
      throw error;
    }
  }

  private async place(spec: AllocationSpec, placement: Placement): Promise<void> {
    const { placed } = placement;
    let taskNetworkMode = "default"; // what Nomad sets when neither the group nor the task names a mode
    if (spec.networkMode === "bridge") {
      const pause = await this.startContainer(
        `nomad_init_${spec.allocId}`,
        spec.allocId,
        SLEEP_FOREVER,
        "none",
      );
      placed.pause = pause;
      placement.link = await attachVeth(pause.pid, this.worldId);
      placed.address = containerAddress(placement.link.block);
      taskNetworkMode = `container:${pause.id}`;
    }
    const hostNetworking = spec.taskNetworkMode === "host";
    if (hostNetworking) {
      taskNetworkMode = "host";
      placed.address = "127.0.0.1";
    }
    placed.port = hostNetworking ? await freeLoopbackPort() : HTTPD_PORT;
    const listen = hostNetworking ? `127.0.0.1:${placed.port}` : String(placed.port);
    const httpd = ["/bin/httpd", "-f", "-p", listen, "-h", "/www"];

    // Settle every start before failing, so the cleanup that follows a failure sees every container.
    const started = await Promise.allSettled(
      spec.tasks.map((task, index) =>
        this.startContainer(
          `${task.replaceAll("/", "_")}-${spec.allocId}`,
          spec.allocId,
          spec.commands?.[task] ?? (index === 0 ? httpd : SLEEP_FOREVER),
          taskNetworkMode,
        ),
      ),
    );
    placed.tasks = started.map((result) => {
      if (result.status === "rejected") throw result.reason;
      return result.value;
    });
    const server = placed.tasks[0] as PlacedContainer;
    if (taskNetworkMode === "default") placed.address = await bridgeAddress(this.docker, server.id);
    await waitUntilListening(server.pid, placed.port);
  }

  private async startContainer(
    name: string,
    allocId: string,
    cmd: readonly string[],
    networkMode: string,
  ): Promise<PlacedContainer> {
    const container = await dockerCall(`create ${name}`, (abortSignal) =>
      this.docker.createContainer({
        name,
        Image: this.image,
        Cmd: [...cmd],
        Labels: { [ALLOC_ID_LABEL]: allocId, [TEST_LABEL]: "1", [WORLD_LABEL]: this.worldId },
        HostConfig: { NetworkMode: networkMode },
        abortSignal,
      }),
    );
    await dockerCall(`start ${name}`, (abortSignal) => container.start({ abortSignal }));
    const { State } = await dockerCall(`inspect ${name}`, (abortSignal) =>
      container.inspect({ abortSignal }),
    );
    return { id: container.id, name, pid: State.Pid };
  }

  /** Removes the allocation's containers (tasks one at a time, then the pause container) and its host veth. */
  async removeAllocation(allocId: string): Promise<void> {
    const containers = await listContainers(this.docker, [
      `${ALLOC_ID_LABEL}=${allocId}`,
      `${WORLD_LABEL}=${this.worldId}`,
    ]);
    for (const container of inRemovalOrder(containers)) await removeContainer(this.docker, container.Id);
    const link = this.placements.get(allocId)?.link;
    if (link) {
      await deleteLink(link.hostVeth);
      claimedBlocks.delete(link.block);
    }
    this.placements.delete(allocId);
  }

  /** HTTP GETs of the payload from the host to the allocation's first task; returns the body bytes received. */
  async sendTraffic(allocId: string, requests = 1): Promise<number> {
    const placed = this.placements.get(allocId)?.placed;
    if (!placed) throw new Error(`no allocation ${allocId} in this world`);
    let received = 0;
    for (let i = 0; i < requests; i++)
      received += await fetchBytes(placed.address, placed.port, PAYLOAD.path);
    return received;
  }

  /** Where the allocation's first task listens, reachable from the host. */
  addressOf(allocId: string): { address: string; port: number } | undefined {
    const placed = this.placements.get(allocId)?.placed;
    return placed && { address: placed.address, port: placed.port };
  }

  /**
   * A service check against the allocation's first task, from the host as Nomad's client runs it: a new
   * connection each time, closed after the answer (Nomad leaves a 200's body unread, so Go's client does
   * not keep the connection). Resolves whether the check passes or not.
   */
  async runCheck(allocId: string, check: HealthCheck): Promise<void> {
    const placed = this.placements.get(allocId)?.placed;
    if (!placed) return;
    if (check.type === "tcp") {
      await new Promise<void>((resolve) => {
        const socket = net.connect({ host: placed.address, port: placed.port, timeout: check.timeoutMs });
        const done = () => {
          socket.destroy();
          resolve();
        };
        socket.on("connect", () => socket.end(resolve));
        socket.on("timeout", done);
        socket.on("error", done);
      });
      return;
    }
    await new Promise<void>((resolve) => {
      const request = http.get(
        { host: placed.address, port: placed.port, path: check.path, agent: false, timeout: check.timeoutMs },
        (response) => {
          response.resume();
          response.on("end", resolve);
          response.on("error", () => resolve());
        },
      );
      request.on("timeout", () => request.destroy());
      request.on("error", () => resolve());
    });
  }

  /** Removes everything this world created and stops dockerd if this world started it. */
  async close(): Promise<void> {
    const containers = await listContainers(this.docker, [`${WORLD_LABEL}=${this.worldId}`]);
    const allocIds = new Set([
      ...this.placements.keys(),
      ...containers.flatMap((c) => c.Labels[ALLOC_ID_LABEL] ?? []),
    ]);
    const failures = await this.removeAllocations([...allocIds]);
    for (const link of await hostLinksOf((worldId) => worldId === this.worldId)) await deleteLink(link);
    await this.engine.stop();
    if (failures.length > 0) {
      const [first] = failures;
      throw new Error(
        `${failures.length} allocations were not removed, e.g. ${first?.allocId}: ${first?.error}`,
      );
    }
  }

  /**
   * Removes allocations a few at a time, each one's tasks before its pause container, and gives up
   * once the engine stops answering (what is left then goes with the next world that opens). Returns
   * the allocations not removed, with why.
   */
  async removeAllocations(
    allocIds: readonly string[],
    onRemoved: (removed: number) => void = () => {},
  ): Promise<RemovalFailure[]> {
    const failures: RemovalFailure[] = [];
    let unansweredInARow = 0;
    let removed = 0;
    await mapBounded(allocIds, REMOVAL_CONCURRENCY, async (allocId) => {
      if (unansweredInARow >= UNANSWERED_BEFORE_GIVING_UP) {
        failures.push({ allocId, error: new Error("not tried: the Docker Engine had stopped answering") });
        return;
      }
      try {
        await this.removeAllocation(allocId);
        unansweredInARow = 0;
        onRemoved(++removed);
      } catch (error) {
        failures.push({ allocId, error });
        if (error instanceof DockerTimeoutError) unansweredInARow++;
      }
    });
    return failures;
  }
}

export interface RemovalFailure {
  allocId: string;
  error: unknown;
}

/**
 * For a test file: the world, or undefined after a warning when no engine can be had outside CI
 * (the file's Docker tests then skip). Under CI=true a missing engine fails, never skips.
 */
export async function openWorldForTests(): Promise<DockerWorld | undefined> {
  try {
    return await DockerWorld.open();
  } catch (error) {
    if (!(error instanceof EngineUnavailableError) || process.env.CI === "true") throw error;
    console.warn(`Skipping Docker tests: ${error.message}`);
    return undefined;
  }
}

async function removeLeftoversOfDeadWorlds(docker: Dockerode): Promise<void> {
  const isDead = (worldId: string) => !processExists(ownerPid(worldId));
  const containers = await listContainers(docker, [WORLD_LABEL]);
  const leftovers = containers.filter((container) => isDead(container.Labels[WORLD_LABEL] ?? ""));
  for (const container of inRemovalOrder(leftovers)) await removeContainer(docker, container.Id);
  for (const link of await hostLinksOf(isDead)) await deleteLink(link);
}

/** The containers, running or not, of the worlds that process `pid` owns (a bench's world keeper). */
export async function containersOwnedBy(docker: Dockerode, pid: number): Promise<string[]> {
  const containers = await listContainers(docker, [WORLD_LABEL]);
  return containers
    .filter((container) => ownerPid(container.Labels[WORLD_LABEL] ?? "") === pid)
    .map((container) => container.Id);
}

function ownerPid(worldId: string): number {
  const pid = Number.parseInt(worldId, 10);
  // An unreadable owner must never look dead: 0 would address our own process group, which exists.
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
}

/**
 * Containers that hold a namespace others joined (bridge mode's pause containers, `NetworkMode: none`)
 * after every container that joined one (`container:<id>`).
 */
function inRemovalOrder<T extends { HostConfig: { NetworkMode?: string } }>(containers: readonly T[]): T[] {
  const holdsNamespace = (container: T) => container.HostConfig.NetworkMode === "none";
  return [...containers.filter((one) => !holdsNamespace(one)), ...containers.filter(holdsNamespace)];
}

/** Containers, running or not, that carry all these labels (`key` or `key=value`). */
function listContainers(docker: Dockerode, labels: string[]): Promise<Dockerode.ContainerInfo[]> {
  return dockerCall(`list containers labelled ${labels.join(", ")}`, (abortSignal) =>
    docker.listContainers({ all: true, filters: { label: labels }, abortSignal }),
  );
}

/** Stops and removes a container; gone already, or removal under way, is fine. */
async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await dockerCall(`remove ${id.slice(0, 12)}`, (abortSignal) =>
      docker.getContainer(id).remove({ force: true, abortSignal }),
    );
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) throw error; // gone, or removal already in progress
  }
}

/**
 * Gives the pause container's namespace an `eth0` as Nomad's CNI plugins do: a veth pair created
 * straight into the namespace (so the host end dies with it), a /30 on both ends, a default route.
 */
async function attachVeth(pid: number, worldId: string): Promise<BridgeLink> {
  const block = await claimFreeBlock();
  const hostVeth = `${HOST_VETH_PREFIX}${randomBytes(4).toString("hex")}`;
  const [hostAddress, address] = [hostEndAddress(block), containerAddress(block)];
  try {
    // IPv6 off on both ends (addrgenmode none): no router solicitations or DAD on an idle namespace,
    // so its counters move only with the traffic a test sends.
    await run("ip", ["-batch", "-"], {
      input: [
        `link add ${hostVeth} type veth peer name eth0 netns ${pid}`,
        `link set ${hostVeth} alias ${WORLD_LABEL}=${worldId}`,
        `link set ${hostVeth} addrgenmode none`,
        `addr add ${hostAddress}/30 dev ${hostVeth}`,
        `link set ${hostVeth} up`,
      ].join("\n"),
    });
    await run("nsenter", ["-t", String(pid), "-n", "ip", "-batch", "-"], {
      input: [
        "link set eth0 addrgenmode none",
        `addr add ${address}/30 dev eth0`,
        "link set eth0 up",
        `route add default via ${hostAddress}`,
      ].join("\n"),
    });
    return { hostVeth, block };
  } catch (error) {
    claimedBlocks.delete(block);
    await deleteLink(hostVeth);
    throw error;
  }
}

async function claimFreeBlock(): Promise<number> {
  const addresses = JSON.parse(await run("ip", ["-j", "-4", "addr", "show"])) as Array<{
    addr_info?: Array<{ local?: string }>;
  }>;
  const usedOnHost = addresses
    .flatMap((link) => link.addr_info ?? [])
    .map((info) => (info.local ?? "").split(".").map(Number))
    .filter(([a, b]) => a === BRIDGE_NET_PREFIX[0] && b === BRIDGE_NET_PREFIX[1])
    .map(([, , c = 0, d = 0]) => (c * 256 + d) >> 2);
  const taken = new Set([...usedOnHost, ...claimedBlocks]);
  for (let attempt = 0; attempt < 100; attempt++) {
    const block = 1 + Math.floor(Math.random() * (BLOCKS_IN_NET - 1));
    if (taken.has(block)) continue;
    claimedBlocks.add(block);
    return block;
  }
  throw new Error(`no free /30 in ${BRIDGE_NET_PREFIX.join(".")}.0.0/16`);
}

function hostEndAddress(block: number): string {
  return blockAddress(block, 1);
}

function containerAddress(block: number): string {
  return blockAddress(block, 2);
}

function blockAddress(block: number, host: number): string {
  const offset = block * 4 + host;
  return [...BRIDGE_NET_PREFIX, offset >> 8, offset & 255].join(".");
}

/** Host veths marked by a world that `matches`; the mark is the interface alias. */
async function hostLinksOf(matches: (worldId: string) => boolean): Promise<string[]> {
  const links = JSON.parse(await run("ip", ["-j", "link", "show"])) as Array<{
    ifname: string;
    ifalias?: string;
  }>;
  const marker = `${WORLD_LABEL}=`;
  return links
    .filter((link) => link.ifalias?.startsWith(marker) && matches(link.ifalias.slice(marker.length)))
    .map((link) => link.ifname);
}

async function deleteLink(name: string): Promise<void> {
  try {
    await run("ip", ["link", "del", name]);
  } catch (error) {
    // The host end vanishes by itself once the namespace holding its peer is gone.
    // iproute2 says "Cannot find device" when the name is gone before the lookup, and "RTNETLINK answers:
    // No such device" when it goes between the lookup and the delete.
    if (!/Cannot find device|No such device/.test((error as Error).message)) throw error;
  }
}

async function bridgeAddress(docker: Dockerode, containerId: string): Promise<string> {
  const { NetworkSettings } = await dockerCall(`inspect ${containerId.slice(0, 12)}`, (abortSignal) =>
    docker.getContainer(containerId).inspect({ abortSignal }),
  );
  const address = NetworkSettings.Networks.bridge?.IPAddress;
  if (!address) throw new Error(`container ${containerId} has no address on Docker's default bridge`);
  return address;
}

/** A port nothing listens on now, on loopback. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Waits for httpd's listening socket in the task's namespace (read from /proc: no probe traffic). */
async function waitUntilListening(pid: number, port: number): Promise<void> {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const TCP_LISTEN = "0A";
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    for (const table of ["tcp", "tcp6"]) {
      const text = await readFile(`/proc/${pid}/net/${table}`, "utf8").catch(() => "");
      const listening = text
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .some((fields) => fields[1]?.endsWith(portHex) && fields[3] === TCP_LISTEN);
      if (listening) return;
    }
    await sleep(20);
  }
  throw new Error(`httpd (pid ${pid}) did not listen on port ${port} within ${READY_TIMEOUT_MS / 1000} s`);
}

function fetchBytes(address: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: address, port, path, agent: false, timeout: REQUEST_TIMEOUT_MS },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`GET http://${address}:${port}${path} answered ${response.statusCode}`));
          return;
        }
        let bytes = 0;
        response.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
        });
        response.on("end", () => resolve(bytes));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`GET http://${address}:${port}${path} timed out`)));
    request.on("error", reject);
  });
}

function run(command: string, args: string[], options: { input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    // A command that exits without reading its stdin fails the write: its exit status tells the story.
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input);
  });
}

/** The engine did not answer a call within DOCKER_CALL_TIMEOUT_MS. */
export class DockerTimeoutError extends Error {
  override name = "DockerTimeoutError";
}

/** A Docker call that fails after DOCKER_CALL_TIMEOUT_MS instead of waiting on a stuck engine forever. */
async function dockerCall<T>(what: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const abortSignal = AbortSignal.timeout(DOCKER_CALL_TIMEOUT_MS);
  try {
    return await call(abortSignal);
  } catch (error) {
    if (abortSignal.aborted)
      throw new DockerTimeoutError(
        `Docker did not answer "${what}" within ${DOCKER_CALL_TIMEOUT_MS / 1000} s`,
      );
    throw error;
  }
}

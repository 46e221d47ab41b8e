import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ConnectionsSetting, InboundSession, SignalReading, SignalValue } from "../model/readings.js";
import { CPU_STRIDE } from "../model/timing.js";
import type { ActivitySignals, SignalRequest } from "../ports.js";
import { CgroupCpuReader, type CgroupFs } from "../signals/cpu.js";
import { establishedConnections, inboundSessions } from "../signals/tcp.js";
import type { DockerNetworkSampler } from "./network-sampler.js";

export interface DockerActivitySignalsOptions {
  /** The containers and namespace PIDs of each allocation, as the sampler's container watch knows them. */
  sampler: Pick<DockerNetworkSampler, "processes">;
  /** The host's /proc (PROC_ROOT). */
  procRoot: string;
  /** The host's /sys/fs/cgroup (CGROUP_ROOT). */
  cgroupRoot: string;
}

type Unknown = { state: "unknown"; reason: string };

/**
 * CPU time of an allocation's containers from their cgroups under the host's /sys/fs/cgroup, and the
 * inbound sessions of its network namespaces from `<procRoot>/<pid>/net/{snmp,tcp,tcp6}` of the processes
 * that hold them. Nothing is asked of Docker: the sampler's watch already knows the containers and PIDs.
 * The files it reads (`cpuacct.usage` or `cpu.stat`, `net/snmp`) stay open between calls, until one has
 * not been read for KEPT_UNREAD calls.
 */
export class DockerActivitySignals implements ActivitySignals {
  readonly #files = new KeptFiles();
  readonly #cpu: CgroupCpuReader;
  /** Container → the call that last read its CPU time. */
  readonly #lastRead = new Map<string, number>();
  #calls = 0;

  constructor(private readonly options: DockerActivitySignalsOptions) {
    const files = this.#files;
    // Locating a cgroup (once per container) stats and lists directories; only the reads are kept open.
    const fs: CgroupFs = {
      readFile: (path) => files.read(path, path),
      isDirectory: async (path) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false,
      exists: async (path) => existsSync(path),
      readdir: async (path) => readdirSync(path),
    };
    this.#cpu = new CgroupCpuReader(options.cgroupRoot, fs);
  }

  async read(requests: readonly SignalRequest[]): Promise<Map<string, SignalReading>> {
    const processes = this.options.sampler.processes(requests.map((request) => request.allocId));
    const containersRead = new Set<string>();
    for (const { allocId, cpu } of requests) {
      const found = processes.get(allocId);
      if (cpu && found !== undefined && !("reason" in found))
        for (const containerId of found.containerIds) containersRead.add(containerId);
    }
    // The search for a new container's cgroup is asynchronous; every read after it is synchronous.
    await this.#cpu.locate(containersRead);
    const readings = new Map<string, SignalReading>();
    for (const { allocId, cpu, connections } of requests) {
      const found = processes.get(allocId) ?? { reason: "no running containers" };
      const reading: SignalReading = {};
      if ("reason" in found) {
        const unknown: Unknown = { state: "unknown", reason: found.reason };
        if (cpu) reading.cpu = unknown;
        if (connections.kind !== "off") reading.sessions = unknown;
      } else {
        if (cpu) reading.cpu = this.#cpuTime(found.containerIds);
        if (connections.kind !== "off") reading.sessions = this.#sessions(found.namespaces, connections);
      }
      readings.set(allocId, reading);
    }
    this.#forgetUnread(containersRead);
    return readings;
  }

  /**
   * What was not read for KEPT_UNREAD calls is gone, or busy by bytes: found and opened again when it is quiet
   * again. Fewer calls than that without a read is a quiet allocation read every CPU_STRIDE-th cycle.
   */
  #forgetUnread(containersRead: ReadonlySet<string>): void {
    this.#calls++;
    for (const containerId of containersRead) this.#lastRead.set(containerId, this.#calls);
    for (const [containerId, call] of this.#lastRead)
      if (this.#calls - call >= KEPT_UNREAD) this.#lastRead.delete(containerId);
    this.#cpu.forgetAllBut(this.#lastRead);
    this.#files.closeUnreadFor(KEPT_UNREAD);
  }

  /** Closes every kept descriptor. */
  close(): void {
    this.#files.closeUnreadFor(0);
  }

  /** `containerIds` sorted: the same set of containers gives the same `containers`. */
  #cpuTime(containerIds: readonly string[]): NonNullable<SignalReading["cpu"]> {
    let usageNs = 0;
    for (const containerId of containerIds) {
      const usage = this.#cpu.usage(containerId);
      if (usage.state === "unknown") return usage;
      usageNs += usage.usageNs;
    }
    return { state: "measured", value: { usageNs, containers: containerIds.join(",") } };
  }

  #sessions(
    namespaces: ReadonlyArray<{ ownerId: string; pid: number }>,
    connections: ConnectionsSetting,
  ): SignalValue<InboundSession[]> {
    const ports = connections.kind === "ports" ? connections.ports : undefined;
    const sessions: InboundSession[] = [];
    for (const { ownerId, pid } of namespaces) {
      const net = join(this.options.procRoot, String(pid), "net");
      // Kept open per owner and PID: a descriptor holds the namespace it was opened in, never a reused PID's.
      const snmp = this.#table(join(net, "snmp"), `${ownerId}/${pid}`);
      if (typeof snmp !== "string") return snmp;
      if (establishedConnections(snmp) === 0) continue;
      const tcp = this.#table(join(net, "tcp"));
      // A kernel without IPv6 has no tcp6 table: no IPv6 sockets.
      const tcp6 = existsSync(join(net, "tcp6")) ? this.#table(join(net, "tcp6")) : "";
      if (typeof tcp !== "string") return tcp;
      if (typeof tcp6 !== "string") return tcp6;
      const found = inboundSessions(tcp, tcp6, ports);
      if (found.malformedLines > 0) return { state: "unknown", reason: `unexpected lines in ${net}/tcp{,6}` };
      sessions.push(...found.sessions);
    }
    return { state: "measured", value: sessions };
  }

  /** A kept descriptor's read when `key` is given, else a whole read by path (the tcp tables, read rarely). */
  #table(path: string, key?: string): string | Unknown {
    try {
      return key === undefined ? readFileSync(path, "latin1") : this.#files.read(path, key);
    } catch (error) {
      return { state: "unknown", reason: `cannot read ${path}: ${(error as Error).message}` };
    }
  }
}

/** Calls to read() after which what was not read in any is let go: twice the CPU stride. */
const KEPT_UNREAD = 2 * CPU_STRIDE;

/** Shared by every read: they are synchronous, so one at a time. */
const buffer = Buffer.alloc(64 * 1024);

/**
 * Descriptors kept open on small kernel files read often: a read from offset 0 of a kept descriptor costs
 * about a tenth of an open, read and close (npm run bench:signals, its rows "for scale").
 */
class KeptFiles {
  readonly #open = new Map<string, { fd: number; cycle: number }>();
  #cycle = 0;

  /** The whole file; a kept descriptor that fails (its cgroup or process gone) is opened once more by path. */
  read(path: string, key: string): string {
    const kept = this.#open.get(key);
    if (kept !== undefined) {
      kept.cycle = this.#cycle;
      try {
        return readFrom(kept.fd);
      } catch {
        this.#close(key);
      }
    }
    const fd = openSync(path, "r");
    this.#open.set(key, { fd, cycle: this.#cycle });
    return readFrom(fd);
  }

  /** Ends a cycle: closes every descriptor not read in the last `cycles` cycles. */
  closeUnreadFor(cycles: number): void {
    for (const [key, { cycle }] of this.#open) if (this.#cycle - cycle >= cycles) this.#close(key);
    this.#cycle++;
  }

  #close(key: string): void {
    const kept = this.#open.get(key);
    this.#open.delete(key);
    if (kept !== undefined) closeSync(kept.fd);
  }
}

function readFrom(fd: number): string {
  let length = readSync(fd, buffer, 0, buffer.length, 0);
  if (length < buffer.length) return buffer.toString("latin1", 0, length);
  const parts = [Buffer.from(buffer)];
  for (let read = length; read > 0; length += read) {
    read = readSync(fd, buffer, 0, buffer.length, length);
    parts.push(Buffer.from(buffer.subarray(0, read)));
  }
  return Buffer.concat(parts).toString("latin1");
}

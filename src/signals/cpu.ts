import { readFileSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

// A container's CPU time is in its cgroup, read through the host's /sys/fs/cgroup mounted read-only into the
// monitor. cgroup v1: `cpuacct.usage`, nanoseconds, in the cpuacct hierarchy (mounted alone as `cpuacct`, or
// together with cpu as `cpu,cpuacct`, with `cpuacct` a symlink to it on most distributions). cgroup v2:
// `usage_usec` in the container's `cpu.stat`. Docker names the directory after the container ID: `docker/<id>`
// with the cgroupfs driver, `system.slice/docker-<id>.scope` with the systemd driver.
//
// The path in /proc/<pid>/cgroup is not used: on v2 with a private cgroup namespace (Docker's default on v2)
// it is relative to the reader's own cgroup ("0::/"), so it names nothing under the host's mount.

export type CgroupVersion = 1 | 2;

export interface CgroupLocation {
  version: CgroupVersion;
  /** The container's cgroup directory, absolute (under the given root). */
  directory: string;
  /** The file read for its CPU time: `cpuacct.usage` (v1) or `cpu.stat` (v2). */
  file: string;
}

export type CpuUsage =
  | { state: "measured"; usageNs: number; location: CgroupLocation }
  | { state: "unknown"; reason: string };

/** Where Docker puts a container's cgroup, relative to a v1 controller's mount or to the v2 root, in order. */
function containerDirectories(containerId: string): string[] {
  return [`docker/${containerId}`, `system.slice/docker-${containerId}.scope`];
}

const V1_CPU_MOUNTS = ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"];

/** cgroup v1 `cpuacct.usage`: one decimal number of nanoseconds. Undefined for anything else. */
export function parseCpuacctUsage(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^[0-9]+$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** cgroup v2 `cpu.stat`: the `usage_usec` line, in nanoseconds. Undefined when it has none. */
export function parseCpuStatUsageNs(text: string): number | undefined {
  const match = /^usage_usec[ \t]+([0-9]+)[ \t]*$/m.exec(text);
  if (match === null) return undefined;
  const value = Number(match[1]) * 1000;
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * The filesystem calls the reader needs, so tests can count them or make them fail. Locating a cgroup (once
 * per container) is asynchronous; the read of its CPU time, made every cycle for every quiet container, is
 * synchronous: at 1,000 containers a promise per read costs more than the read.
 */
export interface CgroupFs {
  readFile(path: string): string;
  isDirectory(path: string): Promise<boolean>;
  exists(path: string): Promise<boolean>;
  readdir(path: string): Promise<string[]>;
}

export const nodeCgroupFs: CgroupFs = {
  readFile: (path) => readFileSync(path, "utf8"),
  isDirectory: async (path) => (await stat(path).catch(() => undefined))?.isDirectory() ?? false,
  exists: async (path) => (await stat(path).catch(() => undefined)) !== undefined,
  readdir: (path) => readdir(path),
};

/**
 * The cgroup version of the hierarchy mounted at `root`: 2 when `root` itself is a cgroup2 root (it has
 * `cgroup.controllers`), 1 otherwise — a hybrid host (v1 controllers, v2 under `unified`) runs Docker on v1.
 */
export async function cgroupVersion(root: string, fs: CgroupFs = nodeCgroupFs): Promise<CgroupVersion> {
  return (await fs.exists(join(root, "cgroup.controllers"))) ? 2 : 1;
}

/**
 * The cgroup directory of a container (its full 64-hex ID) under the host's cgroup mount `root`: the known
 * Docker layouts first, then — for a `cgroup_parent` set by the operator or the task driver — a search of
 * the hierarchy down to three levels for a directory named `<id>` or `docker-<id>.scope`. Undefined when
 * there is none (the container is gone, or `root` is not the host's cgroup mount).
 */
export async function locateContainerCgroup(
  root: string,
  containerId: string,
  fs: CgroupFs = nodeCgroupFs,
): Promise<CgroupLocation | undefined> {
  if (!/^[0-9a-f]{12,64}$/.test(containerId)) return undefined;
  const version = await cgroupVersion(root, fs);
  const file = version === 2 ? "cpu.stat" : "cpuacct.usage";
  const bases = version === 2 ? [root] : V1_CPU_MOUNTS.map((mount) => join(root, mount));
  for (const base of bases) {
    for (const relative of containerDirectories(containerId)) {
      const directory = join(base, relative);
      if (await fs.exists(join(directory, file))) return { version, directory, file };
    }
  }
  const names = new Set([containerId, `docker-${containerId}.scope`]);
  for (const base of bases) {
    if (!(await fs.isDirectory(base))) continue;
    const directory = await search(base, names, 3, fs);
    if (directory !== undefined && (await fs.exists(join(directory, file))))
      return { version, directory, file };
  }
  return undefined;
}

async function search(
  directory: string,
  names: ReadonlySet<string>,
  depth: number,
  fs: CgroupFs,
): Promise<string | undefined> {
  let entries: string[];
  try {
    entries = await fs.readdir(directory);
  } catch {
    return undefined;
  }
  const found = entries.find((entry) => names.has(entry));
  if (found !== undefined) return join(directory, found);
  if (depth <= 1) return undefined;
  // Controller files (`cpu.stat`, `cgroup.procs`) have a dot; cgroups are `docker`, `<id>` or `*.slice`/`*.scope`.
  const cgroups = entries.filter((name) => !name.includes(".") || /\.(slice|scope)$/.test(name));
  for (const entry of cgroups) {
    const child = join(directory, entry);
    if (!(await fs.isDirectory(child))) continue;
    const hit = await search(child, names, depth - 1, fs);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** Reads the CPU time at a location found by `locateContainerCgroup`. */
export function readCpuUsage(location: CgroupLocation, fs: CgroupFs = nodeCgroupFs): CpuUsage {
  const path = `${location.directory}/${location.file}`;
  let text: string;
  try {
    text = fs.readFile(path);
  } catch (error) {
    return { state: "unknown", reason: `cannot read ${path}: ${(error as Error).message}` };
  }
  const usageNs = location.version === 2 ? parseCpuStatUsageNs(text) : parseCpuacctUsage(text);
  if (usageNs === undefined) return { state: "unknown", reason: `unexpected content in ${path}` };
  return { state: "measured", usageNs, location };
}

/**
 * Reads containers' CPU time under a host cgroup mount (`/sys/fs/cgroup` mounted read-only into the monitor),
 * remembering where each container's cgroup is so that the search runs once per container.
 */
export class CgroupCpuReader {
  readonly #locations = new Map<string, CgroupLocation>();

  constructor(
    readonly root = "/sys/fs/cgroup",
    private readonly fs: CgroupFs = nodeCgroupFs,
  ) {}

  /** Finds the cgroups of the containers not located yet (or no longer: their last read failed). */
  async locate(containerIds: Iterable<string>): Promise<void> {
    for (const containerId of containerIds) {
      if (this.#locations.has(containerId)) continue;
      const location = await locateContainerCgroup(this.root, containerId, this.fs);
      if (location !== undefined) this.#locations.set(containerId, location);
    }
  }

  /** The CPU time of a container located by `locate`; unknown when it was not found. */
  usage(containerId: string): CpuUsage {
    const location = this.#locations.get(containerId);
    if (location === undefined) {
      return {
        state: "unknown",
        reason: `no cgroup of container ${containerId.slice(0, 12)} under ${this.root} (mount the host's /sys/fs/cgroup read-only)`,
      };
    }
    const usage = readCpuUsage(location, this.fs);
    // A container that is gone leaves its location behind: look again next time.
    if (usage.state === "unknown") this.#locations.delete(containerId);
    return usage;
  }

  /** Forgets the location of every container but these (the ones read lately; the others may be gone). */
  forgetAllBut(containerIds: { has(containerId: string): boolean }): void {
    for (const containerId of this.#locations.keys())
      if (!containerIds.has(containerId)) this.#locations.delete(containerId);
  }
}

import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cpuPercent } from "../src/decide/cpu-rate.js";
import {
  CgroupCpuReader,
  type CgroupFs,
  cgroupVersion,
  locateContainerCgroup,
  nodeCgroupFs,
  parseCpuacctUsage,
  parseCpuStatUsageNs,
} from "../src/signals/cpu.js";

const RECORDING = await readFile(
  new URL("./fixtures/nomad-1.6.5/proc-tcp-and-cgroup-cpu.txt", import.meta.url),
  "utf8",
);
const PROC_OF_A_TASK = await readFile(
  new URL("./fixtures/nomad-1.6.5/proc-of-a-task.txt", import.meta.url),
  "utf8",
);

/** The line after a "# ..." heading of the recording. */
function recordedAfter(heading: string): string {
  const lines = RECORDING.split("\n");
  const index = lines.findIndex((line) => line.startsWith(`# ${heading}`));
  if (index === -1) throw new Error(`no "# ${heading}" in the recording`);
  const end = lines.findIndex((line, at) => at > index && line.startsWith("#"));
  return `${lines.slice(index + 1, end === -1 ? undefined : end).join("\n")}\n`;
}

/** Recorded on the cgroup v1 host: `cpuacct.usage` of the task container, and its `cpu.stat` (v1: no usage). */
const RECORDED_CPUACCT_USAGE = recordedAfter("cgroup v1 CPU counters of the task container");
const RECORDED_V1_CPU_STAT = recordedAfter(".../cpu,cpuacct/docker/<id>/cpu.stat");
/** The container ID of the recorded host-mode task, from its /proc/<pid>/cgroup. */
const RECORDED_ID = /cpuacct:\/docker\/([0-9a-f]{64})/.exec(PROC_OF_A_TASK)?.[1] ?? "";
/** A cgroup v2 `cpu.stat` as the kernel writes it (v2 was not recorded: the recording host is v1). */
const V2_CPU_STAT = [
  "usage_usec 118655",
  "user_usec 70000",
  "system_usec 48655",
  "core_sched.force_idle_usec 0",
  "nr_periods 0",
  "nr_throttled 0",
  "throttled_usec 0",
  "nr_bursts 0",
  "burst_usec 0",
].join("\n");

describe("cgroup CPU counters", () => {
  it("reads the recorded v1 cpuacct.usage (nanoseconds)", () => {
    expect(parseCpuacctUsage(RECORDED_CPUACCT_USAGE)).toBe(118_655_425);
  });

  it.each([
    { name: "v2 cpu.stat, usage_usec in ns", parse: parseCpuStatUsageNs, text: V2_CPU_STAT, ns: 118_655_000 },
    {
      name: "v2 cpu.stat with usage_usec not first",
      parse: parseCpuStatUsageNs,
      text: "user_usec 1\nusage_usec 7\n",
      ns: 7000,
    },
    {
      name: "the recorded v1 cpu.stat has no usage",
      parse: parseCpuStatUsageNs,
      text: RECORDED_V1_CPU_STAT,
      ns: undefined,
    },
    {
      name: "v2 cpu.stat: a longer key is not usage_usec",
      parse: parseCpuStatUsageNs,
      text: "usage_usec_x 5\n",
      ns: undefined,
    },
    { name: "v1 usage, empty", parse: parseCpuacctUsage, text: "", ns: undefined },
    { name: "v1 usage, negative", parse: parseCpuacctUsage, text: "-5\n", ns: undefined },
    {
      name: "v1 usage, beyond a safe integer",
      parse: parseCpuacctUsage,
      text: "99999999999999999999\n",
      ns: undefined,
    },
  ])("$name", ({ parse, text, ns }) => {
    expect(parse(text)).toBe(ns);
  });

  it.each([
    { name: "one core busy throughout", usedNs: 5e9, elapsedMs: 5000, percent: 100 },
    {
      name: "the recorded usage over a minute",
      usedNs: 118_655_425,
      elapsedMs: 60_000,
      percent: 0.197759041667,
    },
    { name: "two and a half cores", usedNs: 25e8, elapsedMs: 1000, percent: 250 },
    { name: "nothing used", usedNs: 0, elapsedMs: 1000, percent: 0 },
    { name: "no time passed", usedNs: 1, elapsedMs: 0, percent: undefined },
    { name: "the counter went down (cgroup recreated)", usedNs: -1, elapsedMs: 1000, percent: undefined },
  ])("cpuPercent: $name", ({ usedNs, elapsedMs, percent }) => {
    const before = { usageNs: 1_000_000_000, at: 1_700_000_000_000 };
    const result = cpuPercent(before, { usageNs: before.usageNs + usedNs, at: before.at + elapsedMs });
    if (percent === undefined) expect(result).toBeUndefined();
    else expect(result).toBeCloseTo(percent, 9);
  });
});

describe("locating a container's cgroup", () => {
  const roots: string[] = [];
  afterEach(async () => {
    for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
  });

  /** A fake /sys/fs/cgroup: files by path; "->" entries are symlinks. */
  async function tree(
    files: Record<string, string>,
    links: Record<string, string | undefined> = {},
  ): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), "fake-cgroup-"));
    roots.push(root);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), content);
    }
    for (const [path, target] of Object.entries(links)) {
      if (target !== undefined) await symlink(target, join(root, path));
    }
    return root;
  }

  const id = RECORDED_ID;
  const V2_ROOT = { "cgroup.controllers": "cpuset cpu io memory pids\n" };

  it.each([
    {
      name: "v1, cgroupfs driver, cpu and cpuacct mounted apart (as on this project's CI host)",
      files: {
        [`cpuacct/docker/${id}/cpuacct.usage`]: RECORDED_CPUACCT_USAGE,
        [`cpu/docker/${id}/cpu.stat`]: RECORDED_V1_CPU_STAT,
      },
      links: {},
      version: 1,
      directory: `cpuacct/docker/${id}`,
    },
    {
      name: "v1, cgroupfs driver, cpu,cpuacct mounted together with a cpuacct symlink",
      files: { [`cpu,cpuacct/docker/${id}/cpuacct.usage`]: RECORDED_CPUACCT_USAGE },
      links: { cpuacct: "cpu,cpuacct" },
      version: 1,
      directory: `cpuacct/docker/${id}`,
    },
    {
      name: "v1, cpu,cpuacct without the symlink",
      files: { [`cpu,cpuacct/docker/${id}/cpuacct.usage`]: RECORDED_CPUACCT_USAGE },
      links: {},
      version: 1,
      directory: `cpu,cpuacct/docker/${id}`,
    },
    {
      name: "v1, systemd driver",
      files: { [`cpu,cpuacct/system.slice/docker-${id}.scope/cpuacct.usage`]: RECORDED_CPUACCT_USAGE },
      links: {},
      version: 1,
      directory: `cpu,cpuacct/system.slice/docker-${id}.scope`,
    },
    {
      name: "v2, systemd driver",
      files: { ...V2_ROOT, [`system.slice/docker-${id}.scope/cpu.stat`]: V2_CPU_STAT },
      links: {},
      version: 2,
      directory: `system.slice/docker-${id}.scope`,
    },
    {
      name: "v2, cgroupfs driver",
      files: { ...V2_ROOT, [`docker/${id}/cpu.stat`]: V2_CPU_STAT },
      links: {},
      version: 2,
      directory: `docker/${id}`,
    },
    {
      name: "v2, a cgroup parent set by the task driver (found by the search)",
      files: {
        ...V2_ROOT,
        "nomad.slice/cpu.stat": "usage_usec 1\n",
        [`nomad.slice/docker-${id}.scope/cpu.stat`]: V2_CPU_STAT,
      },
      links: {},
      version: 2,
      directory: `nomad.slice/docker-${id}.scope`,
    },
    {
      name: "v1, a custom cgroup parent two levels down (found by the search)",
      files: { [`cpuacct/ci/runners/${id}/cpuacct.usage`]: RECORDED_CPUACCT_USAGE },
      links: {},
      version: 1,
      directory: `cpuacct/ci/runners/${id}`,
    },
  ])("$name", async ({ files, links, version, directory }) => {
    const root = await tree(files, links);
    expect(await cgroupVersion(root)).toBe(version);
    const location = await locateContainerCgroup(root, id);
    expect(location).toEqual({
      version,
      directory: join(root, directory),
      file: version === 2 ? "cpu.stat" : "cpuacct.usage",
    });
    const reader = new CgroupCpuReader(root);
    expect(await usageOf(reader, id)).toEqual({
      state: "measured",
      usageNs: version === 2 ? 118_655_000 : 118_655_425,
      location,
    });
  });

  it("on v2 ignores the namespace-relative path of /proc/<pid>/cgroup: a lookalike at that path is not read", async () => {
    // Inside a private cgroup namespace the container's own /proc/<pid>/cgroup says "0::/".
    const root = await tree({
      ...V2_ROOT,
      "cpu.stat": "usage_usec 999\n",
      [`system.slice/docker-${id}.scope/cpu.stat`]: V2_CPU_STAT,
    });
    expect((await locateContainerCgroup(root, id))?.directory).toBe(
      join(root, `system.slice/docker-${id}.scope`),
    );
  });

  it.each([
    {
      name: "no cgroup of that container",
      files: { [`cpuacct/docker/${"a".repeat(64)}/cpuacct.usage`]: "1\n" },
      id,
    },
    { name: "a directory without the CPU file", files: { [`cpuacct/docker/${id}/tasks`]: "" }, id },
    { name: "not a container ID", files: { "cpuacct/docker/../cpuacct.usage": "1\n" }, id: "../x" },
    { name: "an empty mount", files: {}, id },
  ])("unknown: $name", async ({ files, id: wanted }) => {
    const root = await tree(files);
    expect(await locateContainerCgroup(root, wanted)).toBeUndefined();
    const usage = await usageOf(new CgroupCpuReader(root), wanted);
    expect(usage.state).toBe("unknown");
    if (usage.state === "unknown")
      expect(usage.reason).toContain("mount the host's /sys/fs/cgroup read-only");
  });

  it("locates once per container, and again after the cgroup disappears", async () => {
    const root = await tree({ [`cpuacct/docker/${id}/cpuacct.usage`]: "5\n" });
    const counting = countingLookups();
    const reader = new CgroupCpuReader(root, counting.fs);
    await usageOf(reader, id);
    const afterFirst = counting.lookups();
    expect(await usageOf(reader, id)).toMatchObject({ state: "measured", usageNs: 5 });
    expect(counting.lookups()).toBe(afterFirst);
    await rm(join(root, "cpuacct"), { recursive: true });
    expect((await usageOf(reader, id)).state).toBe("unknown");
    await mkdir(join(root, `cpuacct/docker/${id}`), { recursive: true });
    await writeFile(join(root, `cpuacct/docker/${id}/cpuacct.usage`), "9\n");
    expect(await usageOf(reader, id)).toMatchObject({ state: "measured", usageNs: 9 });
  });

  it("forgets the locations of the containers not read, and only those", async () => {
    const other = "b".repeat(64);
    const root = await tree({
      [`cpuacct/docker/${id}/cpuacct.usage`]: "5\n",
      [`cpuacct/docker/${other}/cpuacct.usage`]: "7\n",
    });
    const counting = countingLookups();
    const reader = new CgroupCpuReader(root, counting.fs);
    await usageOf(reader, id);
    await usageOf(reader, other);
    reader.forgetAllBut(new Set([id]));
    const before = counting.lookups();
    await usageOf(reader, id);
    expect(counting.lookups()).toBe(before);
    await usageOf(reader, other);
    expect(counting.lookups()).toBeGreaterThan(before);
  });

  it("reports unexpected content as unknown", async () => {
    const root = await tree({ [`cpuacct/docker/${id}/cpuacct.usage`]: "max\n" });
    expect(await usageOf(new CgroupCpuReader(root), id)).toEqual({
      state: "unknown",
      reason: `unexpected content in ${join(root, `cpuacct/docker/${id}/cpuacct.usage`)}`,
    });
  });
});

/** As the Docker adapter reads: the cgroup located (once), then read. */
async function usageOf(reader: CgroupCpuReader, containerId: string) {
  await reader.locate([containerId]);
  return reader.usage(containerId);
}

/** The node filesystem, counting the existence checks that locating a cgroup makes. */
function countingLookups(): { fs: CgroupFs; lookups(): number } {
  let lookups = 0;
  const fs: CgroupFs = {
    ...nodeCgroupFs,
    exists: (path) => {
      lookups++;
      return nodeCgroupFs.exists(path);
    },
  };
  return { fs, lookups: () => lookups };
}

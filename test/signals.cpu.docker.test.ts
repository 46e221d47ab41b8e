import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { cpuPercent } from "../src/decide/cpu-rate.js";
import { CgroupCpuReader, cgroupVersion } from "../src/signals/cpu.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();

describe.skipIf(world === undefined)("CPU of a real container (Docker Engine)", () => {
  const placed: string[] = [];
  afterEach(async () => {
    for (const allocId of placed.splice(0)) await world?.removeAllocation(allocId);
  });
  afterAll(async () => {
    await world?.close();
  });

  it("reads its counters from the host's /sys/fs/cgroup by container ID: the Engine's own figure, near zero idle, a share of a core under a busy loop", async () => {
    if (world === undefined) return;
    const allocId = randomUUID();
    placed.push(allocId);
    const alloc = await world.createAllocation({ allocId, tasks: ["web"], networkMode: "host" });
    const [task] = alloc.tasks;
    if (task === undefined) throw new Error("no task container");
    const reader = new CgroupCpuReader("/sys/fs/cgroup");

    const first = await usageOf(reader, task.id);
    if (first.state !== "measured") throw new Error(first.reason);
    // The same cgroup as the container's init process names in /proc/<pid>/cgroup on this host.
    const procCgroup = await readFile(`/proc/${task.pid}/cgroup`, "utf8");
    const version = await cgroupVersion("/sys/fs/cgroup");
    const named =
      version === 1
        ? /^\d+:[^:]*cpuacct[^:]*:(.*)$/m.exec(procCgroup)?.[1]
        : /^0::(.*)$/m.exec(procCgroup)?.[1];
    if (version === 1 || named !== "/") expect(first.location.directory.endsWith(named ?? "?")).toBe(true);

    const idleFrom = { usageNs: first.usageNs, at: Date.now() };
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = await usageOf(reader, task.id);
    if (idle.state !== "measured") throw new Error(idle.reason);
    const idlePercent = cpuPercent(idleFrom, { usageNs: idle.usageNs, at: Date.now() });
    expect(idlePercent).toBeLessThan(5);

    // A shell loop in the container for 3 s (an exec joins the container's cgroup), measured inside it.
    execFileSync("docker", ["exec", "-d", task.id, "/bin/busybox", "timeout", "3", "sh", "-c", BUSY_LOOP]);
    const loopPid = await processRunning(first.location.directory, BUSY_LOOP);
    // However much of a core the loop gets on a busy machine, the counter holds all the CPU time the
    // kernel charged the loop itself (its schedstat) between two readings taken around the loop's.
    const start = await usageOf(reader, task.id);
    if (start.state !== "measured") throw new Error(start.reason);
    const loopFrom = await runtimeNs(loopPid);
    const startedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const loopTo = await runtimeNs(loopPid);
    const busy = await usageOf(reader, task.id);
    if (busy.state !== "measured") throw new Error(busy.reason);
    const endedAt = Date.now();
    const busyPercent = cpuPercent(
      { usageNs: start.usageNs, at: startedAt },
      { usageNs: busy.usageNs, at: endedAt },
    );
    const loopPercent = cpuPercent({ usageNs: loopFrom, at: startedAt }, { usageNs: loopTo, at: endedAt });
    // The Engine's own figure for the container lies between two of our readings: the same counter.
    const stats = await world.docker.getContainer(task.id).stats({ stream: false });
    const after = await usageOf(reader, task.id);
    if (after.state !== "measured") throw new Error(after.reason);
    const engineNs = stats.cpu_stats.cpu_usage.total_usage;
    console.info(
      `cgroup v${version}: ${first.location.directory}; idle ${idlePercent?.toFixed(2)}% of a core, busy loop ${busyPercent?.toFixed(1)}% (the loop itself ${loopPercent?.toFixed(1)}%), Engine ${engineNs} ns within [${busy.usageNs}, ${after.usageNs}]`,
    );
    expect(engineNs).toBeGreaterThanOrEqual(busy.usageNs);
    expect(engineNs).toBeLessThanOrEqual(after.usageNs);
    expect(idlePercent).toBeLessThan(1);
    expect(loopTo).toBeGreaterThan(loopFrom);
    // v2 counts microseconds: up to 1 µs lost at each end.
    expect(busy.usageNs - start.usageNs).toBeGreaterThanOrEqual(loopTo - loopFrom - 2_000);
    expect(busyPercent).toBeGreaterThanOrEqual((loopPercent ?? Number.POSITIVE_INFINITY) * 0.999);
  }, 60_000);
});

const BUSY_LOOP = "while :; do :; done";

/** The host PID of the process in the cgroup whose command line holds `command`, once it runs. */
async function processRunning(cgroupDirectory: string, command: string): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const pids = (await readFile(join(cgroupDirectory, "cgroup.procs"), "utf8")).split("\n").filter(Boolean);
    for (const pid of pids) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline.split("\0").includes(command)) return Number(pid);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no process running ${command} in ${cgroupDirectory}`);
}

/** The CPU time the kernel charged a process, in nanoseconds (the first field of its schedstat). */
async function runtimeNs(pid: number): Promise<number> {
  return Number((await readFile(`/proc/${pid}/schedstat`, "utf8")).split(" ")[0]);
}

/** As the Docker adapter reads: the cgroup located (once), then read. */
async function usageOf(reader: CgroupCpuReader, containerId: string) {
  await reader.locate([containerId]);
  return reader.usage(containerId);
}

import { fileURLToPath } from "node:url";
import { parseDuration } from "../../src/duration.js";
import { dockerCli, dockerCliOutput } from "./docker-cli.js";
import { blocks, type HclBody, onlyBlock, onlyLabeledBlock, parseHclFile } from "./hcl.js";

const JOB_SPEC = fileURLToPath(new URL("../../nomad/idle-monitor.nomad.hcl", import.meta.url));

/** How Nomad's docker driver would start the monitor's container, read from the job spec. */
export interface JobSpecContainer {
  /** `docker run` flags for the task's mounts, capabilities and read-only root filesystem. */
  readonly runFlags: readonly string[];
  /** The job spec's env values that need no Nomad interpolation (e.g. PROC_ROOT). */
  readonly literalEnv: Readonly<Record<string, string>>;
  /** kill_timeout in whole seconds: Nomad stops docker tasks with `docker stop` and this timeout. */
  readonly stopTimeoutSeconds: number;
}

export async function jobSpecContainer(): Promise<JobSpecContainer> {
  const [, job] = onlyLabeledBlock(await parseHclFile(JOB_SPEC), "job");
  const [, group] = onlyLabeledBlock(job, "group");
  const [, task] = onlyLabeledBlock(group, "task");
  const config = onlyBlock(task, "config");
  const runFlags = [
    ...blocks(config, "mount").map(mountFlag),
    ...stringList(config.cap_drop).map((capability) => `--cap-drop=${capability}`),
    ...(config.readonly_rootfs === true ? ["--read-only"] : []),
  ];
  const literalEnv = Object.fromEntries(
    Object.entries(onlyBlock(task, "env"))
      .map(([name, value]) => [name, String(value)] as const)
      .filter(([, value]) => !value.includes("${")),
  );
  const killTimeoutMs = parseDuration(String(task.kill_timeout));
  if (killTimeoutMs === undefined)
    throw new Error(`kill_timeout ${String(task.kill_timeout)} is not a duration`);
  return { runFlags, literalEnv, stopTimeoutSeconds: Math.ceil(killTimeoutMs / 1000) };
}

function mountFlag(mount: HclBody): string {
  const options = [
    `type=${String(mount.type)}`,
    `source=${String(mount.source)}`,
    `target=${String(mount.target)}`,
  ];
  if (mount.readonly === true) options.push("readonly");
  return `--mount=${options.join(",")}`;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

export interface MonitorContainer {
  readonly id: string;
  /** What the container wrote so far: its stdout, then its stderr. */
  logs(): Promise<string>;
  /** `docker stop` with the job spec's kill_timeout, then the container's exit code. */
  stop(): Promise<number>;
  remove(): Promise<void>;
}

/**
 * Starts the monitor image as the job spec runs it (same mounts, capabilities, read-only root and
 * env literals), on the host network so it reaches a Nomad simulator on loopback. `env` is merged
 * over the job spec's literals (e.g. NOMAD_ADDR pointing at the simulator instead of the task socket).
 */
export async function startMonitorContainer(
  image: string,
  env: Readonly<Record<string, string>>,
  extraArgs: readonly string[] = [],
): Promise<MonitorContainer> {
  const spec = await jobSpecContainer();
  const envFlags = Object.entries({ ...spec.literalEnv, ...env }).map(
    ([name, value]) => `--env=${name}=${value}`,
  );
  const id = (
    await dockerCli([
      "run",
      "--detach",
      "--label=nomad-idle-monitor.test=1",
      "--network=host",
      ...spec.runFlags,
      ...envFlags,
      ...extraArgs,
      image,
    ])
  ).trim();
  return {
    id,
    async logs() {
      const { stdout, stderr } = await dockerCliOutput(["logs", id]);
      return stdout + stderr;
    },
    async stop() {
      await dockerCli(["stop", `--time=${spec.stopTimeoutSeconds}`, id]);
      return Number((await dockerCli(["inspect", "--format", "{{.State.ExitCode}}", id])).trim());
    },
    async remove() {
      await dockerCli(["rm", "--force", id]);
    },
  };
}

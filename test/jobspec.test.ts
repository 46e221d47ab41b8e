import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/duration.js";
import {
  blocks,
  type HclBody,
  labeledBlocks,
  onlyBlock,
  onlyLabeledBlock,
  parseHcl,
  parseHclFile,
  undocumentedKeys,
} from "./deploy/hcl.js";
import { aclPolicyFile, jobFile } from "./deploy/jobspec-schema.js";

const JOB_SPEC = "nomad/idle-monitor.nomad.hcl";
const POLICY = "nomad/idle-monitor-policy.hcl";
const CLIENT_CONFIG = "nomad/client-docker-volumes.hcl";
const EXAMPLES = {
  devEnvironment: "nomad/examples/dev-environment.nomad.hcl",
  scaleToZero: "nomad/examples/scale-to-zero.nomad.hcl",
  bridgeNetwork: "nomad/examples/bridge-network.nomad.hcl",
} as const;
const JOB_FILES = [JOB_SPEC, ...Object.values(EXAMPLES)];

/** How hcl2json renders an expression that is not a literal: `var.image` → "${var.image}". */
const expression = (text: string) => ["${", text, "}"].join("");

/** The monitor's shutdown budget on SIGTERM (the brief for main.ts). */
const MONITOR_SHUTDOWN_MS = 5_000;

function stringMap(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

async function monitorTask(): Promise<{
  job: HclBody;
  jobId: string;
  group: HclBody;
  task: HclBody;
  file: HclBody;
}> {
  const file = await parseHclFile(JOB_SPEC);
  const [jobId, job] = onlyLabeledBlock(file, "job");
  const [, group] = onlyLabeledBlock(job, "group");
  const [, task] = onlyLabeledBlock(group, "task");
  return { file, job, jobId, group, task };
}

describe("the HCL2 parser the checks rely on", () => {
  it.each([
    ["an unclosed block", 'job "x" {\n  type = "system"\n'],
    ["an attribute without a value", 'job "x" {\n  type =\n}\n'],
    [
      "dotted keys in the block form of meta",
      'job "x" {\n  meta {\n    "idle-monitor.enabled" = "true"\n  }\n}\n',
    ],
    ["an attribute set twice", 'job "x" {\n  type = "system"\n  type = "batch"\n}\n'],
  ])("rejects %s", async (_name, text) => {
    await expect(parseHcl("broken.nomad.hcl", text)).rejects.toThrow(/broken\.nomad\.hcl/);
  });
});

describe("job files use only documented job-spec keys", () => {
  it.each(JOB_FILES)("%s", async (path) => {
    expect(undocumentedKeys(await parseHclFile(path), jobFile)).toEqual([]);
  });

  // A generic parser accepts these; the allow-list must not.
  it.each([
    { typo: "kill_timout", from: 'kill_timeout = "15s"', to: 'kill_timout = "15s"', path: "kill_timout" },
    {
      typo: "read_only in a docker mount",
      from: "readonly = true",
      to: "read_only = true",
      path: "mount.read_only",
    },
    { typo: "max_paralel", from: "max_parallel = 1", to: "max_paralel = 1", path: "update.max_paralel" },
    { typo: "identities", from: "identity {", to: "identities {", path: "task.monitor.identities" },
    {
      typo: "read_only_rootfs",
      from: "readonly_rootfs",
      to: "read_only_rootfs",
      path: "config.read_only_rootfs",
    },
  ])("reports $typo", async ({ from, to, path }) => {
    const text = await readFile(JOB_SPEC, "utf8");
    const withTypo = text.replace(from, to);
    expect(withTypo).not.toBe(text);
    const reported = undocumentedKeys(await parseHcl(JOB_SPEC, withTypo), jobFile);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(new RegExp(`\\.${path.replaceAll(".", "\\.")}$`));
  });
});

describe("the monitor's job spec", () => {
  it("is a system job with the ID that its token Variable path is derived from", async () => {
    const { job, jobId, task } = await monitorTask();
    expect(job.type).toBe("system");
    // The workload identity may read nomad/jobs/<job ID>; the Variable path follows the ID.
    expect(jobId).toBe("idle-monitor");
    expect(onlyBlock(task, "env").TOKEN_VARIABLE).toBe(`nomad/jobs/${expression("NOMAD_JOB_ID")}`);
  });

  it("takes the image, datacenters, node pool and namespace from HCL2 variables", async () => {
    const { file, job, task } = await monitorTask();
    const variables = labeledBlocks(file, "variable");
    // No default: `nomad job run -var image=…` is required.
    expect(variables.get("image")).toEqual(expect.not.objectContaining({ default: expect.anything() }));
    expect(onlyBlock(task, "config").image).toBe(expression("var.image"));
    expect(job.datacenters).toBe(expression("var.datacenters"));
    expect(job.node_pool).toBe(expression("var.node_pool"));
    expect(job.namespace).toBe(expression("var.namespace"));
    for (const name of ["datacenters", "node_pool", "namespace"]) expect(variables.has(name)).toBe(true);
  });

  it("mounts the Docker socket and the host's /proc read-only, and nothing else", async () => {
    const { task } = await monitorTask();
    const config = onlyBlock(task, "config");
    expect(task.driver).toBe("docker");
    expect(config.volumes).toBeUndefined();
    expect(config.mounts).toBeUndefined();
    expect(blocks(config, "mount")).toEqual([
      { type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock", readonly: true },
      { type: "bind", source: "/proc", target: "/host/proc", readonly: true },
    ]);
    expect(onlyBlock(task, "env").PROC_ROOT).toBe("/host/proc");
  });

  it("exposes the workload identity and reaches Nomad through the task API socket", async () => {
    const { file, task } = await monitorTask();
    expect(onlyBlock(task, "identity").env).toBe(true);
    const env = onlyBlock(task, "env");
    expect(env.NOMAD_NODE_ID).toBe(expression("node.unique.id"));
    expect(env.NOMAD_ADDR).toBe(expression("var.nomad_addr"));
    expect(labeledBlocks(file, "variable").get("nomad_addr")?.default).toBe("unix:///secrets/api.sock");
  });

  it("gives the monitor time to shut down before it is killed", async () => {
    const { task } = await monitorTask();
    expect(parseDuration(String(task.kill_timeout))).toBeGreaterThan(MONITOR_SHUTDOWN_MS);
  });

  it("asks for small resources, restarts in place, rotates logs and rolls out node by node", async () => {
    const { job, group, task } = await monitorTask();
    const resources = onlyBlock(task, "resources");
    expect(resources.cpu).toEqual(expect.any(Number));
    expect(resources.cpu as number).toBeLessThanOrEqual(200);
    expect(resources.memory as number).toBeLessThanOrEqual(256);
    expect(onlyBlock(group, "restart").mode).toBe("delay");
    const logs = onlyBlock(task, "logs");
    expect(logs.max_files).toEqual(expect.any(Number));
    expect(logs.max_file_size).toEqual(expect.any(Number));
    expect(onlyBlock(job, "update").max_parallel).toBe(1);
  });

  it("never opts itself in", async () => {
    const { job, group, task } = await monitorTask();
    for (const body of [job, group, task]) {
      const meta = stringMap(body.meta ?? blocks(body, "meta")[0]);
      expect(Object.keys(meta).filter((key) => key.startsWith("idle-monitor."))).toEqual([]);
    }
  });
});

describe("the action token's ACL policy", () => {
  it("grants read-job and submit-job in namespaces and node read, nothing more", async () => {
    const policy = await parseHclFile(POLICY);
    expect(undocumentedKeys(policy, aclPolicyFile)).toEqual([]);
    expect(Object.keys(policy).sort()).toEqual(["namespace", "node"]);
    const namespaces = labeledBlocks(policy, "namespace");
    expect([...namespaces.keys()]).toEqual(["*"]);
    expect(namespaces.get("*")).toEqual({ capabilities: ["read-job", "submit-job"] });
    expect(onlyBlock(policy, "node")).toEqual({ policy: "read" });
  });
});

describe("the examples", () => {
  const VALID_META: Record<string, (value: string) => boolean> = {
    "idle-monitor.enabled": (value) => value === "true" || value === "false",
    "idle-monitor.timeout": (value) => (parseDuration(value) ?? 0) > 0,
    "idle-monitor.threshold": (value) => /^\d+$/.test(value),
    "idle-monitor.action": (value) => value === "stop" || value === "scale-to-zero",
  };

  /** Meta written in the map form (`meta = { … }`), by where it sits: "job" or "group <name>". */
  async function exampleMeta(path: string): Promise<Map<string, Record<string, unknown>>> {
    const [, job] = onlyLabeledBlock(await parseHclFile(path), "job");
    const found = new Map<string, Record<string, unknown>>();
    const mapForm = (body: HclBody) => (Array.isArray(body.meta) ? undefined : stringMap(body.meta));
    const jobMeta = mapForm(job);
    if (jobMeta && Object.keys(jobMeta).length > 0) found.set("job", jobMeta);
    for (const [name, group] of labeledBlocks(job, "group")) {
      const groupMeta = mapForm(group);
      if (groupMeta && Object.keys(groupMeta).length > 0) found.set(`group ${name}`, groupMeta);
    }
    return found;
  }

  it.each(Object.values(EXAMPLES))("%s opts in with the map form of meta and valid values", async (path) => {
    const meta = await exampleMeta(path);
    const optedIn = [...meta.values()].some((values) => values["idle-monitor.enabled"] === "true");
    expect(optedIn).toBe(true);
    for (const values of meta.values()) {
      for (const [key, value] of Object.entries(values)) {
        expect(VALID_META[key]?.(String(value)), `${key} = ${String(value)}`).toBe(true);
      }
    }
  });

  it("stops a dev environment after 30 minutes idle", async () => {
    expect(await exampleMeta(EXAMPLES.devEnvironment)).toEqual(
      new Map([["job", { "idle-monitor.enabled": "true", "idle-monitor.timeout": "30m" }]]),
    );
  });

  it("scales only the opted-in group to zero, and its scaling bounds allow zero", async () => {
    const meta = await exampleMeta(EXAMPLES.scaleToZero);
    expect([...meta.keys()]).toEqual(["group web"]);
    expect(meta.get("group web")?.["idle-monitor.action"]).toBe("scale-to-zero");
    const [, job] = onlyLabeledBlock(await parseHclFile(EXAMPLES.scaleToZero), "job");
    const web = labeledBlocks(job, "group").get("web") as HclBody;
    expect(onlyBlock(web, "scaling").min).toBe(0);
  });

  it("runs a bridge-mode group", async () => {
    const [, job] = onlyLabeledBlock(await parseHclFile(EXAMPLES.bridgeNetwork), "job");
    const [, group] = onlyLabeledBlock(job, "group");
    expect(onlyBlock(group, "network").mode).toBe("bridge");
  });
});

describe("the client configuration", () => {
  it("lets docker tasks bind host paths", async () => {
    const config = await parseHclFile(CLIENT_CONFIG);
    const docker = labeledBlocks(config, "plugin").get("docker") as HclBody;
    expect(onlyBlock(onlyBlock(docker, "config"), "volumes")).toEqual({ enabled: true });
  });
});

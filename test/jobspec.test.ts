import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/duration.js";
import { groupPolicy } from "../src/policy.js";
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
import { evaluateHcl, type HclValue } from "./deploy/hcl-condition.js";
import { aclPolicyFile, jobFile } from "./deploy/jobspec-schema.js";

const JOB_SPEC = "nomad/idle-monitor.nomad.hcl";
const POLICY = "nomad/idle-monitor-policy.hcl";
const CLIENT_CONFIG = "nomad/client-docker-volumes.hcl";
const EXAMPLES = {
  devEnvironment: "nomad/examples/dev-environment.nomad.hcl",
  scaleToZero: "nomad/examples/scale-to-zero.nomad.hcl",
  bridgeNetwork: "nomad/examples/bridge-network.nomad.hcl",
  workingHours: "nomad/examples/working-hours.nomad.hcl",
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
    { typo: "provder", from: 'provider = "nomad"', to: 'provder = "nomad"', path: "service.provder" },
    {
      typo: "check_restarts",
      from: 'type     = "http"',
      to: "check_restarts = {}",
      path: "check.check_restarts",
    },
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

  it("mounts the Docker socket, the host's /proc and /sys/fs/cgroup read-only, and nothing else", async () => {
    const { task } = await monitorTask();
    const config = onlyBlock(task, "config");
    expect(task.driver).toBe("docker");
    expect(config.volumes).toBeUndefined();
    expect(config.mounts).toBeUndefined();
    expect(blocks(config, "mount")).toEqual([
      { type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock", readonly: true },
      { type: "bind", source: "/proc", target: "/host/proc", readonly: true },
      { type: "bind", source: "/sys/fs/cgroup", target: "/host/sys/fs/cgroup", readonly: true },
    ]);
    expect(onlyBlock(task, "env").PROC_ROOT).toBe("/host/proc");
    expect(onlyBlock(task, "env").CGROUP_ROOT).toBe("/host/sys/fs/cgroup");
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

describe("the monitor's HTTP listener in the job spec", () => {
  it("maps a dynamic port of the node to the port the monitor listens on in its container", async () => {
    const { file, group, task } = await monitorTask();
    const network = onlyBlock(group, "network");
    const ports = labeledBlocks(network, "port");
    expect([...ports.keys()]).toEqual(["http"]);
    // No static port: one monitor per node, but the node's ports belong to the workloads.
    expect(ports.get("http")).toEqual({ to: expression("var.http_port") });
    expect(onlyBlock(task, "config").ports).toEqual(["http"]);
    // On every interface of the container (127.0.0.1, the monitor's default, is unreachable from outside
    // it), on the very port the network block maps.
    expect(onlyBlock(task, "env").HTTP_LISTEN).toBe(`0.0.0.0:${expression("var.http_port")}`);
    expect(labeledBlocks(file, "variable").get("http_port")?.default).toBe(9464);
  });

  it("registers a Nomad service with the Prometheus tag and a /readyz check that never restarts", async () => {
    const { group, task } = await monitorTask();
    const service = onlyBlock(group, "service");
    expect(service).toMatchObject({ provider: "nomad", port: "http", tags: ["metrics"] });
    expect(blocks(task, "service")).toEqual([]);
    // Nomad 1.6 service checks refuse address_mode "driver" (nomad/structs/services.go validateNomad).
    expect(service.address_mode).toBeUndefined();
    const check = onlyBlock(service, "check");
    expect(check).toMatchObject({ type: "http", path: "/readyz" });
    expect(check.address_mode).toBeUndefined();
    // nomad/structs/services.go validateCommon: interval and timeout are required, at least 1s.
    expect(parseDuration(String(check.interval))).toBeGreaterThanOrEqual(1_000);
    expect(parseDuration(String(check.timeout))).toBeGreaterThanOrEqual(1_000);
    expect(parseDuration(String(check.timeout))).toBeLessThan(parseDuration(String(check.interval)) ?? 0);
    // A Docker outage fails /readyz; restarting the monitor would not fix it.
    expect(check.check_restart).toBeUndefined();
    expect(service.check_restart).toBeUndefined();
  });
});

describe("the deploy documentation", () => {
  it("keeps the instances with the tag the service carries (README), and lists every job variable (docs/configuration.md)", async () => {
    const readme = await readFile("README.md", "utf8");
    const configuration = await readFile("docs/configuration.md", "utf8");
    const { file, group } = await monitorTask();
    const service = onlyBlock(group, "service");
    const [tag] = service.tags as string[];
    expect(readme).toContain(`regex: .*,${tag},.*`);
    expect(readme).toContain(`regex: ${String(service.name)}\n`);
    for (const name of labeledBlocks(file, "variable").keys()) {
      expect(configuration).toContain(`| \`${name}\` |`);
    }
  });
});

describe("the job variables for the monitor's settings", () => {
  /** Variable → the environment variable it sets, with values Nomad must accept and refuse. */
  const SETTINGS: Record<string, { env: string; fallback: HclValue; good: HclValue[]; bad: HclValue[] }> = {
    check_interval: {
      env: "CHECK_INTERVAL",
      fallback: "60s",
      good: ["60s", "30s", "1m30s", "1.5h", "500ms", "90"],
      bad: ["soon", "", "-5s", "5 s", "10x", "1d"],
    },
    idle_timeout: {
      env: "IDLE_TIMEOUT",
      fallback: "15m",
      good: ["15m", "2h", "1h30m", "3600"],
      bad: ["later", "", "15 m", "m15"],
    },
    activity_threshold: {
      env: "ACTIVITY_THRESHOLD",
      fallback: 500,
      good: [500, 0, 1_000_000],
      bad: [-1, 1.5],
    },
    namespaces: {
      env: "NAMESPACES",
      fallback: "*",
      good: ["*", "dev", "dev,preview", "dev, preview"],
      bad: ["", "dev;x", "*,dev", "dev,", "dev preview"],
    },
    log_level: {
      env: "LOG_LEVEL",
      fallback: "info",
      good: ["trace", "debug", "info", "warn", "error", "fatal", "silent"],
      bad: ["verbose", "", "INFO"],
    },
    http_port: { env: "HTTP_LISTEN", fallback: 9464, good: [9464, 1, 65_535], bad: [0, 65_536, 80.5] },
    webhook_url: {
      env: "WEBHOOK_URL",
      fallback: "",
      good: [
        "",
        "https://hooks.example.com/nomad",
        "http://10.0.0.5:8080",
        "https://hooks.slack.com/services/T0/B0/x?y=1",
      ],
      bad: ["hooks.example.com/nomad", "ftp://hooks.example.com", "https://", "https://hooks example.com/"],
    },
    webhook_allowed_hosts: {
      env: "WEBHOOK_ALLOWED_HOSTS",
      fallback: "",
      good: ["", "hooks.example.com", "hooks.example.com,10.0.0.5:8080", "a.example.com, [::1]:8080"],
      bad: ["https://hooks.example.com", "hooks.example.com/x", "a b", "a,", ","],
    },
    webhook_format: {
      env: "WEBHOOK_FORMAT",
      fallback: "json",
      good: ["json", "slack"],
      bad: ["", "JSON", "xml"],
    },
  };

  async function variable(name: string): Promise<HclBody> {
    const found = labeledBlocks(await parseHclFile(JOB_SPEC), "variable").get(name);
    if (!found) throw new Error(`no variable "${name}"`);
    return found;
  }

  function accepts(name: string, body: HclBody, value: HclValue): boolean {
    return blocks(body, "validation").every((validation) => {
      const result = evaluateHcl(String(validation.condition), { [name]: value });
      if (typeof result !== "boolean") throw new Error(`the ${name} condition gave ${String(result)}`);
      return result;
    });
  }

  it.each(Object.entries(SETTINGS).map(([name, setting]) => ({ name, ...setting })))(
    "$name has the monitor's default and sets $env",
    async ({ name, env, fallback }) => {
      const { task } = await monitorTask();
      expect((await variable(name)).default).toBe(fallback);
      expect(String(onlyBlock(task, "env")[env])).toContain(expression(`var.${name}`));
    },
  );

  it("keeps dry_run, image, datacenters, node_pool, namespace and nomad_addr", async () => {
    const variables = labeledBlocks(await parseHclFile(JOB_SPEC), "variable");
    for (const name of ["dry_run", "image", "datacenters", "node_pool", "namespace", "nomad_addr"]) {
      expect(variables.has(name), name).toBe(true);
    }
    expect(variables.get("dry_run")?.default).toBe(false);
  });

  it("describes every variable", async () => {
    for (const [name, body] of labeledBlocks(await parseHclFile(JOB_SPEC), "variable")) {
      expect(typeof body.description === "string" && body.description.length > 10, name).toBe(true);
    }
  });

  it.each(Object.keys(SETTINGS))(
    "%s has a validation whose message is a sentence naming it",
    async (name) => {
      const validations = blocks(await variable(name), "validation");
      expect(validations.length).toBeGreaterThan(0);
      for (const { condition, error_message } of validations) {
        // jobspec2 refuses a condition that does not refer to the variable (decodeVariableValidationBlock)…
        expect(String(condition)).toContain(`var.${name}`);
        // …and a message that is not a sentence: a capital letter first, a period (or ? or !) last.
        expect(String(error_message)).toMatch(/^[^a-z].*[.?!]$/s);
        expect(String(error_message)).toContain(name);
      }
    },
  );

  it.each(Object.entries(SETTINGS))(
    "%s accepts good values and refuses bad ones",
    async (name, { good, bad }) => {
      const body = await variable(name);
      expect(accepts(name, body, body.default as HclValue), `default ${String(body.default)}`).toBe(true);
      for (const value of good)
        expect(accepts(name, body, value), `good ${JSON.stringify(value)}`).toBe(true);
      for (const value of bad) expect(accepts(name, body, value), `bad ${JSON.stringify(value)}`).toBe(false);
    },
  );

  it("takes as good durations only ones the monitor parses", async () => {
    const body = await variable("check_interval");
    for (const value of SETTINGS.check_interval?.good ?? []) {
      const text = String(value);
      expect(parseDuration(/^\d+$/.test(text) ? `${text}s` : text), text).toBeDefined();
    }
    expect(accepts("check_interval", body, "1h30m15s")).toBe(true);
  });
});

describe("the HCL condition evaluator the variable checks rely on", () => {
  it("evaluates what the conditions use and refuses what it does not know", () => {
    const digits = expression('regex_replace(var.x, "^[0-9]+$", "") == ""');
    expect(evaluateHcl(digits, { x: "42" })).toBe(true);
    expect(evaluateHcl(digits, { x: "4a" })).toBe(false);
    expect(
      evaluateHcl(expression('var.x == "*" || (var.x != "" && contains(["a", "b"], var.x))'), { x: "b" }),
    ).toBe(true);
    expect(evaluateHcl(expression("var.n >= 1 && var.n <= 3 && floor(var.n) == var.n"), { n: 2.5 })).toBe(
      false,
    );
    // Not in the subset (or not in Nomad 1.6.5 at all, like regex()): refused, never guessed.
    expect(() => evaluateHcl(expression("var.n + 1 == 2"), { n: 1 })).toThrow();
    expect(() => evaluateHcl(expression('can(regex("^a$", var.x))'), { x: "a" })).toThrow();
    expect(() => evaluateHcl(expression("var.y == 1"), { x: "a" })).toThrow(/var\.y/);
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

  /** The keys with forms of their own (schedules, signals): valid when the monitor's policy takes them. */
  function validForTheMonitor(key: string): (value: string) => boolean {
    const defaults = { timeoutMs: 60_000, thresholdBytes: 500, checkIntervalMs: 60_000, timezone: "UTC" };
    return (value) =>
      groupPolicy(
        { Meta: { "idle-monitor.enabled": "true", [key]: value }, TaskGroups: [{ Name: "g" }] },
        "g",
        defaults,
      ).kind === "opted-in";
  }

  it("keeps a team's environment on a calendar, in its own zone", async () => {
    const meta = (await exampleMeta(EXAMPLES.workingHours)).get("job");
    expect(meta).toMatchObject({
      "idle-monitor.keep-alive": "* 8-18 * * 1-5",
      "idle-monitor.stop-at": "0 20 * * 1-5",
      "idle-monitor.timezone": "Europe/Berlin",
    });
    expect(validForTheMonitor("idle-monitor.stop-at")("0 20 * * 1-5, 0 21 * * 6")).toBe(false);
  });

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
        const valid = VALID_META[key] ?? validForTheMonitor(key);
        expect(valid(String(value)), `${key} = ${String(value)}`).toBe(true);
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

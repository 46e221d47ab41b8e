import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it, onTestFailed, onTestFinished } from "vitest";
import { parse } from "yaml";
import { monitorJob } from "./deploy/monitor-job.js";
import { explainOnFailure, jobStopped, scenario, serviceJob, waitFor } from "./monitor/harness.js";
import { NOMAD_SD_QUERY, type PrometheusServer, startPrometheus } from "./prometheus/server.js";
import { allocatedPorts } from "./sim/dynamic-ports.js";
import type { NomadAllocation, SimJob } from "./sim/index.js";
import { openWorldForTests } from "./world/world.js";

// A real Prometheus (scripts/install-prometheus.sh) finds the monitors the way the README tells an
// operator to: its scrape configuration, read from the README itself, with nomad_sd_configs pointed at
// the simulator's service catalog, where the monitor's job (nomad/idle-monitor.nomad.hcl, registered as
// the job spec declares it) has one instance per node.

const README = new URL("../README.md", import.meta.url);
const SECTION = "### 6. Health in the Nomad UI, metrics in Prometheus and Grafana";
const SCRAPE_JOB = "nomad-idle-monitor";

const prometheus = inject("prometheus");
if ("unavailable" in prometheus)
  console.warn(`Skipping the Prometheus scrape test: ${prometheus.unavailable}`);
const world = await openWorldForTests();

/** The first `yaml` block of the README's section: the scrape configuration an operator copies. */
async function readmeScrapeConfig(): Promise<Record<string, unknown>> {
  const lines = (await readFile(README, "utf8")).split("\n");
  const start = lines.indexOf(SECTION);
  if (start === -1) throw new Error(`README.md has no section "${SECTION}"`);
  let inFence = false;
  const yaml: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!inFence && /^#{1,3} /.test(line)) break;
    if (line.startsWith("```")) {
      if (inFence && yaml.length > 0) return parse(yaml.join("\n"));
      inFence = !inFence;
      if (line === "```yaml") yaml.push("");
      continue;
    }
    if (inFence && yaml.length > 0) yaml.push(line);
  }
  throw new Error(`README.md section "${SECTION}" has no yaml block`);
}

interface ScrapeJob {
  job_name: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  nomad_sd_configs: Array<{
    server: string;
    namespace: string;
    refresh_interval?: string;
    authorization: { credentials_file: string };
  }>;
}

/**
 * The README's configuration as written, but for where Nomad and the token file are here and shorter
 * intervals (a scrape and a refresh every second, so the test takes seconds, not minutes).
 */
function adapted(config: Record<string, unknown>, nomad: string, tokenFile: string): Record<string, unknown> {
  const jobs = config.scrape_configs as ScrapeJob[];
  expect(jobs.map((job) => job.job_name)).toEqual([SCRAPE_JOB]);
  const [job] = jobs as [ScrapeJob];
  expect(job.nomad_sd_configs).toHaveLength(1);
  const [sd] = job.nomad_sd_configs as [ScrapeJob["nomad_sd_configs"][number]];
  expect(Object.keys(sd).sort()).toEqual(["authorization", "namespace", "server"]);
  return {
    ...config,
    scrape_configs: [
      {
        ...job,
        scrape_interval: "1s",
        scrape_timeout: "1s",
        nomad_sd_configs: [
          { ...sd, server: nomad, refresh_interval: "1s", authorization: { credentials_file: tokenFile } },
        ],
      },
    ],
  };
}

function httpPort(alloc: NomadAllocation): number {
  const port = allocatedPorts(alloc).find((one) => one.Label === "http");
  if (!port) throw new Error(`allocation ${alloc.ID} has no port http`);
  return port.Value;
}

/** A job on the node without containers with a `nomad` service of its own, which the relabelling must drop. */
function serviceOnly(id: string, service: { name: string; tags: string[] }): SimJob {
  return {
    ID: id,
    TaskGroups: [
      {
        Name: "web",
        Networks: [{ Mode: "host", DynamicPorts: [{ Label: "http" }] }],
        Services: [{ Name: service.name, Provider: "nomad", PortLabel: "http", Tags: service.tags }],
        Tasks: [{ Name: "server", Driver: "docker" }],
      },
    ],
  };
}

describe.skipIf(!world || "unavailable" in prometheus)(
  "a real Prometheus with the README's scrape configuration",
  () => {
    afterAll(() => world?.close());

    it("discovers each node's monitor in Nomad's catalog, scrapes it, and answers the operator's queries", {
      timeout: 180_000,
    }, async () => {
      const current = await scenario(world!);
      explainOnFailure(current);
      const { sim, localNode, otherNode } = current;

      // The monitor's job as its job spec declares it: a system job, one allocation per node, each with
      // its dynamic port and its registration in the catalog. On a node Nomad maps that port to
      // http_port inside the container; here the monitor process listens on the node's port itself.
      await sim.registerJob(await monitorJob());
      const monitors = sim.allocations({ jobId: "idle-monitor" });
      expect(monitors.map((alloc) => alloc.NodeID).sort()).toEqual([localNode, otherNode].sort());
      for (const alloc of monitors)
        current.startMonitor(
          { HTTP_LISTEN: `127.0.0.1:${httpPort(alloc)}`, IDLE_TIMEOUT: "15s" },
          { node: alloc.NodeID },
        );
      const instanceOf = (node: string) =>
        `127.0.0.1:${httpPort(monitors.find((alloc) => alloc.NodeID === node) as NomadAllocation)}`;
      // Services the relabelling must drop: another service tagged metrics, the monitor's name untagged.
      await sim.registerJob(serviceOnly("web-shop", { name: "web-shop", tags: ["metrics"] }), {
        nodes: { web: [otherNode] },
      });
      await sim.registerJob(serviceOnly("monitor-canary", { name: "idle-monitor", tags: ["canary"] }), {
        nodes: { web: [otherNode] },
      });

      // The README's token for discovery: read-job in the monitor's namespace.
      const dir = await mkdtemp(join(tmpdir(), "nomad-idle-monitor-sd-"));
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      const tokenFile = join(dir, "nomad-sd-token");
      await writeFile(tokenFile, sim.createToken({ namespaces: { default: ["read-job"] } }));
      const config = adapted(await readmeScrapeConfig(), sim.address, tokenFile);
      if (!("path" in prometheus)) throw new Error("unreachable: skipped without Prometheus");
      const server: PrometheusServer = await startPrometheus(prometheus.path, config);
      onTestFinished(() => server.stop());
      onTestFailed(() => console.log(`Prometheus' log:\n${server.log()}`));

      const targets = await waitFor(
        "both monitors discovered and up",
        async () => {
          const found = await server.targets();
          return found.activeTargets.filter((target) => target.health === "up").length === 2 && found;
        },
        60_000,
      );
      const byNode = (a: { node_id?: string }, b: { node_id?: string }) =>
        (a.node_id ?? "").localeCompare(b.node_id ?? "");
      expect(
        targets.activeTargets
          .map(({ labels, discoveredLabels }) => ({
            job: labels.job,
            instance: labels.instance,
            node_id: labels.node_id,
            service: discoveredLabels.__meta_nomad_service,
            tags: discoveredLabels.__meta_nomad_tags,
          }))
          .sort(byNode),
      ).toEqual(
        [localNode, otherNode]
          .map((node) => ({
            job: SCRAPE_JOB,
            instance: instanceOf(node),
            node_id: node,
            service: "idle-monitor",
            tags: ",metrics,",
          }))
          .sort(byNode),
      );
      expect(
        targets.droppedTargets
          .map(
            ({ discoveredLabels }) =>
              `${discoveredLabels.__meta_nomad_service} ${discoveredLabels.__meta_nomad_tags}`,
          )
          .sort(),
      ).toEqual(["idle-monitor ,canary,", "web-shop ,metrics,"]);

      // A watched job: its time to action, the watched job's name as exported_job.
      await sim.registerJob(serviceJob("idle-app"), { nodes: { web: [localNode] } });
      const [untilAction] = await waitFor(
        "the time to action of idle-app in Prometheus",
        async () => {
          const found = await server.query(
            'nomad_idle_monitor_seconds_until_action{exported_job="idle-app"}',
          );
          return found.length > 0 && found;
        },
        30_000,
      );
      expect(untilAction?.metric).toEqual({
        __name__: "nomad_idle_monitor_seconds_until_action",
        job: SCRAPE_JOB,
        instance: instanceOf(localNode),
        node_id: localNode,
        exported_job: "idle-app",
        namespace: "default",
        group: "web",
      });

      // The stop, counted by the monitor of the job's node and read back from Prometheus.
      await waitFor("idle-app stopped", () => jobStopped(sim, "idle-app"), 60_000);
      const actions = await waitFor(
        "the stop in Prometheus",
        async () => {
          const found = await server.query('nomad_idle_monitor_actions_total{kind="stop"}');
          return found.length > 0 && found;
        },
        30_000,
      );
      expect(actions).toEqual([
        {
          metric: {
            __name__: "nomad_idle_monitor_actions_total",
            job: SCRAPE_JOB,
            instance: instanceOf(localNode),
            node_id: localNode,
            kind: "stop",
            outcome: "done",
          },
          value: [expect.any(Number), "1"],
        },
      ]);

      // What Prometheus asked of Nomad: the catalog's two endpoints, as the contract test asks them.
      const asked = sim.calls.filter((call) => /^\/v1\/services?(\/|$)/.test(call.path));
      expect(new Set(asked.map((call) => `${call.path}?${call.query}`))).toEqual(
        new Set(
          ["/v1/services", "/v1/service/idle-monitor", "/v1/service/web-shop"].map(
            (path) => `${path}?${NOMAD_SD_QUERY}`,
          ),
        ),
      );
      expect(asked.every((call) => call.status === 200)).toBe(true);
    });
  },
);

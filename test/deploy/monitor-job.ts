import { fileURLToPath } from "node:url";
import { parseDuration } from "../../src/duration.js";
import type { SimJob, SimService, SimServiceCheck } from "../sim/index.js";
import { blocks, type HclBody, labeledBlocks, onlyBlock, onlyLabeledBlock, parseHclFile } from "./hcl.js";

const JOB_SPEC = fileURLToPath(new URL("../../nomad/idle-monitor.nomad.hcl", import.meta.url));
const NS_PER_MS = 1_000_000;

/**
 * The monitor's job as `nomad job run nomad/idle-monitor.nomad.hcl` with the variables' defaults would
 * submit it, for the simulator: its type, namespace, group network (the dynamic port and what it maps
 * to), `service` block (name, provider, port, tags, check) and tasks — so that what the simulator
 * registers in its service catalog follows the job spec.
 */
export async function monitorJob(): Promise<SimJob> {
  const file = await parseHclFile(JOB_SPEC);
  const defaults = new Map(
    [...labeledBlocks(file, "variable")].map(([name, body]) => [name, body.default] as const),
  );
  const value = (raw: unknown): unknown => {
    const variable = typeof raw === "string" ? /^\$\{var\.(\w+)\}$/.exec(raw)?.[1] : undefined;
    if (variable === undefined) return raw;
    if (!defaults.has(variable)) throw new Error(`${JOB_SPEC}: var.${variable} has no default`);
    return defaults.get(variable);
  };
  const [jobId, job] = onlyLabeledBlock(file, "job");
  const [groupName, group] = onlyLabeledBlock(job, "group");
  const network = onlyBlock(group, "network");
  return {
    ID: jobId,
    Namespace: String(value(job.namespace)),
    Type: String(value(job.type)) as SimJob["Type"],
    TaskGroups: [
      {
        Name: groupName,
        Networks: [
          {
            Mode: network.mode === undefined ? "host" : (String(value(network.mode)) as "host" | "bridge"),
            DynamicPorts: [...labeledBlocks(network, "port")].map(([label, port]) => ({
              Label: label,
              To: Number(value(port.to)),
            })),
          },
        ],
        Services: blocks(group, "service").map((service) => serviceOf(service, value)),
        Tasks: [...labeledBlocks(group, "task")].map(([name, task]) => ({
          Name: name,
          Driver: String(task.driver),
        })),
      },
    ],
  };
}

function serviceOf(service: HclBody, value: (raw: unknown) => unknown): SimService {
  return {
    Name: String(value(service.name)),
    Provider: String(value(service.provider)) as SimService["Provider"],
    PortLabel: String(value(service.port)),
    Tags: Array.isArray(service.tags) ? service.tags.map((tag) => String(value(tag))) : null,
    Checks: blocks(service, "check").map(
      (check): SimServiceCheck => ({
        Name: String(value(check.name)),
        Type: String(value(check.type)) as SimServiceCheck["Type"],
        Path: String(value(check.path)),
        Interval: nanoseconds(value(check.interval)),
        Timeout: nanoseconds(value(check.timeout)),
      }),
    ),
  };
}

function nanoseconds(duration: unknown): number {
  const ms = parseDuration(String(duration));
  if (ms === undefined) throw new Error(`${JOB_SPEC}: ${String(duration)} is not a duration`);
  return ms * NS_PER_MS;
}

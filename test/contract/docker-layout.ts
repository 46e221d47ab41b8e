import type { NomadVersion } from "../sim/index.js";
import { type DockerInspectRecord, Recordings } from "./recordings.js";

export const ALLOC_ID_LABEL = "com.hashicorp.nomad.alloc_id";
const NOMAD_LABEL = /^com\.hashicorp\.nomad\./;

/**
 * What the world does differently from Nomad on purpose, each with its reason; none of these is
 * part of the layout the contract tests compare.
 * - labels `nomad-idle-monitor.test*`: mark the world's own containers, so crashed runs are cleaned up;
 * - `Config.Image`: one local test image (busybox httpd) for tasks and pause containers alike;
 * - `Config.Env` (`NOMAD_*`), `HostConfig.Binds`/`Mounts`: the monitor reads none of them;
 * - bridge-mode address: a veth the world adds by hand (10.213.x.x/30), not the CNI bridge's
 *   172.26.64.0/20, and the same `eth0` name and no Docker network, as CNI leaves it.
 */
export interface Layout {
  name: string;
  /** The Nomad labels, the alloc ID written `<alloc>`. */
  nomadLabels: Record<string, string>;
  networkMode: string;
  dockerNetworks: string[];
  status: string;
}

export function layoutOf(records: readonly DockerInspectRecord[], allocId: string): Layout[] {
  const pause = records.find((record) => record.Name === `/nomad_init_${allocId}`);
  return records
    .map((record) => ({
      name: record.Name.replace(allocId, "<alloc>"),
      nomadLabels: Object.fromEntries(
        Object.entries(record.Config.Labels)
          .filter(([key]) => NOMAD_LABEL.test(key))
          .map(([key, value]) => [key, value.replace(allocId, "<alloc>")]),
      ),
      networkMode:
        pause && record.HostConfig.NetworkMode === `container:${idOf(pause)}`
          ? "container:<pause>"
          : record.HostConfig.NetworkMode,
      dockerNetworks: Object.keys(record.NetworkSettings.Networks ?? {}).sort(),
      status: record.State.Status,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

// The trimmed recordings have no Id: the pause container's ID is the one in its cgroup paths (1.6.5's
// proc-of-a-task.txt).
const recordedIds = new Map<string, string>();
function idOf(record: DockerInspectRecord & { Id?: string }): string {
  return record.Id ?? recordedIds.get(record.Name) ?? "";
}

export function recordedLayouts(version: NomadVersion): { hostMode: Layout[]; bridgeMode: Layout[] } {
  const recorded = new Recordings(version);
  const records = recorded.dockerInspect();
  const byAlloc = new Map<string, DockerInspectRecord[]>();
  for (const record of records) {
    const allocId = record.Config.Labels[ALLOC_ID_LABEL] ?? "";
    byAlloc.set(allocId, [...(byAlloc.get(allocId) ?? []), record]);
  }
  const bridge = [...byAlloc].find(([, group]) => group.some((r) => r.Name.startsWith("/nomad_init_")));
  const host = [...byAlloc].find(([allocId]) => allocId !== bridge?.[0]);
  if (!bridge || !host) throw new Error("the recording lacks a host or bridge allocation");
  recordedIds.set(`/nomad_init_${bridge[0]}`, pauseIdOf(recorded, bridge[1]));
  return { hostMode: layoutOf(host[1], host[0]), bridgeMode: layoutOf(bridge[1], bridge[0]) };
}

/**
 * 1.6.5 recorded the pause container's cgroup, which names it. 2.0.5 recorded neither its ID nor its
 * cgroup: there the task is taken to join the namespace of its allocation's one pause container, and
 * only the form of its NetworkMode (`container:<64 hex digits>`) is held to the recording.
 */
function pauseIdOf(recorded: Recordings, allocation: readonly DockerInspectRecord[]): string {
  const pauseCgroup = /pause container[^\n]*\n[^\n]*\/docker\/([0-9a-f]{64})/.exec(
    recorded.read("proc-of-a-task.txt"),
  );
  if (pauseCgroup?.[1]) return pauseCgroup[1];
  const joined = allocation
    .map((record) => /^container:([0-9a-f]{64})$/.exec(record.HostConfig.NetworkMode)?.[1])
    .filter((id) => id !== undefined);
  if (recorded.version === "1.6.5" || joined.length !== 1)
    throw new Error(`Nomad ${recorded.version}: the recording does not tell the pause container's ID`);
  return joined[0] ?? "";
}

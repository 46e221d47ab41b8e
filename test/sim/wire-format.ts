import type { EventBatch, NomadAllocation, NomadJob } from "./model.js";
import type { NomadVersion } from "./simulator.js";

// How a Nomad version writes the simulator's objects on the wire. The cluster state keeps Nomad 1.6.5's
// shapes; Nomad 2.0.5 adds fields, leaves some out and omits empty network fields
// (test/fixtures/nomad-2.0.5: job.http, allocation-*.http, job-allocations.http, event-stream.ndjson).
type Json = Record<string, unknown>;

/** Turns what the simulator would send as Nomad 1.6.5 into what the chosen version sends. */
export interface WireFormat {
  job(job: NomadJob): unknown;
  /** A full allocation, already as sent (empty fields left out). */
  allocation(alloc: Partial<NomadAllocation>): unknown;
  /** An allocation of a job's allocation list (`AllocListStub`). */
  allocationStub(stub: Json): unknown;
  batch(batch: EventBatch): unknown;
}

const AS_RECORDED: WireFormat = {
  job: (job) => job,
  allocation: (alloc) => alloc,
  allocationStub: (stub) => stub,
  batch: (batch) => batch,
};

export function wireFormat(version: NomadVersion): WireFormat {
  return version === "1.6.5" ? AS_RECORDED : NOMAD_2_0_5;
}

const NOMAD_2_0_5: WireFormat = {
  job: job205,
  allocation(alloc) {
    const sent: Json = { ...alloc };
    if (alloc.Job) sent.Job = job205(alloc.Job);
    if (alloc.Metrics) sent.Metrics = { ...alloc.Metrics, NodePool: "default" };
    if (alloc.NetworkStatus) sent.NetworkStatus = { ...alloc.NetworkStatus, AddressIPv6: "", DNS: null };
    if (alloc.TaskStates) sent.TaskStates = taskStates205(alloc.TaskStates);
    if (alloc.DesiredTransition)
      sent.DesiredTransition = { ...alloc.DesiredTransition, MigrateDisablePlacement: null };
    const resources = alloc.AllocatedResources as { Shared?: { Networks?: Json[] | null } } | undefined;
    if (resources?.Shared?.Networks) {
      sent.AllocatedResources = {
        ...resources,
        Shared: { ...resources.Shared, Networks: resources.Shared.Networks.map(withoutEmptyFields) },
      };
    }
    return sent;
  },
  allocationStub(stub) {
    return {
      ...stub,
      DesiredTransition: { ...(stub.DesiredTransition as Json), MigrateDisablePlacement: null },
      TaskStates: stub.TaskStates && taskStates205(stub.TaskStates as NomadAllocation["TaskStates"]),
    };
  },
  batch(batch) {
    return {
      ...batch,
      Events: batch.Events.map((event) => ({
        ...event,
        Payload:
          "Job" in event.Payload
            ? { Job: job205(event.Payload.Job) }
            : { Allocation: NOMAD_2_0_5.allocation(event.Payload.Allocation) },
      })),
    };
  },
};

function job205(job: NomadJob): Json {
  const { ConsulToken: _consulToken, VaultToken: _vaultToken, ...kept } = job;
  return {
    ...kept,
    UI: null,
    VersionTag: null,
    TaskGroups: job.TaskGroups.map((group) => ({
      ...group,
      // Nomad 2.0.5 makes bridge-mode groups require the CNI plugins it uses (job-after-stop.http).
      Constraints: group.Networks?.[0]?.Mode === "bridge" ? BRIDGE_CONSTRAINTS : group.Constraints,
      Consul: null,
      Disconnect: null,
      MaxRunDuration: null,
      PreventRescheduleOnLost: false,
      Networks: mapList(group.Networks, (network) => withoutEmptyFields({ ...network })),
      Services: mapList(group.Services, service205),
      Tasks: group.Tasks.map((task) => ({
        ...task,
        Actions: null,
        Consul: null,
        Identities: null,
        // Every task gets the default workload identity (job-with-service-check.http).
        Identity: {
          Audience: ["nomadproject.io"],
          ChangeMode: "",
          ChangeSignal: "",
          Env: false,
          ExtraClaims: null,
          File: false,
          Filepath: "",
          Name: "default",
          ServiceName: "",
          TTL: 0,
        },
        Resources: { ...task.Resources, NUMA: null, SecretsMB: 0 },
        Schedule: null,
        Secrets: null,
        Services: mapList(task.Services, service205),
      })),
    })),
  };
}

const BRIDGE_CONSTRAINTS = ["bridge", "firewall", "host-local", "loopback", "portmap"].map((plugin) => ({
  LTarget: `\${attr.plugins.cni.version.${plugin}}`,
  Operand: "semver",
  RTarget: ">= 0.4.0",
}));

function service205(service: NonNullable<NomadJob["TaskGroups"][number]["Services"]>[number]): Json {
  return {
    ...service,
    Cluster: "default",
    Identity: null,
    Kind: "",
    Weights: null,
    Checks: mapList(service.Checks, (check) => ({ ...check, Notes: "" })),
  };
}

function taskStates205(states: NomadAllocation["TaskStates"]): Json | null {
  if (!states) return states;
  return Object.fromEntries(
    Object.entries(states).map(([task, { TaskHandle: _handle, ...state }]) => [
      task,
      { ...state, Paused: "" },
    ]),
  );
}

// Nomad 2.0.5 writes a network's empty fields not at all ("", 0, null): `{"Mode":"host"}`.
function withoutEmptyFields(network: Json): Json {
  return Object.fromEntries(
    Object.entries(network).filter(([, value]) => value !== "" && value !== 0 && value !== null),
  );
}

// Go's nil slices stay null.
function mapList<T, U>(list: T[] | null, map: (item: T) => U): U[] | null {
  return list === null ? null : list.map(map);
}

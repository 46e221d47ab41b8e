import { type Grants, PERMISSION_DENIED, type TokenStore } from "./acl.js";
import type { ClusterState } from "./cluster-state.js";
import { allocatedPorts } from "./dynamic-ports.js";
import { ALL, type EventBroker } from "./event-broker.js";
import { HttpError, type RequestContext, type Route } from "./http-server.js";
import type { NomadAllocation, NomadEvent, NomadService } from "./model.js";

/** One instance of a `provider = "nomad"` service (service-info.http); Nomad sends its fields sorted. */
export interface ServiceRegistration {
  Address: string;
  AllocID: string;
  CreateIndex: number;
  Datacenter: string;
  ID: string;
  JobID: string;
  ModifyIndex: number;
  Namespace: string;
  NodeID: string;
  Port: number;
  ServiceName: string;
  Tags: string[];
}

/** The simulated nodes' datacenter (a dev agent's). */
const DATACENTER = "dc1";

/**
 * Nomad's own service catalog: what the clients register for the `nomad` services of their running
 * allocations (client/serviceregistration/nsd), read by `nomad service info` and Prometheus'
 * `nomad_sd_configs`. It follows the allocations on the event broker: an allocation's services are
 * registered while it is running and meant to run, and gone once it is told to stop or has ended.
 */
export class ServiceCatalog {
  readonly #byAllocation = new Map<string, ServiceRegistration[]>();
  /** The raft index of the catalog's last change (Nomad's service_registrations table index). */
  #index = 0;

  constructor(
    private readonly state: ClusterState,
    broker: EventBroker,
  ) {
    broker.subscribe(
      { topics: new Map([["Allocation", [ALL]]]), namespace: ALL, index: 0, token: undefined },
      {
        deliver: (batch) => {
          for (const event of batch.Events) this.#follow(event, batch.Index);
        },
        end: () => {},
      },
    );
  }

  /** Raft index for `X-Nomad-Index`: Nomad's setReplyQueryMeta answers at least 1. */
  get index(): number {
    return Math.max(1, this.#index);
  }

  /** The registrations of a namespace, by service name then ID, as Nomad's state store iterates them. */
  registrations(namespace: string): ServiceRegistration[] {
    return [...this.#byAllocation.values()]
      .flat()
      .filter((registration) => registration.Namespace === namespace)
      .sort((a, b) => a.ServiceName.localeCompare(b.ServiceName) || a.ID.localeCompare(b.ID));
  }

  get namespaces(): string[] {
    return [
      ...new Set([...this.#byAllocation.values()].flat().map((registration) => registration.Namespace)),
    ];
  }

  #follow(event: NomadEvent, index: number): void {
    if (!("Allocation" in event.Payload)) return;
    const alloc = this.state.allocation(event.Payload.Allocation.ID);
    if (!alloc) return;
    const registered = this.#byAllocation.has(alloc.ID);
    const wanted = alloc.DesiredStatus === "run" && alloc.ClientStatus === "running";
    if (wanted === registered) return;
    if (wanted) this.#byAllocation.set(alloc.ID, registrationsOf(alloc, index));
    else this.#byAllocation.delete(alloc.ID);
    this.#index = index;
  }
}

// Nomad's generateNomadServiceRegistration: the port's node address and port (address mode auto),
// the service's tags, and an ID made by MakeAllocServiceID ("group-<name>" for a group's services).
function registrationsOf(alloc: NomadAllocation, index: number): ServiceRegistration[] {
  const group = alloc.Job?.TaskGroups.find((taskGroup) => taskGroup.Name === alloc.TaskGroup);
  if (!group) return [];
  const owned: Array<{ owner: string; service: NomadService }> = [
    ...(group.Services ?? []).map((service) => ({ owner: `group-${group.Name}`, service })),
    ...group.Tasks.flatMap((task) => (task.Services ?? []).map((service) => ({ owner: task.Name, service }))),
  ];
  const ports = allocatedPorts(alloc);
  return owned
    .filter(({ service }) => service.Provider === "nomad")
    .map(({ owner, service }) => {
      const port = ports.find((allocated) => allocated.Label === service.PortLabel);
      return {
        Address: port?.HostIP ?? "",
        AllocID: alloc.ID,
        CreateIndex: index,
        Datacenter: DATACENTER,
        ID: `_nomad-task-${alloc.ID}-${owner}-${service.Name}-${service.PortLabel}`,
        JobID: alloc.JobID,
        ModifyIndex: index,
        Namespace: alloc.Namespace,
        NodeID: alloc.NodeID,
        Port: port?.Value ?? 0,
        ServiceName: service.Name,
        Tags: [...(service.Tags ?? [])],
      };
    });
}

/**
 * `GET /v1/services` and `GET /v1/service/:name` (hashicorp/nomad command/agent/
 * service_registration_endpoint.go, nomad/service_registration_endpoint.go): read-job in the namespace,
 * or any workload identity, may read; `namespace=*` lists the namespaces where the token has read-job.
 */
export function serviceCatalogRoutes(catalog: ServiceCatalog, tokens: TokenStore): Route[] {
  const grantsOf = (context: RequestContext): Grants => {
    const resolution = tokens.resolve(context.token);
    if ("error" in resolution) throw new HttpError(403, PERMISSION_DENIED);
    return resolution.grants;
  };
  const mayRead = (grants: Grants, namespace: string) =>
    grants.isWorkload || grants.allowsNamespace(namespace, "read-job");
  return [
    {
      methods: ["GET"],
      pattern: /^\/v1\/services$/,
      handle(context) {
        const grants = grantsOf(context);
        let namespaces = [context.namespace];
        // Across namespaces Nomad asks for read-job only (listAllServiceRegistrations).
        if (context.namespace === ALL)
          namespaces = catalog.namespaces
            .filter((namespace) => grants.allowsNamespace(namespace, "read-job"))
            .sort();
        else if (!mayRead(grants, context.namespace)) throw new HttpError(403, PERMISSION_DENIED);
        const stubs = namespaces.flatMap((namespace) => {
          const tags = new Map<string, Set<string>>();
          for (const registration of catalog.registrations(namespace)) {
            const seen = tags.get(registration.ServiceName) ?? new Set();
            for (const tag of registration.Tags) seen.add(tag);
            tags.set(registration.ServiceName, seen);
          }
          if (tags.size === 0) return [];
          const services = [...tags].map(([ServiceName, set]) => ({ ServiceName, Tags: [...set] }));
          return [{ Namespace: namespace, Services: services }];
        });
        return { json: stubs, index: catalog.index };
      },
    },
    {
      methods: ["GET"],
      pattern: /^\/v1\/service\/([^/]+)$/,
      handle(context, [name]) {
        if (!mayRead(grantsOf(context), context.namespace)) throw new HttpError(403, PERMISSION_DENIED);
        const found = catalog
          .registrations(context.namespace)
          .filter((registration) => registration.ServiceName === name);
        return { json: found, index: catalog.index };
      },
    },
  ];
}

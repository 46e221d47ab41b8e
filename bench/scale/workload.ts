import type { Allocation, Job } from "../../src/model/nomad.js";
import { Recordings } from "../../test/contract/recordings.js";
import type { FakeNomad } from "./fake-nomad.js";

export interface WorkloadShape {
  nodes: number;
  allocationsPerNode: number;
  /** Share of the allocations that belong to a job with allocations on two nodes. */
  multiNodeShare: number;
  /** Opted-in jobs' idle timeout: longer than the run, so that the bench measures watching, not stopping. */
  timeout: string;
}

// Jobs and allocations shaped, and sized, as the ones recorded from Nomad 2.0.5 (test/fixtures/nomad-2.0.5/).
const RECORDED = new Recordings("2.0.5");
const JOB = JSON.parse(RECORDED.http("job.http").body) as Job;
const ALLOCATION = (JSON.parse(RECORDED.http("node-allocations.http").body) as Allocation[])[0] as Allocation;

export const nodeName = (index: number) => `node-${String(index).padStart(5, "0")}`;

const uuid = (kind: number, a: number, b: number) =>
  `${kind.toString(16).padStart(8, "0")}-${(a >> 16).toString(16).padStart(4, "0")}-${(a & 0xffff).toString(16).padStart(4, "0")}-${b.toString(16).padStart(4, "0")}-000000000000`;

/**
 * The cluster's opted-in work: each node runs `allocationsPerNode` allocations; a `multiNodeShare` of them
 * belong to jobs of count 2 spread over two neighbouring nodes, the rest to jobs of their own.
 */
export class Workload {
  #jobs = 0;
  #allocs = 0;

  constructor(
    private readonly nomad: FakeNomad,
    private readonly shape: WorkloadShape,
  ) {}

  populate(): void {
    const { nodes, allocationsPerNode, multiNodeShare } = this.shape;
    const shared = Math.round(allocationsPerNode * multiNodeShare);
    for (let node = 0; node < nodes; node++) {
      for (let i = 0; i < allocationsPerNode - shared; i++) this.place([nodeName(node)]);
      // Each node starts half of its shared allocations' jobs; the other half come from its neighbour.
      for (let i = 0; i < shared / 2; i++) this.place([nodeName(node), nodeName((node + 1) % nodes)]);
    }
  }

  /** One job, one allocation per node given, placed and running. Returns the job's key. */
  place(nodes: readonly string[]): string {
    const { nomad } = this;
    const id = `job-${this.#jobs++}`;
    const index = nomad.nextIndex();
    const [group] = JOB.TaskGroups;
    const job: Job = {
      ...JOB,
      ID: id,
      Name: id,
      Meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": this.shape.timeout },
      TaskGroups: [{ ...(group as Job["TaskGroups"][number]), Count: nodes.length }],
      CreateIndex: index,
      ModifyIndex: index,
      JobModifyIndex: index,
    };
    nomad.jobs.set(`default/${id}`, job);
    const placed: Allocation[] = nodes.map((nodeId, n) => {
      const allocIndex = nomad.nextIndex();
      const allocation: Allocation = {
        ...ALLOCATION,
        ID: uuid(this.#allocs++, this.#jobs, n),
        Name: `${id}.web[${n}]`,
        JobID: id,
        Namespace: "default",
        TaskGroup: "web",
        NodeID: nodeId,
        NodeName: nodeId,
        Job: null,
        // The start comes from CreateTime, on the bench's clock (the recording's TaskStates are of another day).
        TaskStates: null,
        DesiredStatus: "run",
        ClientStatus: "running",
        CreateTime: nomad.clock.now() * 1e6,
        ModifyTime: nomad.clock.now() * 1e6,
        CreateIndex: allocIndex,
        ModifyIndex: allocIndex,
        AllocModifyIndex: allocIndex,
      };
      nomad.allocations.set(allocation);
      nomad.touched(nodeId);
      return allocation;
    });
    // The events a placement makes, as recorded (event-stream.ndjson): the job registered, evaluated and
    // planned; each allocation planned, then updated by its client as pending and as running.
    const jobEvent = (Type: string) => ({ Topic: "Job", Type, Key: id, Payload: { Job: job } });
    const allocEvents = (Type: string, ClientStatus: string) =>
      placed.map((alloc) => ({
        Topic: "Allocation",
        Type,
        Key: alloc.ID,
        Payload: { Allocation: { ...alloc, ClientStatus } },
      }));
    nomad.publish([jobEvent("JobRegistered"), jobEvent("EvaluationUpdated"), jobEvent("PlanResult")]);
    nomad.publish(allocEvents("PlanResult", "pending"));
    nomad.publish(allocEvents("AllocationUpdated", "pending"));
    nomad.publish(allocEvents("AllocationUpdated", "running"));
    return `default/${id}`;
  }

  /** A job someone is done with: stopped, its allocations complete (what Nomad's stream says of it). */
  retire(jobKey: string): void {
    const { nomad } = this;
    const job = nomad.jobs.get(jobKey);
    if (!job) return;
    const stopped = { ...job, Stop: true, ModifyIndex: nomad.nextIndex() };
    nomad.jobs.delete(jobKey);
    // As recorded: the job deregistered, evaluated and planned; each allocation told to stop, then complete.
    const jobEvent = (Type: string) => ({ Topic: "Job", Type, Key: job.ID, Payload: { Job: stopped } });
    nomad.publish([jobEvent("JobDeregistered"), jobEvent("EvaluationUpdated"), jobEvent("PlanResult")]);
    const gone = nomad.allocations.ofJob(jobKey);
    const allocEvents = (ClientStatus: string) =>
      gone.map((alloc) => ({
        Topic: "Allocation",
        Type: "AllocationUpdated",
        Key: alloc.ID,
        Payload: {
          Allocation: { ...alloc, DesiredStatus: "stop", ClientStatus, ModifyIndex: nomad.nextIndex() },
        },
      }));
    for (const alloc of gone) {
      nomad.allocations.delete(alloc.ID);
      nomad.touched(alloc.NodeID);
    }
    nomad.publish(allocEvents("running"));
    nomad.publish(allocEvents("complete"));
  }

  /** Churn: one job retired and one placed on a node picked by `pick`, as a cluster in use does all day. */
  replaceOne(pick: () => number): void {
    const keys = [...this.nomad.jobs.keys()];
    const retired = keys[pick() % keys.length];
    if (retired) this.retire(retired);
    this.place([nodeName(pick() % this.shape.nodes)]);
  }
}

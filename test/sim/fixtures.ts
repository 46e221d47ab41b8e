import type { JobType, NomadAllocation, NomadEvent, NomadJob, SimJob, SimTaskGroup } from "./model.js";

export interface JobShape {
  namespace?: string;
  type?: JobType;
  meta?: Record<string, string>;
  groups?: Array<Partial<SimTaskGroup> & { Name: string }>;
}

/** A job as `nomad job run -output` prints it: one docker task per group, group "web" with one allocation by default. */
export function jobSpec(id: string, shape: JobShape = {}): SimJob {
  const groups = shape.groups ?? [{ Name: "web" }];
  return {
    ID: id,
    ...(shape.namespace !== undefined && { Namespace: shape.namespace }),
    ...(shape.type !== undefined && { Type: shape.type }),
    ...(shape.meta !== undefined && { Meta: shape.meta }),
    TaskGroups: groups.map((group) => ({
      Count: 1,
      Tasks: [{ Name: "server", Driver: "docker", Config: { image: "busybox:local" } }],
      ...group,
    })),
  };
}

/** The allocation an event carries, if it is an allocation event. */
export function allocationOf(event: NomadEvent): NomadAllocation | undefined {
  return "Allocation" in event.Payload ? event.Payload.Allocation : undefined;
}

/** The job a `Job` event carries. */
export function jobOf(event: NomadEvent): NomadJob | undefined {
  return "Job" in event.Payload ? event.Payload.Job : undefined;
}

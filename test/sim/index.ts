export type { AclPolicy, NamespaceCapability, VariableCapability } from "./acl.js";
export { dockerWorldRuntime } from "./docker-runtime.js";
export {
  type FailRequests,
  type FaultDuration,
  OUTAGE_ANSWERS,
  type RequestMatch,
  type ServerOutage,
  type SimulatorFaults,
  type SlowRequests,
} from "./faults.js";
export type { CallRecord } from "./http-server.js";
export type * from "./model.js";
export type { AllocationContainers, AllocationRuntime, RuntimeFailure } from "./node-clients.js";
export { RecordingRuntime } from "./recording-runtime.js";
export {
  type JobPlacement,
  NOMAD_VERSIONS,
  NomadSimulator,
  type NomadVersion,
  type RegisteredJob,
  type SimulatorOptions,
} from "./simulator.js";

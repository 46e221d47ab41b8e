import type { AllocationContainers, AllocationRuntime } from "./node-clients.js";

/** A node runtime without containers that remembers what it was asked, for the HTTP contract tests. */
export class RecordingRuntime implements AllocationRuntime {
  readonly started: AllocationContainers[] = [];
  readonly stopped: string[] = [];
  /** Allocations whose containers would be up now. */
  readonly running = new Set<string>();
  #nextStartFailure: Error | undefined;

  /** The next start fails with this error, as a container that cannot be created. */
  failNextStart(error: Error): void {
    this.#nextStartFailure = error;
  }

  async start(alloc: AllocationContainers): Promise<void> {
    this.started.push(structuredClone(alloc));
    const failure = this.#nextStartFailure;
    this.#nextStartFailure = undefined;
    if (failure) throw failure;
    this.running.add(alloc.allocId);
  }

  async stop(allocId: string): Promise<void> {
    this.stopped.push(allocId);
    this.running.delete(allocId);
  }
}

import type { ServerResponse } from "node:http";
import type { Clock } from "../../src/clock.js";
import { parseDuration } from "../../src/duration.js";
import type { ClusterState } from "./cluster-state.js";
import type { WatchControl } from "./faults.js";
import { HttpError, type RequestContext } from "./http-server.js";

// hashicorp/nomad nomad/structs: MaxBlockingRPCQueryTime and DefaultBlockingRPCQueryTime, both 300 s
// (1.6.5 and 2.0.5). Nomad adds up to 1/16 of jitter; the simulator answers at the wait itself.
const MAX_WAIT_MS = 300_000;

/**
 * Nomad's blocking queries over the allocations table (command/agent/http.go parseWait, nomad/rpc.go
 * blockingRPC): without `index` the answer is immediate; with one, it waits until the result's index is
 * above it or `wait` (default and at most 5 minutes) passed — on the simulator's clock. Faults can cut the
 * connections of held queries, or stall them (a half-open link: no answer at all).
 */
export class BlockingQueries implements WatchControl {
  readonly #held = new Set<ServerResponse>();
  #stalled = false;

  constructor(
    private readonly state: ClusterState,
    private readonly clock: Clock,
  ) {}

  cutAll(): void {
    for (const response of this.#held) response.socket?.destroy();
  }

  stallAll(): void {
    this.#stalled = true;
  }

  /** Resolves when the query may be answered: at once, once `resultIndex()` moved past its index, or after its wait. */
  async until(context: RequestContext, resultIndex: () => number): Promise<void> {
    const { query, response } = context;
    const waitText = query.get("wait");
    const waitMs = waitText === null ? 0 : parseDuration(waitText);
    if (waitMs === undefined) throw new HttpError(400, "Invalid wait time");
    const indexText = query.get("index");
    if (indexText !== null && !/^\d+$/.test(indexText)) throw new HttpError(400, "Invalid index");
    const minIndex = Number(indexText ?? 0);
    if (minIndex === 0 || (resultIndex() > minIndex && !this.#stalled)) return;
    const blockMs = waitMs === 0 || waitMs > MAX_WAIT_MS ? MAX_WAIT_MS : waitMs;
    this.#held.add(response);
    await new Promise<void>((resolve) => {
      const done = () => {
        unwatch();
        cancel();
        response.off("close", closed);
        this.#held.delete(response);
        resolve();
      };
      const closed = () => done();
      const unwatch = this.state.watchAllocations(() => {
        if (resultIndex() > minIndex && !this.#stalled) done();
      });
      const cancel = this.clock.after(blockMs, () => {
        if (!this.#stalled) done();
      });
      response.on("close", closed);
    });
  }
}

import type { GroupPolicy } from "../policy.js";
import type { SignalSettings } from "../signals/meta.js";

/**
 * Which signals to read each cycle for an allocation quiet by bytes, so that a cycle over many quiet
 * allocations reads little while every decision is taken on fresh readings:
 * - near the timeout (quiet for the timeout less two intervals, or more) every signal that is on, every
 *   cycle: what judges the group idle — here or, through this node's report, on another node — is read
 *   in the same cycle, or the one before;
 * - once as the group's warning comes due (from one interval before quiet for timeout − warn-before, and
 *   for at least one interval) every signal, so that no warning goes to a job kept by its CPU or a session;
 * - otherwise the CPU gate when TrafficMeter.cpuReadDue says so (every cycle near the gate, every third far
 *   below it), and open connections not at all: a session is a state, and opening or closing one moves
 *   bytes, which the byte count sees in between. Read every cycle, sessions would cost a `net/snmp` read per
 *   namespace of every quiet allocation (docs/activity-signals.md).
 */
export class SignalSchedule {
  /** Allocation → the start of the quiet stretch whose warning-time read was made. */
  readonly #warningRead = new Map<string, number>();

  constructor(private readonly checkIntervalMs: number) {}

  /**
   * `quietSince`: the allocation's quiet stretch before this cycle's reading (undefined: none yet);
   * `cpuDue`: TrafficMeter.cpuReadDue for it.
   */
  toRead(
    allocId: string,
    policy: Pick<GroupPolicy, "signals" | "timeoutMs"> & { schedule: { warnBeforeMs: number } },
    quietSince: number | undefined,
    at: number,
    cpuDue: boolean,
  ): SignalSettings {
    const { signals, timeoutMs, schedule } = policy;
    const quietForMs = quietSince === undefined ? 0 : at - quietSince;
    if (quietSince !== undefined && quietForMs >= timeoutMs - 2 * this.checkIntervalMs) return signals;
    // The idle warning (warnings.ts) comes within warn-before of the timeout, after one interval of quiet, on a decision
    // taken a moment after this reading: read from one interval before, so the read comes first.
    const warningAtMs = Math.max(timeoutMs - schedule.warnBeforeMs, this.checkIntervalMs);
    const warning =
      quietSince !== undefined &&
      schedule.warnBeforeMs > 0 &&
      quietForMs >= warningAtMs - this.checkIntervalMs &&
      this.#warningRead.get(allocId) !== quietSince;
    if (warning) {
      this.#warningRead.set(allocId, quietSince);
      return signals;
    }
    return {
      ...signals,
      cpuPercent: cpuDue ? signals.cpuPercent : undefined,
      connections: { kind: "off" },
    };
  }

  keys(): Iterable<string> {
    return this.#warningRead.keys();
  }

  forget(allocId: string): void {
    this.#warningRead.delete(allocId);
  }
}

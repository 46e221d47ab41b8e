/** Network-namespace key → cumulative Rx+Tx bytes of every interface but `lo`. */
export type NamespaceCounters = ReadonlyMap<string, number>;

/** One sampling of one allocation's counters. */
export type Reading =
  | { allocId: string; at: number; state: "measured"; counters: NamespaceCounters }
  | { allocId: string; at: number; state: "unknown"; reason: string };

/**
 * What a source learned about one allocation's traffic at `at` (design.md: activity is data, so that
 * other sources can feed the tracker). `bytes` are Rx+Tx since the previous good reading.
 */
export interface Activity {
  allocId: string;
  at: number;
  bytes: number;
  state: "baseline" | "quiet" | "active" | "unknown";
  reason: string;
  /** The signal beyond bytes that made a quiet interval active, if one did. */
  signal?: "cpu" | "connections";
}

/** `idle-monitor.connections`: off, any port the allocation listens on, or only these ports. */
export type ConnectionsSetting = { kind: "off" } | { kind: "any-port" } | { kind: "ports"; ports: number[] };

/** One ESTABLISHED connection from outside the namespace to one of the allocation's own listening ports. */
export interface InboundSession {
  port: number;
  peer: string;
  peerPort: number;
}

export type SignalValue<T> = { state: "measured"; value: T } | { state: "unknown"; reason: string };

/** Only what was asked for is present. */
export interface SignalReading {
  /**
   * The cumulative CPU time of the allocation's containers, and which containers it sums (`containers`,
   * their IDs): a different set has no rate against the previous reading.
   */
  cpu?: SignalValue<{ usageNs: number; containers: string }>;
  sessions?: SignalValue<InboundSession[]>;
}

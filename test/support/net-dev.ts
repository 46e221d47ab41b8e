/** The two header lines of /proc/<pid>/net/dev. */
export const NET_DEV_HEADER = [
  "Inter-|   Receive                                                |  Transmit",
  " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
];

/** A /proc/<pid>/net/dev table with the given interfaces' byte counters. */
export function netDev(...interfaces: Array<[name: string, rxBytes: number, txBytes: number]>): string {
  const lines = interfaces.map(
    ([name, rx, tx]) =>
      `${name.padStart(6)}:${String(rx).padStart(8)}       7    0    0    0     0          0         0 ${String(tx).padStart(8)}       5    0    0    0     0       0          0`,
  );
  return `${[...NET_DEV_HEADER, ...lines].join("\n")}\n`;
}

// /proc/<pid>/net/dev: two header lines, then one line per interface,
//   "  eth0: 1296      12    0    0    0     0          0         0      936      10    0 ..."
// with 8 receive fields followed by 8 transmit fields. A large counter runs into the colon ("eth0:12345678901").
const FIELDS_PER_INTERFACE = 16;
const RX_BYTES = 0;
const TX_BYTES = 8;

/** Rx+Tx bytes of every interface in a net/dev table except the loopback, which carries no outside traffic. */
export function externalTrafficBytes(netDev: string): number {
  let total = 0;
  for (const line of netDev.split("\n")) {
    // The counters never contain a colon, so the last one ends the interface name; header lines have none.
    const colon = line.lastIndexOf(":");
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (fields.length !== FIELDS_PER_INTERFACE || !fields.every((field) => /^\d+$/.test(field))) {
      throw new Error(`unexpected net/dev line: ${JSON.stringify(line)}`);
    }
    if (name === "lo") continue;
    total += Number(fields[RX_BYTES]) + Number(fields[TX_BYTES]);
  }
  return total;
}

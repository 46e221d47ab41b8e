// /proc/<pid>/net/dev: two header lines, then one line per interface,
//   "  eth0: 1296      12    0    0    0     0          0         0      936      10    0 ..."
// with 8 receive fields followed by 8 transmit fields. A large counter runs into the colon ("eth0:12345678901").
const FIELDS_PER_INTERFACE = 16;
const RX_BYTES = 0;
const TX_BYTES = 8;
const NEWLINE = 10;
const SPACE = 32;
const TAB = 9;
const ZERO = 48;
const NINE = 57;

/**
 * Rx+Tx bytes of every interface in a net/dev table except the loopback, which carries no outside traffic.
 * Scanned character by character: it runs for every namespace on every cycle (split and regular
 * expressions took 2 to 3 times as long: ~2 ms more CPU a cycle at 780 namespaces).
 */
export function externalTrafficBytes(netDev: string): number {
  let total = 0;
  for (let start = 0; start < netDev.length; ) {
    let end = netDev.indexOf("\n", start);
    if (end === -1) end = netDev.length;
    // The counters never contain a colon, so the last one ends the interface name; header lines have none.
    const colon = netDev.lastIndexOf(":", end - 1);
    if (colon >= start) {
      const bytes = interfaceBytes(netDev, colon + 1, end);
      if (bytes === undefined)
        throw new Error(`unexpected net/dev line: ${JSON.stringify(netDev.slice(start, end))}`);
      if (netDev.slice(start, colon).trim() !== "lo") total += bytes;
    }
    start = end + 1;
  }
  return total;
}

/** Rx+Tx of the 16 counters between `from` and `to`; undefined unless they are exactly 16 runs of digits. */
function interfaceBytes(text: string, from: number, to: number): number | undefined {
  let fields = 0;
  let bytes = 0;
  let index = from;
  while (index < to) {
    let code = text.charCodeAt(index);
    if (code === SPACE || code === TAB) {
      index++;
      continue;
    }
    let value = 0;
    while (index < to && code >= ZERO && code <= NINE) {
      value = value * 10 + (code - ZERO);
      code = text.charCodeAt(++index);
    }
    if (index < to && code !== SPACE && code !== TAB && code !== NEWLINE) return undefined;
    if (fields === RX_BYTES || fields === TX_BYTES) bytes += value;
    fields++;
  }
  return fields === FIELDS_PER_INTERFACE ? bytes : undefined;
}

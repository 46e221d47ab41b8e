import type { InboundSession } from "../model/readings.js";

// /proc/<pid>/net/tcp and /proc/<pid>/net/tcp6 of a network namespace: one header line, then one row per socket,
//   "   1: 0000000000000000FFFF00000B401AAC:1F90 0000000000000000FFFF000001401AAC:D3E2 01 00000000:00000000 ..."
// `sl`, local address:port, remote address:port, state, then counters this module does not need. Ports are
// 4 hex digits in network order as written; an address is 8 (IPv4) or 32 (IPv6) hex digits made of 32-bit
// words each printed in the kernel's byte order, little-endian on every platform Nomad clients run on
// (x86_64, arm64): "0100007F" is 127.0.0.1. An IPv4 peer of an IPv6 socket is v4-mapped, `::ffff:a.b.c.d`.

/** The kernel's TCP states (include/net/tcp_states.h), by the code in the `st` column. */
export const TCP_STATES = {
  1: "ESTABLISHED",
  2: "SYN_SENT",
  3: "SYN_RECV",
  4: "FIN_WAIT1",
  5: "FIN_WAIT2",
  6: "TIME_WAIT",
  7: "CLOSE",
  8: "CLOSE_WAIT",
  9: "LAST_ACK",
  10: "LISTEN",
  11: "CLOSING",
  12: "NEW_SYN_RECV",
} as const;

export type TcpState = (typeof TCP_STATES)[keyof typeof TCP_STATES];

export interface TcpSocket {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: TcpState;
}

export interface TcpTable {
  sockets: TcpSocket[];
  /** Lines that are neither the header nor a socket row (a truncated read, a format this parser does not know). */
  malformedLines: number;
}

/**
 * The sockets of one net/tcp or net/tcp6 table. Never throws: the header, blank lines and anything that is
 * not a socket row are skipped, and every skipped line but the header and blank ones is counted in
 * `malformedLines`, so that a caller can treat a table it could not fully read as unknown rather than empty.
 */
export function parseTcpTable(text: string): TcpTable {
  const sockets: TcpSocket[] = [];
  let malformedLines = 0;
  for (const line of text.split("\n")) {
    const [slot, local, remote, st] = firstFields(line, 4);
    if (slot === undefined || slot === "" || slot === "sl") continue;
    const socket = slot.endsWith(":") ? parseRow(local, remote, st) : undefined;
    if (socket === undefined) malformedLines++;
    else sockets.push(socket);
  }
  return { sockets, malformedLines };
}

/** The first `count` space- or tab-separated fields of a line (a row has 17; only 4 are needed). */
function firstFields(line: string, count: number): string[] {
  const fields: string[] = [];
  let index = 0;
  while (fields.length < count) {
    while (index < line.length && (line[index] === " " || line[index] === "\t" || line[index] === "\r"))
      index++;
    if (index >= line.length) break;
    const start = index;
    while (index < line.length && line[index] !== " " && line[index] !== "\t" && line[index] !== "\r")
      index++;
    fields.push(line.slice(start, index));
  }
  return fields;
}

function parseRow(
  local: string | undefined,
  remote: string | undefined,
  st: string | undefined,
): TcpSocket | undefined {
  const localEnd = parseEndpoint(local);
  const remoteEnd = parseEndpoint(remote);
  if (localEnd === undefined || remoteEnd === undefined || st === undefined || !/^[0-9A-Fa-f]{2}$/.test(st))
    return undefined;
  const state = TCP_STATES[Number.parseInt(st, 16) as keyof typeof TCP_STATES];
  if (state === undefined) return undefined;
  return {
    localAddress: localEnd.address,
    localPort: localEnd.port,
    remoteAddress: remoteEnd.address,
    remotePort: remoteEnd.port,
    state,
  };
}

function parseEndpoint(text: string | undefined): { address: string; port: number } | undefined {
  const match = text === undefined ? null : /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (match === null) return undefined;
  const [, hex = "", port = ""] = match;
  const bytes: number[] = [];
  // Each 32-bit word is little-endian: its last byte comes first in the address.
  for (let word = 0; word < hex.length; word += 8) {
    for (let byte = 6; byte >= 0; byte -= 2)
      bytes.push(Number.parseInt(hex.slice(word + byte, word + byte + 2), 16));
  }
  return {
    address: bytes.length === 4 ? bytes.join(".") : formatIpv6(bytes),
    port: Number.parseInt(port, 16),
  };
}

/** RFC 5952 text: lower-case groups, the longest run of two or more zero groups as "::", v4-mapped as ::ffff:a.b.c.d. */
function formatIpv6(bytes: number[]): string {
  const isV4Mapped =
    bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (isV4Mapped) return `::ffff:${bytes.slice(12).join(".")}`;
  const groups: number[] = [];
  for (let index = 0; index < 16; index += 2)
    groups.push(((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0));
  let best = { start: -1, length: 0 };
  for (let start = 0; start < 8; ) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > best.length) best = { start, length: end - start };
    start = end === start ? start + 1 : end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.length < 2) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.length).join(":")}`;
}

/** 127.0.0.0/8, ::1 and their v4-mapped form. */
export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

export interface InboundSessions {
  /** Every port with a socket in LISTEN in either table, ascending, without duplicates. */
  listening: number[];
  /** The connections that count, in table order (tcp first, then tcp6). */
  sessions: InboundSession[];
  malformedLines: number;
}

/**
 * The inbound sessions of a network namespace from the texts of its `net/tcp` and `net/tcp6`: ESTABLISHED
 * connections whose LOCAL port is one of the namespace's listening ports — someone connected to the
 * allocation — limited to `ports` when given (the `idle-monitor.connections` list; a listed port on which
 * nothing listens counts nothing). What does not count:
 * - outbound connections (their local port is an ephemeral one, not a listening port): the app talking to a
 *   database or an API is not a user;
 * - loopback peers (127.0.0.0/8, ::1, ::ffff:127.x): inside the allocation's own namespace they are the app or
 *   its sidecars talking to themselves (a local health probe, a proxy in front of the app), never a user —
 *   the user's side of a proxied session is the proxy's own inbound connection, which does count;
 * - any other state: SYN_RECV is a handshake not finished yet, and FIN_WAIT*, CLOSE_WAIT, TIME_WAIT, LAST_ACK
 *   and CLOSING are sessions that are ending (a socket the app never closes sits in CLOSE_WAIT forever).
 * Never throws.
 */
export function inboundSessions(tcp: string, tcp6: string, ports?: readonly number[]): InboundSessions {
  const v4 = parseTcpTable(tcp);
  const v6 = parseTcpTable(tcp6);
  const all = [...v4.sockets, ...v6.sockets];
  const listening = [...new Set(all.filter((s) => s.state === "LISTEN").map((s) => s.localPort))].sort(
    (a, b) => a - b,
  );
  const counted = new Set(ports === undefined ? listening : listening.filter((port) => ports.includes(port)));
  const sessions = all
    .filter((s) => s.state === "ESTABLISHED" && counted.has(s.localPort) && !isLoopback(s.remoteAddress))
    .map((s) => ({ port: s.localPort, peer: s.remoteAddress, peerPort: s.remotePort }));
  return { listening, sessions, malformedLines: v4.malformedLines + v6.malformedLines };
}

/** For the log: "2 open connections to port 8080 (from 172.26.64.1:54242, …)", or undefined when there are none. */
export function describeSessions(sessions: readonly InboundSession[]): string | undefined {
  const [first] = sessions;
  if (first === undefined) return undefined;
  const ports = [...new Set(sessions.map((session) => session.port))];
  const to = ports.length === 1 ? `port ${ports[0]}` : `ports ${ports.join(", ")}`;
  const count = sessions.length === 1 ? "1 open connection" : `${sessions.length} open connections`;
  const more = sessions.length > 1 ? ", …" : "";
  const peer = first.peer.includes(":") ? `[${first.peer}]` : first.peer;
  return `${count} to ${to} (from ${peer}:${first.peerPort}${more})`;
}

/**
 * `CurrEstab` of a network namespace's `net/snmp` (the `Tcp:` header line, then its values): the TCP
 * connections in ESTABLISHED or CLOSE_WAIT there. Reading `net/tcp` walks the host's whole connection hash
 * table whatever the namespace (milliseconds on a busy host), `net/snmp` only the namespace's counters: a
 * namespace with 0 has no session, and its tables need no read. Undefined when the text has no such field.
 */
export function establishedConnections(snmp: string): number | undefined {
  const [header, values] = snmp.split("\n").filter((line) => line.startsWith("Tcp:"));
  const index = header?.split(/\s+/).indexOf("CurrEstab") ?? -1;
  const value = index > 0 ? values?.split(/\s+/)[index] : undefined;
  return value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : undefined;
}

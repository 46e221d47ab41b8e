import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  describeSessions,
  establishedConnections,
  inboundSessions,
  isLoopback,
  parseTcpTable,
} from "../src/signals/tcp.js";

/** The recording (test/fixtures/nomad-1.6.5/README.md): sections, each under a "# " comment line. */
const RECORDING = readFileSync(
  new URL("./fixtures/nomad-1.6.5/proc-tcp-and-cgroup-cpu.txt", import.meta.url),
  "utf8",
);

function section(heading: string): string {
  const lines = RECORDING.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`# ${heading}`));
  if (start === -1) throw new Error(`no section "# ${heading}" in the recording`);
  const end = lines.findIndex((line, index) => index > start && line.startsWith("#"));
  return `${lines.slice(start + 1, end === -1 ? undefined : end).join("\n")}\n`;
}

/** net/tcp of the bridge-mode task: the header only (busybox httpd listens on [::]). */
const RECORDED_TCP = section("/proc/<pid>/net/tcp of a bridge-mode task");
/** net/tcp6 with the LISTEN row and a connection closing (FIN_WAIT2). */
const RECORDED_TCP6_CLOSING = section("/proc/<pid>/net/tcp6");
/** net/tcp6 with one idle client connection open (ESTABLISHED). */
const RECORDED_TCP6_OPEN = section("/proc/<pid>/net/tcp6 of the same task");

const TCP_HEADER =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
const TCP6_HEADER =
  "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

/** The kernel's hex of an address, written apart from the parser: each 32-bit word little-endian. */
function hexOf(address: string): string {
  const bytes = address.includes(":") ? ipv6Bytes(address) : address.split(".").map(Number);
  let hex = "";
  for (let word = 0; word < bytes.length; word += 4) {
    for (const byte of bytes.slice(word, word + 4).reverse()) hex += byte.toString(16).padStart(2, "0");
  }
  return hex.toUpperCase();
}

function ipv6Bytes(address: string): number[] {
  const mapped = /^::ffff:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (mapped) return [...Array(10).fill(0), 0xff, 0xff, ...mapped.slice(1).map(Number)];
  const [head = "", tail = ""] = address.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const groups = [
    ...headGroups,
    ...Array(8 - headGroups.length - tailGroups.length).fill("0"),
    ...tailGroups,
  ];
  return groups.flatMap((group) => [Number.parseInt(group, 16) >> 8, Number.parseInt(group, 16) & 0xff]);
}

type Row = [local: string, localPort: number, remote: string, remotePort: number, state: number];

function table(header: string, ...rows: Row[]): string {
  const lines = rows.map(([local, localPort, remote, remotePort, state], index) => {
    const end = (address: string, port: number) =>
      `${hexOf(address)}:${port.toString(16).toUpperCase().padStart(4, "0")}`;
    const st = state.toString(16).toUpperCase().padStart(2, "0");
    return `${String(index).padStart(4)}: ${end(local, localPort)} ${end(remote, remotePort)} ${st} 00000000:00000000 00:00000000 00000000     0        0 623154 1 00000000c2885d20 20 0 0 10 -1`;
  });
  return `${[header, ...lines].join("\n")}\n`;
}

const tcp = (...rows: Row[]) => table(TCP_HEADER, ...rows);
const tcp6 = (...rows: Row[]) => table(TCP6_HEADER, ...rows);
const ESTABLISHED = 0x01;
const LISTEN = 0x0a;

describe("net/tcp parsing, recorded", () => {
  it("reads the recorded tcp6 rows: LISTEN on [::]:8080, a closing and an established v4-mapped client", () => {
    expect(parseTcpTable(RECORDED_TCP6_OPEN)).toEqual({
      malformedLines: 0,
      sockets: [
        { localAddress: "::", localPort: 8080, remoteAddress: "::", remotePort: 0, state: "LISTEN" },
        {
          localAddress: "::ffff:172.26.64.11",
          localPort: 8080,
          remoteAddress: "::ffff:172.26.64.1",
          remotePort: 0xcafc,
          state: "FIN_WAIT2",
        },
        {
          localAddress: "::ffff:172.26.64.11",
          localPort: 8080,
          remoteAddress: "::ffff:172.26.64.1",
          remotePort: 0xd3e2,
          state: "ESTABLISHED",
        },
      ],
    });
  });

  it.each([
    {
      name: "header-only tcp, tcp6 with only LISTEN and a closing connection",
      tcp: RECORDED_TCP,
      tcp6: RECORDED_TCP6_CLOSING,
      sessions: [],
    },
    {
      name: "header-only tcp, tcp6 with an idle client connection",
      tcp: RECORDED_TCP,
      tcp6: RECORDED_TCP6_OPEN,
      sessions: [{ port: 8080, peer: "::ffff:172.26.64.1", peerPort: 54242 }],
    },
  ])("recorded: $name", ({ tcp, tcp6, sessions }) => {
    expect(inboundSessions(tcp, tcp6)).toEqual({ listening: [8080], sessions, malformedLines: 0 });
  });

  it("reads the recorded closing table: LISTEN and FIN_WAIT2", () => {
    const { sockets } = parseTcpTable(RECORDED_TCP6_CLOSING);
    expect(sockets.map((socket) => socket.state)).toEqual(["LISTEN", "FIN_WAIT2"]);
    expect(parseTcpTable(RECORDED_TCP)).toEqual({ sockets: [], malformedLines: 0 });
  });

  it("names the port and the peer for the log", () => {
    const { sessions } = inboundSessions(RECORDED_TCP, RECORDED_TCP6_OPEN);
    expect(describeSessions(sessions)).toBe(
      "1 open connection to port 8080 (from [::ffff:172.26.64.1]:54242)",
    );
    expect(describeSessions([])).toBeUndefined();
  });
});

describe("net/tcp parsing, synthetic", () => {
  it.each([
    { name: "IPv4 loopback", address: "127.0.0.1" },
    { name: "IPv4 private", address: "10.213.0.2" },
    { name: "IPv6 unspecified", address: "::" },
    { name: "IPv6 loopback", address: "::1" },
    { name: "IPv6 documentation", address: "2001:db8::1" },
    { name: "IPv6 link-local", address: "fe80::a8c1:abff:fe00:1" },
    { name: "IPv6 with one zero group (not compressed)", address: "2001:db8:0:1:1:1:1:1" },
    { name: "IPv6, the longest zero run compressed", address: "2001:0:0:1::1" },
    { name: "v4-mapped", address: "::ffff:192.0.2.7" },
  ])("address $name → $address", ({ address }) => {
    const text = address.includes(":")
      ? tcp6([address, 22, address, 1, LISTEN])
      : tcp([address, 22, address, 1, LISTEN]);
    const [socket] = parseTcpTable(text).sockets;
    expect(socket?.localAddress).toBe(address);
    expect(socket?.remoteAddress).toBe(address);
  });

  it.each([
    {
      name: "inbound IPv4 session to a listening port",
      tcp: tcp(["0.0.0.0", 22, "0.0.0.0", 0, LISTEN], ["10.213.0.2", 22, "10.213.0.1", 40000, ESTABLISHED]),
      tcp6: "",
      ports: undefined,
      listening: [22],
      sessions: [{ port: 22, peer: "10.213.0.1", peerPort: 40000 }],
    },
    {
      name: "outbound connection from an ephemeral port does not count",
      tcp: tcp(["0.0.0.0", 8080, "0.0.0.0", 0, LISTEN], ["10.213.0.2", 41000, "10.0.0.5", 5432, ESTABLISHED]),
      tcp6: "",
      ports: undefined,
      listening: [8080],
      sessions: [],
    },
    {
      name: "loopback peers (the app talking to itself) do not count, IPv4, IPv6 and v4-mapped",
      tcp: tcp(["0.0.0.0", 8080, "0.0.0.0", 0, LISTEN], ["127.0.0.1", 8080, "127.0.0.1", 41000, ESTABLISHED]),
      tcp6: tcp6(
        ["::", 9090, "::", 0, LISTEN],
        ["::1", 9090, "::1", 41001, ESTABLISHED],
        ["::ffff:127.0.0.1", 9090, "::ffff:127.0.0.1", 41002, ESTABLISHED],
      ),
      ports: undefined,
      listening: [8080, 9090],
      sessions: [],
    },
    {
      name: "closing and half-open states do not count",
      tcp: tcp(
        ["0.0.0.0", 22, "0.0.0.0", 0, LISTEN],
        ["10.213.0.2", 22, "10.213.0.1", 40001, 0x03],
        ["10.213.0.2", 22, "10.213.0.1", 40002, 0x04],
        ["10.213.0.2", 22, "10.213.0.1", 40003, 0x06],
        ["10.213.0.2", 22, "10.213.0.1", 40004, 0x08],
        ["10.213.0.2", 22, "10.213.0.1", 40005, 0x09],
        ["10.213.0.2", 22, "10.213.0.1", 40006, 0x0b],
      ),
      tcp6: "",
      ports: undefined,
      listening: [22],
      sessions: [],
    },
    {
      name: "a port list limits the ports that count",
      tcp: tcp(
        ["0.0.0.0", 22, "0.0.0.0", 0, LISTEN],
        ["0.0.0.0", 9100, "0.0.0.0", 0, LISTEN],
        ["10.213.0.2", 22, "10.213.0.1", 40000, ESTABLISHED],
        ["10.213.0.2", 9100, "10.0.0.9", 50000, ESTABLISHED],
      ),
      tcp6: "",
      ports: [22],
      listening: [22, 9100],
      sessions: [{ port: 22, peer: "10.213.0.1", peerPort: 40000 }],
    },
    {
      name: "a listed port nothing listens on counts nothing",
      tcp: tcp(["10.213.0.2", 3000, "10.213.0.1", 40000, ESTABLISHED]),
      tcp6: "",
      ports: [3000],
      listening: [],
      sessions: [],
    },
    {
      name: "the same port listening in both tables is listed once",
      tcp: tcp(["0.0.0.0", 22, "0.0.0.0", 0, LISTEN]),
      tcp6: tcp6(["::", 22, "::", 0, LISTEN], ["2001:db8::2", 22, "2001:db8::9", 40000, ESTABLISHED]),
      ports: undefined,
      listening: [22],
      sessions: [{ port: 22, peer: "2001:db8::9", peerPort: 40000 }],
    },
    {
      name: "empty texts (no IPv6 in the kernel)",
      tcp: "",
      tcp6: "",
      ports: undefined,
      listening: [],
      sessions: [],
    },
  ])("$name", ({ tcp, tcp6, ports, listening, sessions }) => {
    expect(inboundSessions(tcp, tcp6, ports)).toEqual({ listening, sessions, malformedLines: 0 });
  });

  it.each([
    { name: "a truncated row", line: "   3: 0100007F:1F90 0100007F" },
    { name: "an unknown state", line: "   3: 0100007F:1F90 0100007F:A000 0D 00000000:00000000" },
    {
      name: "an address of the wrong length",
      line: "   3: 0100007F00:1F90 0100007F:A000 01 00000000:00000000",
    },
    { name: "not hex", line: "   3: 0100007G:1F90 0100007F:A000 01 00000000:00000000" },
  ])("counts a malformed line: $name", ({ line }) => {
    expect(parseTcpTable(`${TCP_HEADER}\n${line}\n`)).toEqual({ sockets: [], malformedLines: 1 });
  });

  it("describes several sessions on several ports", () => {
    expect(
      describeSessions([
        { port: 22, peer: "10.0.0.1", peerPort: 1 },
        { port: 8080, peer: "10.0.0.2", peerPort: 2 },
      ]),
    ).toBe("2 open connections to ports 22, 8080 (from 10.0.0.1:1, …)");
  });

  it.each([
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["10.0.0.1", false],
    ["::ffff:10.0.0.1", false],
    ["::", false],
  ])("isLoopback(%s) = %s", (address, loopback) => {
    expect(isLoopback(address)).toBe(loopback);
  });
});

describe("establishedConnections: CurrEstab of a namespace's net/snmp", () => {
  // Recorded from /proc/self/net/snmp on Linux 6.18, with 8 TCP connections open in the namespace.
  const SNMP = readFileSync(new URL("./fixtures/linux-proc-net-snmp.txt", import.meta.url), "latin1");

  it("reads the Tcp: CurrEstab value, by its column in the header line", () => {
    expect(establishedConnections(SNMP)).toBe(8);
    const [header = "", values = ""] = SNMP.split("\n").filter((line) => line.startsWith("Tcp:"));
    const column = header.split(" ").indexOf("CurrEstab");
    const twoOpen = values
      .split(" ")
      .map((value, index) => (index === column ? "2" : value))
      .join(" ");
    const withTwo = SNMP.replace(values, twoOpen);
    expect(establishedConnections(withTwo)).toBe(2);
  });

  it.each([
    ["no Tcp: lines", "Ip: Forwarding\nIp: 1\n"],
    ["no CurrEstab column", "Tcp: RtoAlgorithm\nTcp: 1\n"],
    ["a header without values", "Tcp: RtoAlgorithm CurrEstab\n"],
    ["a value that is no number", "Tcp: RtoAlgorithm CurrEstab\nTcp: 1 x\n"],
  ])("is undefined for %s", (_case, text) => {
    expect(establishedConnections(text)).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { applyCheckBudget, estimateCheckCost, type NetworkCheck } from "../../src/signals/check-budget.js";
import { parseCpuacctUsage, parseCpuStatUsageNs } from "../../src/signals/cpu.js";
import {
  CONNECTIONS_KEY,
  CPU_KEY,
  IGNORE_CHECKS_KEY,
  parseConnections,
  parseCpuGate,
  signalSettings,
} from "../../src/signals/meta.js";
import { inboundSessions, parseTcpTable } from "../../src/signals/tcp.js";
import { fc } from "./fc.js";

/** Text that looks like a net/tcp table some of the time: rows of hex, colons, spaces and newlines. */
const tcpLike = fc
  .array(
    fc.constantFrom(
      "0",
      "1",
      "A",
      "F",
      ":",
      " ",
      "\n",
      "0A",
      "01",
      "0100007F:1F90",
      "   0: ",
      "sl",
      "FFFF0000",
    ),
    {
      maxLength: 60,
    },
  )
  .map((parts) => parts.join(""));
const anyText = fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), tcpLike);

describe("the signal parsers never throw", () => {
  it("net/tcp and tcp6", () => {
    fc.assert(
      fc.property(
        anyText,
        anyText,
        fc.option(fc.array(fc.integer({ min: 0, max: 70_000 })), { nil: undefined }),
        (tcp, tcp6, ports) => {
          const table = parseTcpTable(tcp);
          const sessions = inboundSessions(tcp, tcp6, ports);
          for (const socket of table.sockets) {
            expect(socket.localPort).toBeGreaterThanOrEqual(0);
            expect(socket.localPort).toBeLessThanOrEqual(0xffff);
          }
          for (const session of sessions.sessions) expect(sessions.listening).toContain(session.port);
        },
      ),
    );
  });

  it("a parsed row round-trips its port and a v4 address written as the kernel does", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 0xffff }), (address, port) => {
        const hex = address
          .split(".")
          .map((byte) => Number(byte).toString(16).padStart(2, "0"))
          .reverse()
          .join("")
          .toUpperCase();
        const end = `${hex}:${port.toString(16).toUpperCase().padStart(4, "0")}`;
        const [socket] = parseTcpTable(`   0: ${end} ${end} 01 00000000:00000000\n`).sockets;
        expect(socket).toMatchObject({ localAddress: address, localPort: port, state: "ESTABLISHED" });
      }),
    );
  });

  it("cgroup files", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const v1 = parseCpuacctUsage(text);
        const v2 = parseCpuStatUsageNs(text);
        for (const value of [v1, v2])
          if (value !== undefined) expect(Number.isSafeInteger(value) && value >= 0).toBe(true);
      }),
    );
  });

  it("meta values", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.constantFrom(CPU_KEY, CONNECTIONS_KEY, IGNORE_CHECKS_KEY),
        (value, key) => {
          const gate = parseCpuGate(value);
          if (typeof gate === "number") expect(gate).toBeGreaterThan(0);
          const connections = parseConnections(value);
          if (connections?.kind === "ports")
            for (const port of connections.ports) expect(port).toBeGreaterThanOrEqual(1);
          const { problems } = signalSettings(
            { Meta: { [key]: value }, TaskGroups: [{ Name: "web" }] },
            "web",
          );
          expect(problems.length).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it("the check budget subtracts between nothing and the interval's bytes", () => {
    const check: NetworkCheck = { service: "s", name: "c", type: "http", intervalMs: 10_000 };
    const measured = fc.record({
      bytes: fc.nat(),
      elapsedMs: fc.nat({ max: 600_000 }),
      sessions: fc.option(fc.nat({ max: 3 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(measured, { maxLength: 40 }), measured, (history, now) => {
        const cost = estimateCheckCost(history, [check], { checkIntervalMs: 60_000 });
        const left = applyCheckBudget(now.bytes, now.elapsedMs, [check], cost, 60_000);
        expect(left.subtracted).toBeGreaterThanOrEqual(0);
        expect(left.bytes).toBe(now.bytes - left.subtracted);
        expect(left.bytes).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

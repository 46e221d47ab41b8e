import { describe, expect, it } from "vitest";
import type { JobMeta } from "../src/model/meta.js";
import {
  CONNECTIONS_FORM,
  CONNECTIONS_KEY,
  CPU_FORM,
  CPU_KEY,
  DEFAULT_SIGNAL_SETTINGS,
  IGNORE_CHECKS_FORM,
  IGNORE_CHECKS_KEY,
  SIGNAL_KEYS,
  signalSettings,
} from "../src/signals/meta.js";

type Meta = Record<string, string>;

function job(jobMeta: Meta, groupMeta: Meta = {}): JobMeta {
  return { Meta: jobMeta, TaskGroups: [{ Name: "web", Meta: groupMeta }] };
}

describe("signal meta keys", () => {
  it("exports its key names for policy.ts", () => {
    expect(SIGNAL_KEYS).toEqual([
      "idle-monitor.cpu",
      "idle-monitor.connections",
      "idle-monitor.ignore-checks",
    ]);
  });

  it("defaults: CPU gate off, connections off, check noise ignored", () => {
    expect(signalSettings(job({}), "web")).toEqual({ settings: DEFAULT_SIGNAL_SETTINGS, problems: [] });
    expect(DEFAULT_SIGNAL_SETTINGS).toEqual({
      cpuPercent: undefined,
      connections: { kind: "off" },
      ignoreChecks: true,
    });
  });

  it.each<{ name: string; meta: Meta; expected: Partial<typeof DEFAULT_SIGNAL_SETTINGS> }>([
    { name: "5%", meta: { [CPU_KEY]: "5%" }, expected: { cpuPercent: 5 } },
    { name: "a fraction", meta: { [CPU_KEY]: "0.5%" }, expected: { cpuPercent: 0.5 } },
    { name: "more than one core", meta: { [CPU_KEY]: "150%" }, expected: { cpuPercent: 150 } },
    { name: "off", meta: { [CPU_KEY]: "off" }, expected: { cpuPercent: undefined } },
    {
      name: "connections true",
      meta: { [CONNECTIONS_KEY]: "true" },
      expected: { connections: { kind: "any-port" } },
    },
    {
      name: "connections false",
      meta: { [CONNECTIONS_KEY]: "false" },
      expected: { connections: { kind: "off" } },
    },
    {
      name: "a port list, spaces, duplicates and order",
      meta: { [CONNECTIONS_KEY]: "8080, 22,8080" },
      expected: { connections: { kind: "ports", ports: [22, 8080] } },
    },
    {
      name: "ignore-checks false",
      meta: { [IGNORE_CHECKS_KEY]: "false" },
      expected: { ignoreChecks: false },
    },
    { name: "other idle-monitor keys are policy.ts's", meta: { "idle-monitor.timeout": "x" }, expected: {} },
  ])("valid: $name", ({ meta, expected }) => {
    for (const scoped of [job(meta), job({}, meta)]) {
      expect(signalSettings(scoped, "web")).toEqual({
        settings: { ...DEFAULT_SIGNAL_SETTINGS, ...expected },
        problems: [],
      });
    }
  });

  it.each([
    { key: CPU_KEY, value: "5", expected: CPU_FORM },
    { key: CPU_KEY, value: "0%", expected: CPU_FORM },
    { key: CPU_KEY, value: "-5%", expected: CPU_FORM },
    { key: CPU_KEY, value: "5 %", expected: CPU_FORM },
    { key: CPU_KEY, value: ".5%", expected: CPU_FORM },
    { key: CPU_KEY, value: "200000%", expected: CPU_FORM },
    { key: CPU_KEY, value: "false", expected: CPU_FORM },
    { key: CONNECTIONS_KEY, value: "", expected: CONNECTIONS_FORM },
    { key: CONNECTIONS_KEY, value: "yes", expected: CONNECTIONS_FORM },
    { key: CONNECTIONS_KEY, value: "22,", expected: CONNECTIONS_FORM },
    { key: CONNECTIONS_KEY, value: "0", expected: CONNECTIONS_FORM },
    { key: CONNECTIONS_KEY, value: "65536", expected: CONNECTIONS_FORM },
    { key: CONNECTIONS_KEY, value: "22;80", expected: CONNECTIONS_FORM },
    { key: IGNORE_CHECKS_KEY, value: "TRUE", expected: IGNORE_CHECKS_FORM },
    { key: IGNORE_CHECKS_KEY, value: "1", expected: IGNORE_CHECKS_FORM },
  ])("invalid: $key = $value", ({ key, value, expected }) => {
    expect(signalSettings(job({ [key]: value }), "web")).toEqual({
      settings: DEFAULT_SIGNAL_SETTINGS,
      problems: [{ scope: "job", key, value, expected }],
    });
    expect(signalSettings(job({}, { [key]: value }), "web").problems).toEqual([
      { scope: "group", key, value, expected },
    ]);
  });

  it("group meta wins per key, and group off turns a job-level gate off", () => {
    const scoped = job(
      { [CPU_KEY]: "5%", [CONNECTIONS_KEY]: "true", [IGNORE_CHECKS_KEY]: "false" },
      { [CPU_KEY]: "off", [CONNECTIONS_KEY]: "22" },
    );
    expect(signalSettings(scoped, "web").settings).toEqual({
      cpuPercent: undefined,
      connections: { kind: "ports", ports: [22] },
      ignoreChecks: false,
    });
  });

  it("a bad job-level value the group overrides is still reported", () => {
    expect(signalSettings(job({ [CPU_KEY]: "lots" }, { [CPU_KEY]: "5%" }), "web").problems).toEqual([
      { scope: "job", key: CPU_KEY, value: "lots", expected: CPU_FORM },
    ]);
  });

  it("reads a job with null meta and no such group", () => {
    expect(signalSettings({ Meta: null, TaskGroups: null }, "web").settings).toEqual(DEFAULT_SIGNAL_SETTINGS);
  });
});

import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../src/duration.js";

describe("parseDuration", () => {
  it.each<[string, number | undefined]>([
    ["90s", 90_000],
    ["15m", 900_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["300ms", 300],
    ["1m0.5s", 60_500],
    ["0", 0],
    [" 2m ", 120_000],
    ["", undefined],
    ["15", undefined],
    ["soon", undefined],
    ["-5m", undefined],
    ["5 m", undefined],
    ["1d", undefined],
    ["m", undefined],
  ])("%j → %s", (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });
});

describe("formatDuration", () => {
  it.each<[number, string]>([
    [250, "250ms"],
    [45_000, "45s"],
    [900_000, "15m"],
    [5_400_000, "1h30m"],
    [65_000, "1m5s"],
    [0, "0ms"],
  ])("%d ms → %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

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
    // Go accepts a leading sign; a negative duration means nothing here, so only "+" is accepted.
    ["+5m", 300_000],
    ["+0", 0],
    ["-0", undefined],
    ["+", undefined],
    ["+-5m", undefined],
    ["+ 5m", undefined],
    // Go's time.Duration is an int64 of nanoseconds: 2562047h47m16.854775807s at most (about 292 years).
    ["2562047h", 9_223_369_200_000],
    ["2562048h", undefined],
    ["99999999999999999999ns", undefined],
    [`1${"0".repeat(400)}h`, undefined],
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

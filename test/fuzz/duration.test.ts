import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/duration.js";
import { fc } from "./fc.js";
import {
  durationLikeText,
  expectedMs,
  GO_UNITS,
  goDurationText,
  goParseDuration,
  MAX_DURATION_NS,
  nsToMs,
} from "./go-duration.js";

const LIMIT_MS = nsToMs(MAX_DURATION_NS);

/**
 * The parser adds floats of milliseconds, so against Go it may differ by what Go truncates (under 1 ns
 * per term) plus float rounding; and at Go's limit, 292 years, the last few µs are beyond a float.
 */
function agreesWithGo(text: string): void {
  const actual = parseDuration(text);
  const expected = expectedMs(text);
  fc.pre(![actual, expected].some((ms) => ms !== undefined && Math.abs(ms - LIMIT_MS) < 0.01));
  if (expected === undefined) {
    expect(actual).toBeUndefined();
  } else {
    expect(actual).toBeDefined();
    expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(
      1e-6 * text.length + 1e-12 * expected,
    );
  }
}

const padded = (text: fc.Arbitrary<string>) =>
  fc
    .tuple(fc.constantFrom("", " ", "\t", "\n "), text, fc.constantFrom("", " ", "\r\n"))
    .map((parts) => parts.join(""));

/** `<h>h<m>m<s>.<ns>s` within 10 ms either side of Go's limit. */
const nearLimitText = fc.bigInt(MAX_DURATION_NS - 10_000_000n, MAX_DURATION_NS + 10_000_000n).map((ns) => {
  const seconds = ns / 1_000_000_000n;
  const fraction = String(ns % 1_000_000_000n).padStart(9, "0");
  return `${seconds / 3600n}h${(seconds / 60n) % 60n}m${seconds % 60n}.${fraction}s`;
});

const anyText = fc.oneof(
  padded(goDurationText),
  padded(durationLikeText),
  nearLimitText,
  fc.string({ unit: "binary", maxLength: 20 }),
);

describe("parseDuration, properties", () => {
  it("never throws, and gives either undefined or a non-negative number within Go's range", () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.string({ unit: "binary" })), (text) => {
        const ms = parseDuration(text);
        if (ms !== undefined) {
          expect(ms).toBeGreaterThanOrEqual(0);
          expect(ms).toBeLessThanOrEqual(LIMIT_MS);
        }
      }),
    );
  });

  it("refuses every text Go refuses, and every negative one", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        fc.pre(expectedMs(text) === undefined);
        agreesWithGo(text);
      }),
      { numRuns: 500 },
    );
  });

  it("reads every non-negative Go duration as Go does, to the nanosecond", () => {
    fc.assert(fc.property(padded(goDurationText), agreesWithGo), { numRuns: 500 });
  });

  it("decides Go's limit of 2^63-1 ns as Go does", () => {
    fc.assert(fc.property(nearLimitText, agreesWithGo));
  });

  it("reads whole amounts of each unit exactly", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2_000_000 }), fc.constantFrom(...GO_UNITS), (amount, unit) => {
        const ns = goParseDuration(`${amount}${unit}`) as bigint;
        expect(parseDuration(`${amount}${unit}`)).toBeCloseTo(nsToMs(ns), 9);
      }),
    );
  });
});

describe("formatDuration, properties", () => {
  const atLeastASecond = fc.oneof(
    fc.integer({ min: 1, max: 9_223_372_036 }).map((seconds) => seconds * 1_000),
    // Below Go's limit by more than the rounding to whole seconds can add.
    fc.double({ min: 1_000, max: 9_223_372_036_000, noNaN: true }),
  );

  it("from 1 s on, writes h/m/s that parse back to the value rounded to seconds", () => {
    fc.assert(
      fc.property(atLeastASecond, (ms) => {
        const text = formatDuration(ms);
        expect(text).toMatch(/^(?:[1-9]\d*h)?(?:[1-5]?\dm)?(?:[1-5]?\ds)?$/);
        expect(text).not.toMatch(/(?:^|[hm])0[ms]/);
        expect(parseDuration(text)).toBe(Math.round(ms / 1_000) * 1_000);
      }),
    );
  });

  it("below 1 s, writes milliseconds that parse back to the value rounded to milliseconds", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 999.999, noNaN: true }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(Math.round(ms));
      }),
    );
  });
});

import fc from "fast-check";

// An oracle for the properties: Go's time.ParseDuration (go/src/time/format.go), ported line by line with
// BigInt standing in for uint64. Checked against the Go toolchain itself while it was written.

const INT64_OVERFLOW = 1n << 63n;
export const MAX_DURATION_NS = INT64_OVERFLOW - 1n;

const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["µs", 1_000n], // U+00B5 micro sign
  ["μs", 1_000n], // U+03BC Greek small letter mu
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

/** Nanoseconds as Go's time.ParseDuration returns them, or undefined where it returns an error. */
export function goParseDuration(orig: string): bigint | undefined {
  let s = orig;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s.startsWith("-");
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") return undefined;
  let d = 0n;
  while (s !== "") {
    if (!(s[0] === "." || isDigit(s[0]))) return undefined;
    // leadingInt
    let v = 0n;
    let i = 0;
    for (; isDigit(s[i]); i++) {
      if (v > INT64_OVERFLOW / 10n) return undefined;
      v = v * 10n + BigInt(Number(s[i]));
      if (v > INT64_OVERFLOW) return undefined;
    }
    const pre = i > 0;
    s = s.slice(i);
    // leadingFraction: digits past what uint64 holds are dropped, not an error
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s.startsWith(".")) {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; isDigit(s[j]); j++) {
        if (overflow) continue;
        if (f > MAX_DURATION_NS / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(Number(s[j]));
        if (y > INT64_OVERFLOW) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) return undefined;
    let k = 0;
    while (k < s.length && s[k] !== "." && !isDigit(s[k])) k++;
    if (k === 0) return undefined;
    const unit = UNIT_NS.get(s.slice(0, k));
    s = s.slice(k);
    if (unit === undefined) return undefined;
    if (v > INT64_OVERFLOW / unit) return undefined;
    v *= unit;
    if (f > 0n) {
      // uint64(float64(f) * (float64(unit) / scale)): float64 arithmetic, truncated
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > INT64_OVERFLOW) return undefined;
    }
    d += v;
    if (d > INT64_OVERFLOW) return undefined;
  }
  if (neg) return -d;
  return d > MAX_DURATION_NS ? undefined : d;
}

export const GO_UNITS = [...UNIT_NS.keys()];

/** One `<number><unit>` term of Go's grammar: integer part, fraction or both, never neither. */
const term = fc
  .tuple(
    fc.oneof(fc.constant(""), fc.stringMatching(/^[0-9]{1,4}$/), fc.stringMatching(/^[0-9]{1,22}$/)),
    fc.option(fc.stringMatching(/^[0-9]{0,12}$/), { nil: undefined }),
    fc.constantFrom(...GO_UNITS),
  )
  .filter(([whole, fraction]) => whole !== "" || (fraction !== undefined && fraction !== ""))
  .map(([whole, fraction, unit]) => `${whole}${fraction === undefined ? "" : `.${fraction}`}${unit}`);

/** Texts in Go's duration grammar, with an optional sign; some of them overflow int64 nanoseconds. */
export const goDurationText = fc
  .tuple(fc.constantFrom("", "", "", "+", "-"), fc.array(term, { minLength: 1, maxLength: 4 }))
  .map(([sign, terms]) => `${sign}${terms.join("")}`);

/** Near misses: the characters of the grammar (and a few others) in any order. */
export const durationLikeText = fc
  .array(
    fc.constantFrom(
      ..."0123456789.+-hmsnuµμ".split(""),
      "ms",
      "us",
      "ns",
      " ",
      "\t",
      "d",
      "e",
      "_",
      "٣", // ARABIC-INDIC DIGIT THREE: \d must not mean it
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));

/** Milliseconds for Go's nanoseconds, as a float. */
export const nsToMs = (ns: bigint): number => Number(ns) / 1e6;

/**
 * What the project makes of a text, from Go's time.ParseDuration: surrounding whitespace is trimmed, a
 * leading "+" is accepted and a leading "-" is refused, even on zero (test/duration.test.ts).
 */
export function expectedMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith("-")) return undefined;
  const ns = goParseDuration(trimmed);
  return ns === undefined ? undefined : nsToMs(ns);
}

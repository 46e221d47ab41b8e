// Go's time.ParseDuration grammar, which Nomad uses for every duration it accepts:
// a sequence of decimal numbers, each with a unit, e.g. "90s", "1h30m", "1.5h", "300ms".
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

// Go's time.Duration is an int64 of nanoseconds: 2^63 - 1 ns = 2562047h47m16.854775807s (about 292 years) at
// most, here as near as a float gets.
const MAX_MS = 2 ** 63 / 1e6;

export const DURATION_FORM = 'a Go/Nomad duration such as "90s", "15m" or "1h30m"';

/**
 * Milliseconds for a Go-style duration, or undefined when the text is not one or is longer than Go allows.
 * A leading "+" is accepted as Go accepts it; a leading "-" is not, not even on zero.
 */
export function parseDuration(text: string): number | undefined {
  // Go accepts a leading sign; a negative duration means nothing here, so only "+" is.
  const trimmed = text.trim().replace(/^\+/, "");
  if (trimmed === "0") return 0;
  if (trimmed === "") return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < trimmed.length) {
    const match = PART.exec(trimmed);
    if (!match) return undefined;
    const [, amount, unit] = match;
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  return total <= MAX_MS ? total : undefined;
}

/** Short human form for logs: "45s", "15m", "1h30m", "1m5s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1_000);
  const hours = Math.floor(seconds / 3_600);
  seconds -= hours * 3_600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const parts = [hours ? `${hours}h` : "", minutes ? `${minutes}m` : "", seconds ? `${seconds}s` : ""];
  return parts.join("") || "0s";
}

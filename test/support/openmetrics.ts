/**
 * A parser of the OpenMetrics 1.0 text format (https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md)
 * strict enough to reject what a Prometheus scraper would refuse: every line must be metadata of a
 * declared family, a sample of the family declared last (families not interleaved), or the final
 * `# EOF`; sample names must fit their family's type (counter `_total`/`_created`, histogram
 * `_bucket`/`_count`/`_sum`/`_created`, gauge the bare name); histogram buckets ascend to `+Inf`, which
 * equals `_count`. Returns the families with their samples, or throws naming the line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? (\\S+)(?: (\\S+))?$`);
const TYPES = new Set([
  "counter",
  "gauge",
  "histogram",
  "gaugehistogram",
  "stateset",
  "info",
  "summary",
  "unknown",
]);
const SUFFIXES: Record<string, string[]> = {
  counter: ["_total", "_created"],
  gauge: [""],
  histogram: ["_bucket", "_count", "_sum", "_created"],
  summary: ["", "_count", "_sum", "_created"],
  unknown: [""],
};

export function parseOpenMetrics(text: string): Map<string, Family> {
  const lines = text.split("\n");
  if (lines.at(-1) !== "") throw new Error("the exposition must end with a newline");
  lines.pop();
  if (lines.at(-1) !== "# EOF") throw new Error("the exposition must end with # EOF");
  lines.pop();
  const families = new Map<string, Family>();
  let current: Family | undefined;
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1} (${line})`;
    if (line.startsWith("#")) {
      const meta = new RegExp(`^# (TYPE|HELP|UNIT) (${NAME})(?: (.*))?$`).exec(line);
      if (!meta) throw new Error(`${where}: not TYPE, HELP or UNIT metadata`);
      const [, kind, name = "", rest = ""] = meta;
      if (current?.name !== name) {
        if (families.has(name)) throw new Error(`${where}: family ${name} declared twice or interleaved`);
        current = { name, type: "unknown", samples: [] };
        families.set(name, current);
      }
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        if (current.samples.length > 0) throw new Error(`${where}: TYPE after samples`);
        current.type = rest;
      } else if (kind === "HELP") current.help = rest;
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`${where}: not a sample`);
    const name = sample[1] ?? "";
    if (!current || !(SUFFIXES[current.type] ?? [""]).some((suffix) => name === `${current?.name}${suffix}`))
      throw new Error(`${where}: sample ${name} outside its family (declared last: ${current?.name})`);
    const labels: Record<string, string> = {};
    for (const match of (sample[2] ?? "").matchAll(new RegExp(LABEL, "g"))) {
      const [, key = "", value = ""] = match;
      if (key in labels) throw new Error(`${where}: label ${key} twice`);
      labels[key] = value.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const raw = sample.at(-2) ?? "";
    const value =
      raw === "+Inf" ? Number.POSITIVE_INFINITY : raw === "-Inf" ? Number.NEGATIVE_INFINITY : Number(raw);
    if (raw === "" || (Number.isNaN(value) && raw !== "NaN"))
      throw new Error(`${where}: value ${raw} is not a number`);
    if (current.type === "counter" && name.endsWith("_total") && value < 0)
      throw new Error(`${where}: a counter cannot be negative`);
    current.samples.push({ name, labels, value });
  }
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(rest);
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), sample.value]);
    } else if (sample.name.endsWith("_count")) entry.count = sample.value;
  }
  for (const [key, { buckets, count }] of series) {
    for (let i = 1; i < buckets.length; i++) {
      const [previousLe, previous] = buckets[i - 1] as [number, number];
      const [le, value] = buckets[i] as [number, number];
      if (!(le > previousLe) || value < previous)
        throw new Error(`${family.name}${key}: buckets not ascending`);
    }
    const last = buckets.at(-1);
    if (!last || last[0] !== Number.POSITIVE_INFINITY)
      throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (count !== last[1])
      throw new Error(`${family.name}${key}: _count ${count} is not the +Inf bucket ${last[1]}`);
  }
}

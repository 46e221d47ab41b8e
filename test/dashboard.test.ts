import { readFile } from "node:fs/promises";
import { Counter, Gauge, Histogram, Summary } from "prom-client";
import { describe, expect, it } from "vitest";
import { METRIC_NAMES, MonitorMetrics } from "../src/metrics.js";

// The Grafana dashboard that ships in nomad/: every query must name only series the monitor really
// exports, as Prometheus sees them in the text exposition (a histogram as _bucket, _sum, _count; a
// counter with its _total). The queries are read with a small PromQL scanner: it knows the syntax
// the dashboard uses (selectors, ranges, functions, aggregations with by/without, binary operators)
// and fails on anything it does not recognise, so an unknown function or a stray token is an error.

const DASHBOARD = "nomad/grafana-dashboard.json";

type Json = Record<string, unknown>;

interface Query {
  readonly where: string;
  readonly expr: string;
}

/** Every PromQL query in the dashboard: panel targets (rows' nested panels too) and query variables. */
function queries(dashboard: Json): Query[] {
  const found: Query[] = [];
  const visit = (panels: unknown, path: string) => {
    for (const panel of (panels as Json[] | undefined) ?? []) {
      const title = `${path}${String(panel.title)}`;
      for (const target of (panel.targets as Json[] | undefined) ?? []) {
        found.push({ where: `panel "${title}" ${String(target.refId)}`, expr: String(target.expr) });
      }
      visit(panel.panels, `${title} / `);
    }
  };
  visit(dashboard.panels, "");
  for (const variable of ((dashboard.templating as Json).list as Json[]) ?? []) {
    if (variable.type !== "query") continue;
    const query = variable.query as Json | string;
    const text = typeof query === "string" ? query : String(query.query);
    // label_values(<selector>, <label>): the selector is PromQL.
    const selector = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/s.exec(text)?.[1];
    if (selector === undefined)
      throw new Error(`variable ${String(variable.name)}: unsupported query ${text}`);
    found.push({ where: `variable ${String(variable.name)}`, expr: selector });
  }
  return found;
}

const FUNCTIONS = new Set([
  "abs",
  "absent",
  "ceil",
  "changes",
  "clamp_max",
  "clamp_min",
  "delta",
  "deriv",
  "floor",
  "histogram_quantile",
  "increase",
  "irate",
  "label_replace",
  "rate",
  "resets",
  "round",
  "scalar",
  "sort",
  "sort_desc",
  "time",
  "timestamp",
  "vector",
  "avg_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time",
  "last_over_time",
]);
const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "topk",
  "bottomk",
  "quantile",
  "stddev",
  "group",
]);
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const OPERATOR_KEYWORDS = new Set(["and", "or", "unless", "bool", "offset"]);
// What Grafana puts in before the query reaches Prometheus.
const GRAFANA_INTERVALS = /\$__(rate_interval|interval|range)\b/g;

/** The metric names a PromQL expression selects. Throws on syntax the scanner does not know. */
function metricNames(expr: string): string[] {
  const text = expr.replace(GRAFANA_INTERVALS, "5m");
  const token =
    /\s*(?:(\{(?:[^}"'`]|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\})|(\[[0-9smhdwy:]+\])|([a-zA-Z_:][a-zA-Z0-9_:]*)|(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|("(?:[^"\\]|\\.)*")|(==|!=|>=|<=|=~|!~|[-+*/%^<>(),]))/y;
  const names: string[] = [];
  const depth: string[] = [];
  let expectLabelList = false;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    token.lastIndex = at;
    const match = token.exec(text);
    if (!match) throw new Error(`cannot read PromQL at ${JSON.stringify(text.slice(at))} in ${expr}`);
    at = token.lastIndex;
    const [, matchers, range, name, , , op] = match;
    if (matchers !== undefined) {
      // A selector's label matchers: label op "value", separated by commas.
      const inner = matchers.slice(1, -1).trim();
      const matcher = /^[a-zA-Z_]\w*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"$/;
      for (const part of inner === "" ? [] : inner.split(/,(?=\s*[a-zA-Z_]\w*\s*(?:=~|!~|!=|=))/)) {
        if (!matcher.test(part.trim()))
          throw new Error(`bad label matcher ${JSON.stringify(part)} in ${expr}`);
      }
      continue;
    }
    if (range !== undefined) continue;
    if (name !== undefined) {
      const next = text.slice(at).trimStart();
      if (LABEL_LIST_KEYWORDS.has(name)) {
        expectLabelList = true;
        continue;
      }
      if (expectLabelList) {
        // Inside by (…) / without (…) / on (…): label names, not metrics.
        continue;
      }
      if (OPERATOR_KEYWORDS.has(name)) continue;
      if (next.startsWith("(")) {
        if (!FUNCTIONS.has(name) && !AGGREGATIONS.has(name))
          throw new Error(`unknown function ${name} in ${expr}`);
        continue;
      }
      if (/^(by|without)\b/.test(next) && AGGREGATIONS.has(name)) continue;
      names.push(name);
      continue;
    }
    if (op === "(") depth.push(expectLabelList ? "labels" : "(");
    if (op === ")") {
      if (depth.pop() === undefined) throw new Error(`unbalanced ) in ${expr}`);
      expectLabelList = false;
    }
    if (op === "(" && expectLabelList) continue;
  }
  if (depth.length > 0) throw new Error(`unbalanced ( in ${expr}`);
  return names;
}

/** Every series name in the monitor's Prometheus text exposition, with each of its metrics given a value. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new MonitorMetrics();
  metrics.watchAnswers(() => Date.now());
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const labelNames = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = Object.fromEntries(labelNames.map((label) => [label, "x"]));
    if (metric instanceof Counter) metric.inc(labels);
    else if (metric instanceof Gauge) metric.set(labels, 1);
    else if (metric instanceof Histogram || metric instanceof Summary) metric.observe(labels, 0.1);
  }
  const text = await metrics.registry.metrics();
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (name) names.add(name);
  }
  return names;
}

describe("the PromQL scanner the dashboard check relies on", () => {
  it("finds the metrics, not the labels, functions or keywords", () => {
    expect(
      metricNames(
        'histogram_quantile(0.9, sum by (le, job) (rate(a_bucket{job=~"$job", x!="}"}[$__rate_interval]))) / on (job) group_left count without (instance) (b) > bool 2',
      ),
    ).toEqual(["a_bucket", "b"]);
    expect(metricNames("sum(c_total) by (state)")).toEqual(["c_total"]);
  });

  it("refuses what it cannot read", () => {
    expect(() => metricNames("rat(a[5m])")).toThrow(/unknown function rat/);
    expect(() => metricNames("sum(a")).toThrow(/unbalanced/);
    expect(() => metricNames('a{job~"x"}')).toThrow(/label matcher/);
    expect(() => metricNames("a # b")).toThrow(/cannot read/);
  });
});

describe("the Grafana dashboard", () => {
  it("is importable as is: one Prometheus data source variable that every panel and query uses", async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Json;
    const variables = (dashboard.templating as Json).list as Json[];
    expect(variables.find((variable) => variable.type === "datasource")).toMatchObject({
      name: "datasource",
      query: "prometheus",
    });
    const datasources = new Set<string>();
    const visit = (panels: unknown) => {
      for (const panel of (panels as Json[] | undefined) ?? []) {
        if (panel.type !== "row") datasources.add(JSON.stringify(panel.datasource));
        for (const target of (panel.targets as Json[] | undefined) ?? []) {
          datasources.add(JSON.stringify(target.datasource));
        }
        visit(panel.panels);
      }
    };
    visit(dashboard.panels);
    for (const variable of variables.filter((v) => v.type === "query")) {
      datasources.add(JSON.stringify(variable.datasource));
    }
    expect([...datasources]).toEqual([
      JSON.stringify({ type: "prometheus", uid: ["${", "datasource", "}"].join("") }),
    ]);
    expect(dashboard.uid).toBe("nomad-idle-monitor");
    // Grafana replaces ids on import, but duplicates within one dashboard confuse it.
    const ids = (dashboard.panels as Json[]).map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("names only series the monitor exports", async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Json;
    const exported = await exportedNames();
    const found = queries(dashboard);
    expect(found.length).toBeGreaterThan(10);
    const unknown = found.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it("has a panel for every metric of the monitor's own", async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Json;
    const used = new Set(queries(dashboard).flatMap(({ expr }) => metricNames(expr)));
    const missing = Object.values(METRIC_NAMES).filter(
      (name) => ![name, `${name}_bucket`, `${name}_count`, `${name}_sum`].some((series) => used.has(series)),
    );
    expect(missing).toEqual([]);
  });

  it("selects the watched job by exported_job: Prometheus renames a scraped job label", async () => {
    const text = await readFile(DASHBOARD, "utf8");
    const dashboard = JSON.parse(text) as Json;
    for (const { where, expr } of queries(dashboard)) {
      if (!expr.includes(METRIC_NAMES.secondsUntilAction)) continue;
      expect(expr, where).not.toMatch(/by \([^)]*\bjob\b/);
    }
    expect(text).toContain("exported_job");
  });
});

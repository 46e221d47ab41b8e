import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type OpenMetricsContentType,
  Registry,
} from "prom-client";

/** Every name the monitor exports, for the README's PromQL and the Grafana dashboard's test. */
export const METRIC_NAMES = {
  cycleDuration: "nomad_idle_monitor_cycle_duration_seconds",
  cyclesSkipped: "nomad_idle_monitor_cycles_skipped_total",
  readings: "nomad_idle_monitor_readings_total",
  groups: "nomad_idle_monitor_groups",
  secondsUntilAction: "nomad_idle_monitor_seconds_until_action",
  actions: "nomad_idle_monitor_actions_total",
  nomadRequests: "nomad_idle_monitor_nomad_requests_total",
  watchFailures: "nomad_idle_monitor_allocation_watch_failures_total",
  lastAnswerAge: "nomad_idle_monitor_allocation_watch_last_answer_age_seconds",
  dockerErrors: "nomad_idle_monitor_docker_errors_total",
  tokenReloads: "nomad_idle_monitor_token_reloads_total",
} as const;

export type GroupState = "quiet" | "active" | "unknown" | "invalid";
export type ActionKind = "stop" | "scale";
export type ActionResult = "done" | "dry-run" | "refused" | "failed";

/**
 * The monitor's Prometheus metrics. Labels come from closed sets (route templates, outcome words);
 * only `seconds_until_action` carries job labels, one series per watched group, removed when the group
 * is gone. No token ever reaches a label or a value.
 */
export class MonitorMetrics {
  /** Prometheus text exposition. */
  readonly registry = new Registry();
  /** The same metrics in OpenMetrics, for scrapers that ask for it. */
  readonly openMetrics = openMetricsRegistry();
  readonly #registers = [this.registry, this.openMetrics as unknown as Registry];
  readonly cycleDuration = new Histogram({
    name: METRIC_NAMES.cycleDuration,
    help: "Wall time of one sampling cycle (sample, decide, plan, act).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: this.#registers,
  });
  readonly cyclesSkipped = new Counter({
    name: METRIC_NAMES.cyclesSkipped,
    help: "Ticks skipped because a cycle took longer than CHECK_INTERVAL.",
    registers: this.#registers,
  });
  readonly readings = new Counter({
    name: METRIC_NAMES.readings,
    help: "Readings of opted-in allocations' network counters, by state (measured or unknown).",
    labelNames: ["state"] as const,
    registers: this.#registers,
  });
  readonly groups = new Gauge({
    name: METRIC_NAMES.groups,
    help: "Opted-in task groups on this node, by state: quiet, active, unknown, invalid (meta).",
    labelNames: ["state"] as const,
    registers: this.#registers,
  });
  readonly secondsUntilAction = new Gauge({
    name: METRIC_NAMES.secondsUntilAction,
    help: "Seconds until a watched group's idle timeout is reached if it stays quiet (0: due now). No series while unknown.",
    labelNames: ["namespace", "job", "group"] as const,
    registers: this.#registers,
  });
  readonly actions = new Counter({
    name: METRIC_NAMES.actions,
    help: "Stop and scale-to-zero actions by kind and outcome (done, dry-run, refused, failed).",
    labelNames: ["kind", "outcome"] as const,
    registers: this.#registers,
  });
  readonly nomadRequests = new Counter({
    name: METRIC_NAMES.nomadRequests,
    help: "Requests to the Nomad API by endpoint (route template) and status class.",
    labelNames: ["endpoint", "status_class"] as const,
    registers: this.#registers,
  });
  readonly watchFailures = new Counter({
    name: METRIC_NAMES.watchFailures,
    help: "Requests of the allocation watch (the blocking query on the node's allocations) that failed.",
    registers: this.#registers,
  });
  readonly dockerErrors = new Counter({
    name: METRIC_NAMES.dockerErrors,
    help: "Sampling cycles in which the Docker Engine could not be reached.",
    registers: this.#registers,
  });
  readonly tokenReloads = new Counter({
    name: METRIC_NAMES.tokenReloads,
    help: "Reads of the action token's Nomad Variable, by outcome (loaded or failed).",
    labelNames: ["outcome"] as const,
    registers: this.#registers,
  });
  #lastAnswerAt: (() => number | undefined) | undefined;
  #rendering: Promise<unknown> = Promise.resolve();

  constructor(now: () => number = Date.now) {
    const lastAnswerAt = () => this.#lastAnswerAt?.();
    new Gauge({
      name: METRIC_NAMES.lastAnswerAge,
      help: "Seconds since Nomad last answered the allocation watch (at least every 5 minutes and a few seconds while it works).",
      registers: this.#registers,
      collect() {
        const at = lastAnswerAt();
        if (at === undefined) this.reset();
        else this.set((now() - at) / 1000);
      },
    });
    for (const register of this.#registers) collectDefaultMetrics({ register });
  }

  /** The exposition a scraper asked for: OpenMetrics when its Accept header names it, else Prometheus text. */
  exposition(accept: string | undefined): Promise<{ body: string; contentType: string }> {
    const openMetrics = /application\/openmetrics-text/i.test(accept ?? "");
    // One rendering at a time: rendering OpenMetrics renames counters for a while (below).
    const rendering = this.#rendering.then(() =>
      openMetrics ? this.#openMetricsText() : this.registry.metrics(),
    );
    this.#rendering = rendering.catch(() => undefined);
    // prom-client 15 writes NaN as `Nan` (lib/util.js); both formats spell it `NaN`, and strict parsers
    // (OpenMetrics' own) refuse anything else.
    return rendering.then((text) => ({
      body: text.replace(/^([^#\n].*) Nan$/gm, "$1 NaN"),
      contentType: (openMetrics ? this.openMetrics : this.registry).contentType,
    }));
  }

  /**
   * prom-client 15 renders OpenMetrics by renaming each counter `x_total` to `x` for good (the family
   * name), after which the Prometheus text would expose `x` instead of `x_total`: the names are put back.
   */
  async #openMetricsText(): Promise<string> {
    const counters = this.registry.getMetricsAsArray().filter((metric) => metric instanceof Counter);
    const names = counters.map((counter) => (counter as unknown as { name: string }).name);
    try {
      return await this.openMetrics.metrics();
    } finally {
      counters.forEach((counter, index) => {
        (counter as unknown as { name: string }).name = names[index] as string;
      });
    }
  }

  /** Where the age of the last event comes from (the allocation watch). */
  watchAnswers(lastAnswerAt: () => number | undefined): void {
    this.#lastAnswerAt = lastAnswerAt;
  }
}

function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

/** `2xx`, `4xx`, `5xx`, or `error` when no answer came. */
export function statusClass(status: number | undefined): string {
  return status === undefined ? "error" : `${Math.floor(status / 100)}xx`;
}

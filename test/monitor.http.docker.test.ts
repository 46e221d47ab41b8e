import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { METRIC_NAMES } from "../src/metrics.js";
import {
  allSecrets,
  expectNoSecretsInLogs,
  jobStopped,
  listenerUrl,
  messages,
  scenario,
  serviceJob,
  waitFor,
  waitForLog,
} from "./monitor/harness.js";
import { SocketProxy } from "./monitor/socket-proxy.js";
import { parseOpenMetrics } from "./support/openmetrics.js";
import { openWorldForTests } from "./world/world.js";

const world = await openWorldForTests();
/** Everything any listener answered in these tests: checked for secrets at the end. */
const answers: string[] = [];

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  const body = await response.text();
  answers.push(body, response.headers.get("www-authenticate") ?? "");
  return { status: response.status, body, contentType: response.headers.get("content-type") ?? "" };
}

/** The value of one series in Prometheus text, or undefined when the series is not there. */
function value(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, label]) => `${key}="${label}"`);
  for (const line of exposition.split("\n")) {
    const match = /^(\S+?)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? "").split(",");
    if (wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return undefined;
}

describe.skipIf(!world)("the monitor's HTTP listener: metrics, probes, status", () => {
  afterAll(async () => {
    expectNoSecretsInLogs();
    for (const secret of allSecrets) expect(answers.filter((answer) => answer.includes(secret))).toEqual([]);
    await world?.close();
  });

  it("exports metrics that move as the scenario does: time to action falls, the stop is counted, the series goes with the group", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("scraped"));
    await sim.whenSettled();
    current.startMonitor({ IDLE_TIMEOUT: "4s" });
    const url = await listenerUrl(logs);
    const labels = { namespace: "default", job: "scraped", group: "web" };

    await waitForLog(logs, /^watching job scraped group web/);
    const first = await waitFor("a time to action", async () => {
      const { body } = await get(`${url}/metrics`);
      return value(body, METRIC_NAMES.secondsUntilAction, labels) !== undefined && body;
    });
    const later = await waitFor("the time to action to fall", async () => {
      const { body } = await get(`${url}/metrics`);
      const seconds = value(body, METRIC_NAMES.secondsUntilAction, labels);
      return (
        seconds !== undefined &&
        seconds < (value(first, METRIC_NAMES.secondsUntilAction, labels) as number) &&
        body
      );
    });
    expect(value(later, METRIC_NAMES.readings, { state: "measured" })).toBeGreaterThan(
      value(first, METRIC_NAMES.readings, { state: "measured" }) ?? 0,
    );

    await waitFor("the job to be stopped", () => jobStopped(sim, "scraped"), 30_000);
    const after = await waitFor("the stop to be counted and the group's series to go", async () => {
      const { body } = await get(`${url}/metrics`);
      const counted = value(body, METRIC_NAMES.actions, { kind: "stop", outcome: "done" }) === 1;
      return counted && value(body, METRIC_NAMES.secondsUntilAction, labels) === undefined && body;
    });
    // Route templates, never raw paths; and the process's own metrics.
    expect(after).toMatch(
      /nomad_idle_monitor_nomad_requests_total\{endpoint="DELETE \/v1\/job\/:job_id",status_class="2xx"\} 1/,
    );
    expect(after).not.toMatch(/endpoint="[^"]*scraped/);
    expect(value(after, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(value(after, METRIC_NAMES.groups, { state: "quiet" })).toBe(0);
  });

  it("serves OpenMetrics to a scraper that asks for it, and the output parses; counters keep their _total name in both", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    await sim.registerJob(serviceJob("parsed"));
    await sim.whenSettled();
    current.startMonitor({ DRY_RUN: "true", IDLE_TIMEOUT: "2s" });
    const url = await listenerUrl(logs);
    await waitForLog(logs, /^dry run: would stop job parsed/, 30_000);

    const open = await get(`${url}/metrics`, { Accept: "application/openmetrics-text; version=1.0.0" });
    expect(open.contentType).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    const families = parseOpenMetrics(open.body);
    const actions = families.get("nomad_idle_monitor_actions");
    expect(actions?.type).toBe("counter");
    expect(actions?.samples).toContainEqual({
      name: "nomad_idle_monitor_actions_total",
      labels: { kind: "stop", outcome: "dry-run" },
      value: 1,
    });
    expect(families.get(METRIC_NAMES.cycleDuration)?.type).toBe("histogram");

    const text = await get(`${url}/metrics`);
    expect(text.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(value(text.body, "nomad_idle_monitor_actions_total", { kind: "stop", outcome: "dry-run" })).toBe(
      1,
    );
  });

  it("is ready only while the Docker Engine answers, and alive all along; /v1/status shows this node's view", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    const proxy = new SocketProxy();
    await proxy.open();
    onTestFinished(() => proxy.cut());
    await sim.registerJob(
      serviceJob("probed", { meta: { "idle-monitor.enabled": "true", "idle-monitor.timeout": "1h" } }),
    );
    await sim.whenSettled();
    current.startMonitor({ DOCKER_HOST: proxy.dockerHost });
    const url = await listenerUrl(logs);
    await waitFor("ready", async () => (await get(`${url}/readyz`)).status === 200);

    const status = JSON.parse((await get(`${url}/v1/status`)).body);
    expect(status.node).toBe(current.localNode);
    expect(status.groups).toEqual([
      expect.objectContaining({ namespace: "default", job: "probed", group: "web" }),
    ]);

    await proxy.cut();
    const notReady = await waitFor("not ready", async () => {
      const answer = await get(`${url}/readyz`);
      return answer.status === 503 && answer;
    });
    expect(notReady.body).toBe("not ready: the Docker Engine does not answer\n");
    expect((await get(`${url}/healthz`)).status).toBe(200);

    await proxy.open();
    onTestFinished(() => proxy.cut());
    await waitFor("ready again", async () => (await get(`${url}/readyz`)).status === 200, 30_000);
  });

  it("asks for a bearer token on /metrics and /v1/status when the Variable holds one; /readyz answers the check without it", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    const httpToken = "scrape-secret-0123456789";
    allSecrets.add(httpToken);
    sim.putVariable("default", "nomad/jobs/idle-monitor", {
      token: current.actionToken,
      http_token: httpToken,
    });
    current.startMonitor();
    const url = await listenerUrl(logs);
    await waitFor("ready", async () => (await get(`${url}/healthz`)).status === 200);

    for (const path of ["/metrics", "/v1/status"]) {
      expect((await get(`${url}${path}`)).status, path).toBe(401);
      expect((await get(`${url}${path}`, { Authorization: "Bearer wrong" })).status, path).toBe(401);
      expect((await get(`${url}${path}`, { Authorization: `Bearer ${httpToken}` })).status, path).toBe(200);
    }
    // Nomad's check has no token: it gets the status, and only the token holder hears why.
    await waitFor("ready", async () => (await get(`${url}/readyz`)).status === 200);
    expect((await get(`${url}/readyz`)).body).toBe("ready\n");
    expect((await get(`${url}/nothing`, { Authorization: `Bearer ${httpToken}` })).status).toBe(404);
    const posted = await fetch(`${url}/metrics`, { method: "POST" });
    expect(posted.status).toBe(405);
  });

  it("issue 19 item 8: a token reload without http_token keeps /metrics behind the last bearer", async () => {
    const current = await scenario(world!);
    const { sim, logs } = current;
    const [first, second] = ["scrape-secret-item8-first", "scrape-secret-item8-second"];
    for (const secret of [first, second]) allSecrets.add(secret);
    sim.putVariable("default", "nomad/jobs/idle-monitor", { token: current.actionToken, http_token: first });
    current.startMonitor();
    const url = await listenerUrl(logs);
    /** Token reloads so far, as /metrics says to whichever bearer it takes. */
    const reloads = async () => {
      for (const bearer of [first, second]) {
        const answer = await get(`${url}/metrics`, { Authorization: `Bearer ${bearer}` });
        if (answer.status === 200)
          return value(answer.body, METRIC_NAMES.tokenReloads, { outcome: "loaded" }) ?? 0;
      }
      return 0;
    };
    await waitFor("the action token to be loaded", async () => (await reloads()) >= 1);

    /** Writes the Variable anew with a new action token and revokes the old one: the monitor reloads at once. */
    let actionToken = current.actionToken;
    const rotate = async (items: Record<string, string>) => {
      const before = await reloads();
      const rotated = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] }, nodeRead: true });
      allSecrets.add(rotated);
      sim.putVariable("default", "nomad/jobs/idle-monitor", { token: rotated, ...items });
      sim.revokeToken(actionToken);
      actionToken = rotated;
      await waitFor("the monitor to reload the token", async () => (await reloads()) > before, 30_000);
    };

    // Rotated twice by a command that forgot http_token: still behind the first bearer, said once.
    await rotate({});
    await rotate({});
    for (const path of ["/metrics", "/v1/status"]) {
      expect((await get(`${url}${path}`)).status, path).toBe(401);
      expect((await get(`${url}${path}`, { Authorization: `Bearer ${first}` })).status, path).toBe(200);
    }
    expect(
      messages(logs, /has no item "http_token" any more; \/metrics and \/v1\/status keep asking/),
    ).toHaveLength(1);

    // A Variable with the item again: the new bearer takes the place of the last one.
    await rotate({ http_token: second });
    expect((await get(`${url}/metrics`, { Authorization: `Bearer ${first}` })).status).toBe(401);
    expect((await get(`${url}/metrics`, { Authorization: `Bearer ${second}` })).status).toBe(200);
  });
});

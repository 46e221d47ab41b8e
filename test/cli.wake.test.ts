import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import { NomadSimulator } from "./sim/index.js";
import { type CliRun, runCli } from "./support/cli.js";

const WAKE_POLICY = new URL("../nomad/idle-monitor-wake-policy.hcl", import.meta.url).pathname;
const outputs: string[] = [];
let sim: NomadSimulator;
let env: Record<string, string>;

async function wake(args: string[], withEnv = env): Promise<CliRun> {
  const result = await runCli(["wake", ...args], withEnv);
  outputs.push(result.stdout, result.stderr);
  return result;
}

describe("nomad-idle-monitor wake without a record", () => {
  beforeAll(async () => {
    sim = await NomadSimulator.start();
    env = {
      NOMAD_ADDR: sim.address,
      NOMAD_TOKEN: sim.createToken(await simulatorPolicyFromFile(WAKE_POLICY)),
    };
  });

  afterAll(async () => {
    for (const secret of [env.NOMAD_TOKEN, sim.managementToken])
      expect(outputs.filter((output) => output.includes(secret as string))).toEqual([]);
    await sim.close();
  });

  it("says what it needs when there is no record, and takes -help", async () => {
    const missing = await wake(["never-stopped"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/wake brings back only what the monitor did/);
    const help = await wake(["-help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: nomad-idle-monitor wake \[options\] <job>/);
    const usage = await wake([]);
    expect(usage.code).toBe(2);
  });

  it("issue 19 item 10: exits 1 with the reason, not 3, when no token or a token without the wake policy sees no record", async () => {
    const jobsOnly = sim.createToken({ namespaces: { "*": ["read-job", "submit-job"] } });
    const [anonymous, withoutPolicy] = await Promise.all([
      wake(["dev"], { ...env, NOMAD_TOKEN: "" }),
      wake(["dev"], { ...env, NOMAD_TOKEN: jobsOnly }),
    ]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(
      /^Error: read variable nomad\/jobs\/idle-monitor\/wake\/\S+: HTTP 403 Permission denied: NOMAD_TOKEN is not set, .*nomad\/idle-monitor-wake-policy\.hcl\n$/,
    );
    expect(
      [anonymous, withoutPolicy].filter((run) => `${run.stdout}${run.stderr}`.includes(jobsOnly)),
    ).toEqual([]);
    expect(withoutPolicy.code).toBe(1);
    expect(withoutPolicy.stderr).toMatch(
      /^Error: read variable \S+: HTTP 403 Permission denied: this token may not read nomad\/jobs\/idle-monitor\/wake\/ in namespace default; it needs nomad\/idle-monitor-wake-policy\.hcl\n$/,
    );
  });
});

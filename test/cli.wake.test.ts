import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulatorPolicyFromFile } from "./deploy/acl-policy.js";
import { NomadSimulator } from "./sim/index.js";
import { type CliRun, runCli } from "./support/cli.js";

const WAKE_POLICY = new URL("../nomad/idle-monitor-wake-policy.hcl", import.meta.url).pathname;
const outputs: string[] = [];
let sim: NomadSimulator;
let env: Record<string, string>;

async function wake(args: string[]): Promise<CliRun> {
  const result = await runCli(["wake", ...args], env);
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
});

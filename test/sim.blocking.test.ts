import { afterEach, describe, expect, it } from "vitest";
import { Recordings } from "./contract/recordings.js";
import { jobSpec } from "./sim/fixtures.js";
import { send } from "./sim/http-probe.js";
import { NomadSimulator } from "./sim/index.js";
import { FakeClock } from "./support/fake-clock.js";

// Blocking queries on a node's allocations, as Nomad answers them (nomad/rpc.go blockingRPC, Node.GetAllocs
// watching AllocsByNode; recorded: test/fixtures/nomad-2.0.5/node-allocations-blocking.http), on fake time.

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const each of open.splice(0).reverse()) await each.close();
});

async function startSim() {
  const clock = new FakeClock();
  const sim = await NomadSimulator.start({ clock });
  open.push(sim);
  const here = sim.addNode("here");
  const there = sim.addNode("there");
  await sim.registerJob(jobSpec("dev"), { nodes: { web: [here] } });
  await sim.whenSettled();
  // Past the deployment: its allocation turns healthy after MinHealthyTime, which is a change too.
  await clock.advance(60_000);
  await sim.whenSettled();
  const list = (query = "") =>
    send(sim.address, "GET", `/v1/node/${here}/allocations${query}`, { token: sim.managementToken });
  const first = await list();
  return { sim, clock, here, there, list, index: Number(first.headers["x-nomad-index"]), first };
}

/** Whether the request has been answered, after letting it reach the simulator (its wait starts then). */
async function answered(request: Promise<unknown>): Promise<boolean> {
  let done = false;
  void request.then(() => {
    done = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  return done;
}

describe("blocking queries on a node's allocations (simulator)", () => {
  it("with nothing new, answers after the wait with the same list and index, as recorded", async () => {
    const { clock, list, index, first } = await startSim();
    const held = list(`?index=${index}&wait=2s`);
    expect(await answered(held)).toBe(false);
    await clock.advance(1_999);
    expect(await answered(held)).toBe(false);
    await clock.advance(1);
    const later = await held;
    expect(later.status).toBe(200);
    expect(later.headers["x-nomad-index"]).toBe(String(index));
    expect(JSON.parse(later.body)).toEqual(JSON.parse(first.body));
    // The recording: the same wait answered with the same index as the list it waited from.
    const recorded = new Recordings("2.0.5").http("node-allocations-blocking.http");
    expect(recorded.status).toBe(200);
    expect(Number(recorded.headers["x-nomad-index"])).toBeGreaterThan(0);
  });

  it("answers at once when an allocation of the node changes, and not for another node's", async () => {
    const { sim, clock, here, there, list, index } = await startSim();
    const held = list(`?index=${index}&wait=5m`);
    await sim.registerJob(jobSpec("elsewhere"), { nodes: { web: [there] } });
    await sim.whenSettled();
    expect(await answered(held)).toBe(false);
    await sim.registerJob(jobSpec("mine"), { nodes: { web: [here] } });
    await sim.whenSettled();
    const answer = await held;
    expect(Number(answer.headers["x-nomad-index"])).toBeGreaterThan(index);
    expect((JSON.parse(answer.body) as Array<{ JobID: string }>).map((alloc) => alloc.JobID).sort()).toEqual([
      "dev",
      "mine",
    ]);
    await clock.advance(1);
  });

  it("waits 5 minutes when no wait is given, and never longer", async () => {
    const { clock, list, index } = await startSim();
    const noWait = list(`?index=${index}`);
    const tooLong = list(`?index=${index}&wait=1h`);
    expect(await answered(noWait)).toBe(false);
    await clock.advance(299_999);
    expect(await answered(noWait)).toBe(false);
    expect(await answered(tooLong)).toBe(false);
    await clock.advance(1);
    expect((await noWait).status).toBe(200);
    expect((await tooLong).status).toBe(200);
  });

  it("refuses a wait or an index that is not one, as Nomad's parseWait does", async () => {
    const { list } = await startSim();
    expect(await list("?index=5&wait=soon")).toMatchObject({ status: 400, body: "Invalid wait time" });
    expect(await list("?index=five&wait=1s")).toMatchObject({ status: 400, body: "Invalid index" });
  });
});

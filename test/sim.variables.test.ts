import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OpenApiContract } from "./sim/contract.js";
import { type ProbeOptions, send } from "./sim/http-probe.js";
import { NomadSimulator } from "./sim/index.js";

let contract: OpenApiContract;
let sim: NomadSimulator;

beforeAll(async () => {
  contract = await OpenApiContract.load();
});

beforeEach(async () => {
  sim = await NomadSimulator.start();
});

afterEach(async () => {
  await sim.close();
});

const PATH = "/v1/var/nomad/jobs/idle-monitor";

function call(method: string, path: string, options: ProbeOptions = {}) {
  return send(sim.address, method, path, { token: sim.managementToken, ...options });
}

describe("reading", () => {
  it("answers the variable with its items and its ModifyIndex as X-Nomad-Index", async () => {
    const modifyIndex = sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "s3cr3t" });

    const response = await call("GET", PATH);

    expect(response.status).toBe(200);
    expect(contract.problems("readVariable", response)).toEqual([]);
    expect(JSON.parse(response.body)).toMatchObject({
      Namespace: "default",
      Path: "nomad/jobs/idle-monitor",
      ModifyIndex: modifyIndex,
      Items: { token: "s3cr3t" },
    });
    expect(response.headers["x-nomad-index"]).toBe(String(modifyIndex));
  });

  it("takes the path percent-encoded too, as the generated client sends it", async () => {
    sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "s3cr3t" });

    const response = await call("GET", "/v1/var/nomad%2Fjobs%2Fidle-monitor");

    expect(response.status).toBe(200);
  });

  it("keeps namespaces apart", async () => {
    sim.putVariable("ops", "nomad/jobs/idle-monitor", { token: "ops" });

    const inDefault = await call("GET", PATH);
    const inOps = await call("GET", `${PATH}?namespace=ops`);

    expect([inDefault.status, inDefault.body]).toEqual([404, "variable not found"]);
    expect(JSON.parse(inOps.body).Items).toEqual({ token: "ops" });
  });
});

describe("check-and-set writes", () => {
  it("cas=0 creates a variable that does not exist yet", async () => {
    const response = await call("PUT", `${PATH}?cas=0`, { body: { Items: { token: "first" } } });

    expect(response.status).toBe(200);
    expect(contract.problems("writeVariable", response)).toEqual([]);
    const written = JSON.parse(response.body);
    expect(written).toMatchObject({ Path: "nomad/jobs/idle-monitor", Items: { token: "first" } });
    expect(response.headers["x-nomad-index"]).toBe(String(written.ModifyIndex));
  });

  it("the current ModifyIndex wins, a stale one gets 409 with the variable as it is now", async () => {
    const current = sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "first" });
    const winner = await call("PUT", `${PATH}?cas=${current}`, { body: { Items: { token: "second" } } });

    const loser = await call("PUT", `${PATH}?cas=${current}`, { body: { Items: { token: "third" } } });

    expect(winner.status).toBe(200);
    const winning = JSON.parse(winner.body);
    expect(loser.status).toBe(409);
    expect(contract.problems("writeVariable", loser)).toEqual([]);
    // Nomad writes the 409 status before the Content-Type, so Go sniffs the JSON as text/plain.
    expect(loser.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(JSON.parse(loser.body)).toMatchObject({
      ModifyIndex: winning.ModifyIndex,
      Items: { token: "second" },
    });
    expect(loser.headers["x-nomad-index"]).toBe(String(winning.ModifyIndex));
    expect(JSON.parse((await call("GET", PATH)).body).Items).toEqual({ token: "second" });
  });

  it.each([
    { name: "cas=0 over an existing variable", existing: true, cas: "0" },
    { name: "cas=N over a missing variable", existing: false, cas: "42" },
  ])("$name is a lost race", async ({ existing, cas }) => {
    if (existing) sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "first" });

    const response = await call("PUT", `${PATH}?cas=${cas}`, { body: { Items: { token: "mine" } } });

    expect(response.status).toBe(409);
    expect(contract.problems("writeVariable", response)).toEqual([]);
    expect(JSON.parse(response.body).Items).toEqual(existing ? { token: "first" } : null);
  });

  it("hides the winner's items from a token that may write but not read", async () => {
    const writer = sim.createToken({ variables: { default: { "nomad/jobs/*": ["write"] } } });
    sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "first" });

    const response = await call("PUT", `${PATH}?cas=0`, {
      token: writer,
      body: { Items: { token: "mine" } },
    });

    expect(response.status).toBe(409);
    expect(JSON.parse(response.body)).toMatchObject({ Path: "nomad/jobs/idle-monitor", Items: null });
  });

  it("writes to the namespace named in the body", async () => {
    await call("PUT", PATH, { body: { Namespace: "ops", Items: { token: "x" } } });

    expect((await call("GET", `${PATH}?namespace=ops`)).status).toBe(200);
  });

  it.each([
    { name: "no items", path: PATH, body: { Items: {} }, text: "variable missing required Items object" },
    {
      name: "a cas that is no number",
      path: `${PATH}?cas=latest`,
      body: { Items: { a: "b" } },
      text: 'can not parse cas: strconv.ParseUint: parsing "latest": invalid syntax',
    },
  ])("refuses $name with 400", async ({ path, body, text }) => {
    const response = await call("PUT", path, { body });

    expect([response.status, response.body]).toEqual([400, text]);
  });

  // Nomad refuses an invalid Variable in plain text (var-put-invalid-path.http, var-put-too-large.http):
  // 1.6.5 with 500 and the message, 2.0.5 with 400 and `RPC Error:: 400,` before it. The 64 KiB count
  // the lengths of the items' keys and values.
  const invalid = [
    {
      name: "a path with a space",
      path: "/v1/var/nomad/jobs/a%20b",
      items: { a: "b" },
      text: 'invalid path "nomad/jobs/a b"',
    },
    {
      name: "items of more than 64 KiB",
      path: PATH,
      items: { k: "x".repeat(64 * 1024) },
      text: "variables are limited to 64KiB in total size",
    },
    {
      name: "items of more than 64 KiB in UTF-8 bytes (fewer characters)",
      path: PATH,
      items: { k: "é".repeat(32 * 1024) },
      text: "variables are limited to 64KiB in total size",
    },
  ];

  it.each(invalid)("refuses $name with 500", async ({ path, items, text }) => {
    const response = await call("PUT", path, { body: { Items: items } });

    expect([response.status, response.body, response.headers["x-nomad-index"]]).toEqual([500, text, "0"]);
    expect(contract.problems("writeVariable", response)).toEqual([]);
  });

  it.each(invalid)(
    "as Nomad 2.0.5, refuses $name with 400 `RPC Error:: 400,…`",
    async ({ path, items, text }) => {
      const nomad205 = await NomadSimulator.start({ version: "2.0.5" });
      try {
        const response = await send(nomad205.address, "PUT", path, {
          token: nomad205.managementToken,
          body: { Items: items },
        });

        expect([response.status, response.body, response.headers["x-nomad-index"]]).toEqual([
          400,
          `RPC Error:: 400,${text}`,
          "0",
        ]);
        expect(contract.problems("writeVariable", response)).toEqual([]);
      } finally {
        await nomad205.close();
      }
    },
  );

  it("takes items of exactly 64 KiB, keys and values counted", async () => {
    const response = await call("PUT", PATH, { body: { Items: { k: "x".repeat(64 * 1024 - 1) } } });

    expect(response.status).toBe(200);
  });
});

describe("listing", () => {
  it("lists the metadata (no Items) of the variables under a prefix that the token may list", async () => {
    sim.putVariable("default", "nomad/jobs/idle-monitor/activity/node-a", { report: "1" });
    sim.putVariable("default", "nomad/jobs/idle-monitor/activity/node-b", { report: "2" });
    sim.putVariable("default", "nomad/jobs/other", { x: "y" });
    const lister = sim.createToken({
      variables: { default: { "nomad/jobs/idle-monitor/activity/node-a": ["list"] } },
    });

    const all = await call("GET", "/v1/vars?prefix=nomad/jobs/idle-monitor/activity");
    const allowed = await call("GET", "/v1/vars?prefix=nomad/jobs/idle-monitor", { token: lister });

    expect(contract.problems("listVariables", all)).toEqual([]);
    const paths = (response: { body: string }) =>
      (JSON.parse(response.body) as Array<{ Path: string }>).map((variable) => variable.Path);
    expect(paths(all)).toEqual([
      "nomad/jobs/idle-monitor/activity/node-a",
      "nomad/jobs/idle-monitor/activity/node-b",
    ]);
    expect(JSON.parse(all.body)[0]).not.toHaveProperty("Items");
    expect(paths(allowed)).toEqual(["nomad/jobs/idle-monitor/activity/node-a"]);
  });
});

describe("deleting", () => {
  it("deletes with check-and-set, answering 204, or 409 with the current variable", async () => {
    const current = sim.putVariable("default", "nomad/jobs/idle-monitor", { token: "first" });

    const stale = await call("DELETE", `${PATH}?cas=${current - 1}`);
    const deleted = await call("DELETE", `${PATH}?cas=${current}`);

    expect(stale.status).toBe(409);
    expect(deleted.status).toBe(204);
    expect([stale, deleted].flatMap((response) => contract.problems("deleteVariable", response))).toEqual([]);
    expect((await call("GET", PATH)).status).toBe(404);
  });
});

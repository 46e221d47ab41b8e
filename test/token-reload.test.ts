import { describe, expect, it } from "vitest";
import { NomadError } from "../src/model/nomad.js";
import { withTokenReload } from "../src/token-reload.js";

const refused = () => new NomadError("auth", 403, "read job dev: HTTP 403 Permission denied");
const down = () => new NomadError("unavailable", 500, "read job dev: HTTP 500 No cluster leader");

/** A call that answers in turn what `answers` says: a value, or an error to throw. */
function calls(answers: Array<string | Error>) {
  let made = 0;
  const call = async () => {
    const answer = answers[made++] ?? "ok";
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { call, made: () => made };
}

describe("withTokenReload: the one rule for a token Nomad refuses", () => {
  it.each([
    { name: "answered: no reload", answers: ["ok"], result: "ok", calls: 1, reloads: 0 },
    {
      name: "refused, then answered with the token read again",
      answers: [refused(), "ok"],
      result: "ok",
      calls: 2,
      reloads: 1,
    },
    {
      name: "refused twice: the second refusal stands",
      answers: [refused(), refused()],
      result: "auth",
      calls: 2,
      reloads: 1,
    },
    {
      name: "Nomad unavailable: not a token problem, no reload",
      answers: [down()],
      result: "unavailable",
      calls: 1,
      reloads: 0,
    },
  ])("$name", async ({ answers, result, calls: expectedCalls, reloads: expectedReloads }) => {
    const { call, made } = calls(answers);
    let reloads = 0;
    const heard: string[] = [];
    const token = {
      load: async () => {
        reloads += 1;
      },
    };
    const outcome = await withTokenReload(token, call, {
      refused: (error) => heard.push(error.message),
    }).catch((error: NomadError) => error.kind);
    expect(outcome).toBe(result);
    expect([made(), reloads, heard.length]).toEqual([expectedCalls, expectedReloads, expectedReloads]);
  });

  it("tries again with the token in hand when it cannot be read again, and says why", async () => {
    const { call, made } = calls([refused(), "ok"]);
    const failures: unknown[] = [];
    const token = {
      load: () => Promise.reject(new Error("cannot read Nomad Variable nomad/jobs/idle-monitor")),
    };
    expect(await withTokenReload(token, call, { reloadFailed: (error) => failures.push(error) })).toBe("ok");
    expect([made(), failures.length]).toEqual([2, 1]);
  });

  it("starts no second call once shutdown began during the reload", async () => {
    const { call, made } = calls([refused(), "ok"]);
    const stopping = new AbortController();
    const token = { load: async () => stopping.abort() };
    await expect(withTokenReload(token, call, { signal: stopping.signal })).rejects.toMatchObject({
      kind: "auth",
    });
    expect(made()).toBe(1);
  });
});

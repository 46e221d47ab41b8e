import pino from "pino";
import { describe, expect, it } from "vitest";
import { NomadError } from "../src/model/nomad.js";
import { ActionToken } from "../src/nomad/token.js";

const TOKEN = "action-token-0123";
const SECRET = "webhook-secret-4567";
const PATH = "nomad/jobs/idle-monitor";

/** An ActionToken over a Variable the test rewrites (or makes unreadable) between loads. */
function tokenOver(initial: Record<string, string> | undefined) {
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
  const variable: { items: Record<string, string> | undefined; failing: boolean } = {
    items: initial,
    failing: false,
  };
  const token = new ActionToken(
    {
      readVariable: async () => {
        if (variable.failing) throw new NomadError("unavailable", 500, "Nomad answered 500");
        return variable.items;
      },
    },
    {
      nomadToken: "identity",
      namespace: "default",
      tokenVariable: { path: PATH, key: "token" },
      self: { allocId: "alloc-1", jobId: "idle-monitor" },
    },
    log,
  );
  return { token, variable, lines };
}

describe("the webhook secret in the token's Variable", () => {
  it("is read with the token, without the whitespace `nomad var put … =-` keeps", async () => {
    const { token, lines } = tokenOver({ token: TOKEN, webhook_secret: `${SECRET}\n` });
    await token.load();
    expect(token.current()).toBe(TOKEN);
    expect(token.webhookSecret()).toBe(SECRET);
    expect(lines.join("\n")).not.toContain(SECRET);
  });

  it("is absent without the item, or when the item is blank", async () => {
    const variables: Record<string, string>[] = [{ token: TOKEN }, { token: TOKEN, webhook_secret: " \n" }];
    for (const items of variables) {
      const { token } = tokenOver(items);
      await token.load();
      expect(token.webhookSecret()).toBeUndefined();
    }
  });

  it("is reloaded with the token: added, rotated and removed without a restart", async () => {
    const { token, variable } = tokenOver({ token: TOKEN });
    await token.load();
    variable.items = { token: TOKEN, webhook_secret: SECRET };
    await token.load();
    expect(token.webhookSecret()).toBe(SECRET);
    variable.items = { token: TOKEN, webhook_secret: "rotated" };
    await token.load();
    expect(token.webhookSecret()).toBe("rotated");
    variable.items = { token: TOKEN };
    await token.load();
    expect(token.webhookSecret()).toBeUndefined();
  });

  it("is kept, like the token, when a reload fails, and appears in no error", async () => {
    const { token, variable, lines } = tokenOver({ token: TOKEN, webhook_secret: SECRET });
    await token.load();
    variable.failing = true;
    const error = await token.load().catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(Error);
    expect(JSON.stringify(error) + String(error)).not.toContain(SECRET);
    expect(token.webhookSecret()).toBe(SECRET);
    expect(lines.join("\n")).not.toContain(SECRET);
  });
});

describe("the HTTP listener's bearer token in the token's Variable", () => {
  const HTTP_TOKEN = "scrape-secret-8901";

  it("issue 19 item 8: is kept when a reload finds the Variable without it, said once; a later one takes its place", async () => {
    const { token, variable, lines } = tokenOver({ token: TOKEN, http_token: HTTP_TOKEN });
    await token.load();
    expect(token.httpToken()).toBe(HTTP_TOKEN);

    // A rotation written without the item, read twice; then the Variable is gone altogether.
    for (const items of [{ token: "rotated" }, { token: "rotated" }, undefined]) {
      variable.items = items;
      await token.load().catch(() => undefined);
      expect(token.httpToken()).toBe(HTTP_TOKEN);
    }
    const kept = lines.filter((line) => line.includes('has no item \\"http_token\\" any more'));
    expect(kept).toHaveLength(1);
    expect(JSON.parse(kept[0] ?? "{}").level).toBe(40);

    variable.items = { token: "rotated", http_token: "scrape-secret-2345" };
    await token.load();
    expect(token.httpToken()).toBe("scrape-secret-2345");
    // Lost again: said again, and the new one is kept.
    variable.items = { token: "rotated" };
    await token.load();
    expect(token.httpToken()).toBe("scrape-secret-2345");
    expect(lines.filter((line) => line.includes('has no item \\"http_token\\" any more'))).toHaveLength(2);
    expect(lines.join("\n")).not.toContain("scrape-secret");
  });

  it("stays absent when the Variable never had one", async () => {
    const { token, variable, lines } = tokenOver({ token: TOKEN });
    await token.load();
    variable.items = { token: "rotated" };
    await token.load();
    expect(token.httpToken()).toBeUndefined();
    expect(lines.filter((line) => line.includes("http_token"))).toEqual([]);
  });
});

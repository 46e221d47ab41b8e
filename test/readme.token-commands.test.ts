import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { send } from "./sim/http-probe.js";
import { NOMAD_VERSIONS, NomadSimulator } from "./sim/index.js";
import { NomadCliDouble } from "./support/nomad-cli.js";

// The README's commands that write the token's Variable, checked as text (every `nomad var put` of every
// shell block) and run verbatim with `sh` against the Nomad simulator, through a stand-in for the `nomad`
// command that does what Nomad's CLI does at v1.6.5 and v2.0.5 (test/support/nomad-cli.ts). "The
// README" is README.md and the pages under docs/, wherever a section lives.

const ROOT = new URL("..", import.meta.url).pathname;
const README = (
  await Promise.all(["README.md", ...(await docsPages())].map((page) => readFile(join(ROOT, page), "utf8")))
).join("\n");
const VARIABLE = "nomad/jobs/idle-monitor";
const TOOLS = ["jq", "openssl", "xargs", "curl"];
const missingTools = TOOLS.filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
if (missingTools.length > 0 && process.env.CI)
  throw new Error(
    `the README's token commands need ${missingTools.join(", ")} (scripts/install-system-deps.sh)`,
  );

/** The Markdown pages under docs/, if there is such a folder. */
async function docsPages(): Promise<string[]> {
  try {
    const entries = await readdir(join(ROOT, "docs"), { recursive: true });
    return entries.filter((entry) => entry.endsWith(".md")).map((entry) => join("docs", entry));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** The README's shell blocks. */
function shellBlocks(): string[] {
  return [...README.matchAll(/^```(?:sh|bash)\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? "");
}

/** The one shell block that holds `marker`. */
function blockWith(marker: string): string {
  const found = shellBlocks().filter((block) => block.includes(marker));
  if (found.length !== 1) throw new Error(`${found.length} README shell blocks hold ${marker}`);
  return found[0] ?? "";
}

/** The line of a README shell block that holds `marker` (continuations joined). */
function lineWith(marker: string): string {
  const line = blockWith(marker)
    .replaceAll("\\\n", " ")
    .split("\n")
    .find((candidate) => candidate.includes(marker));
  return line ?? "";
}

/**
 * A shell script's pipelines, each a list of commands, each its words as the shell passes them (quotes
 * removed; `$(…)` kept whole; redirections and comments dropped) — enough for the README's blocks.
 */
function pipelines(script: string): string[][][] {
  const all: string[][][] = [];
  let pipeline: string[][] = [];
  let command: string[] = [];
  let word: string | undefined;
  let redirect = false;
  const endWord = () => {
    if (word !== undefined && !redirect) command.push(word);
    else if (word !== undefined) redirect = false;
    word = undefined;
  };
  const endCommand = () => {
    endWord();
    if (command.length > 0) pipeline.push(command);
    command = [];
  };
  const endPipeline = () => {
    endCommand();
    if (pipeline.length > 0) all.push(pipeline);
    pipeline = [];
  };
  for (let i = 0; i < script.length; i++) {
    const char = script[i] ?? "";
    const next = script[i + 1];
    if (char === "\\" && next === "\n") i++;
    else if (char === "#" && word === undefined) while (i + 1 < script.length && script[i + 1] !== "\n") i++;
    else if (char === "'") {
      const end = script.indexOf("'", i + 1);
      word = (word ?? "") + script.slice(i + 1, end);
      i = end;
    } else if (char === '"') {
      let text = "";
      for (i++; i < script.length && script[i] !== '"'; i++)
        text += script[i] === "\\" ? (script[++i] ?? "") : script[i];
      word = (word ?? "") + text;
    } else if (char === "$" && next === "(") {
      let depth = 0;
      const start = i;
      for (; i < script.length; i++) {
        if (script[i] === "(") depth++;
        if (script[i] === ")" && --depth === 0) break;
      }
      word = (word ?? "") + script.slice(start, i + 1);
    } else if (char === " " || char === "\t") endWord();
    else if (char === ">" || char === "<") {
      endWord();
      redirect = true;
    } else if (char === "|" && next !== "|") endCommand();
    else if ((char === "&" && next === "&") || (char === "|" && next === "|")) {
      i++;
      endPipeline();
    } else if (char === ";" || char === "\n") endPipeline();
    else word = (word ?? "") + char;
  }
  endPipeline();
  return all;
}

/** A command's words from `nomad` on, past any `NAME=value` assignments before it. */
function nomadCommand(words: string[]): string[] | undefined {
  const start = words.findIndex((word) => !/^[A-Z_][A-Z0-9_]*=/.test(word));
  return words[start] === "nomad" ? words.slice(start + 1) : undefined;
}

/** Go's flag package: flags up to the first positional; `-flag value` for the flags named in `valued`. */
function splitFlags(args: string[], valued: readonly string[]) {
  const flags = new Map<string, string>();
  let i = 0;
  for (; i < args.length; i++) {
    const match = /^--?([^=]+)(?:=(.*))?$/.exec(args[i] ?? "");
    if (!match || args[i] === "-") break;
    const [, name = "", inline] = match;
    flags.set(name, inline ?? (valued.includes(name) ? (args[++i] ?? "") : "true"));
  }
  return { flags, positionals: args.slice(i) };
}

describe("the README's nomad var put commands, as written", () => {
  const puts = shellBlocks().flatMap((block) =>
    pipelines(block).flatMap((pipeline) =>
      pipeline.flatMap((words, position) => {
        const args = nomadCommand(words);
        if (args?.[0] !== "var" || args[1] !== "put") return [];
        return [{ args: args.slice(2), position, pipeline, text: words.join(" ") }];
      }),
    ),
  );

  it("issue 19 item 11: every nomad var put in the README takes its items from standard input or a file, with check-and-set", () => {
    // Deploy step 3, without ACLs, rotation, the webhook secret (two), the HTTP token.
    expect(puts.length).toBeGreaterThanOrEqual(6);
    for (const { args, position, pipeline, text } of puts) {
      const { flags, positionals } = splitFlags(args, ["out", "in", "namespace", "check-index", "template"]);
      // -force writes without check-and-set (var_put.go: Update instead of CheckedUpdate).
      expect(flags.has("force"), text).toBe(false);
      // Output redirected: var put prints the Variable it wrote, secrets included, unless -out none.
      expect(flags.get("out"), text).toBe("none");
      // A key=value item: its value from standard input (-) or a file (@…), never the command line.
      const items = positionals.filter((arg) => arg.includes("="));
      for (const item of items) expect(item, text).toMatch(/^[^=]+=(-|@.+)$/);
      const specFromStdin = positionals[0] === "-" || positionals[1] === "-";
      if (specFromStdin) {
        expect(position, `${text}: fed by a pipe`).toBeGreaterThan(0);
        expect(flags.get("in"), text).toBe("json");
      }
      // Read back with var get: as JSON, which carries the ModifyIndex the write checks.
      for (const words of pipeline.slice(0, position)) {
        const get = nomadCommand(words);
        if (get?.[0] === "var" && get[1] === "get")
          expect(splitFlags(get.slice(2), ["out", "namespace", "item"]).flags.get("out"), text).toBe("json");
      }
    }
  });

  it("issue 19 item 11: no command in the README has a secret among its words", () => {
    const commands = shellBlocks().flatMap((block) => pipelines(block).flat());
    expect(commands.length).toBeGreaterThan(30);
    for (const words of commands)
      for (const word of words) {
        const text = words.join(" ");
        // A token or secret typed in: `NOMAD_TOKEN=<…>`, `Bearer <token>`, `-token=…`.
        expect(word, text).not.toMatch(/<[^>]*(token|secret)[^>]*>/i);
        expect(word, text).not.toMatch(/^--?token(=|$)/);
        // An environment variable holding one takes it from elsewhere: `NOMAD_TOKEN=$(cat)`, `read -rs`.
        const assigned = /^[A-Z_]*(TOKEN|SECRET)[A-Z_]*=(.*)$/s.exec(word);
        if (assigned) expect(assigned[2], text).toMatch(/^\$/);
      }
  });

  it("reads commands as the shell does", () => {
    const [[first, second] = []] = pipelines(`nomad var get -out json p \\\n  | jq '.a | .b' # note\n`);
    expect([first, second]).toEqual([
      ["nomad", "var", "get", "-out", "json", "p"],
      ["jq", ".a | .b"],
    ]);
    expect(pipelines('a > f && b "x y" $(c d) ; e || f')).toEqual([
      [["a"]],
      [["b", "x y", "$(c d)"]],
      [["e"]],
      [["f"]],
    ]);
  });
});

describe.skipIf(missingTools.length > 0).each(NOMAD_VERSIONS)(
  "the README's token commands, run against the simulator (Nomad %s)",
  (version) => {
    let sim: NomadSimulator;
    let double: NomadCliDouble;
    let dir: string;
    let work: string;
    /** Everything the blocks printed, every command line they ran, and every secret they made. */
    const printed: string[] = [];
    const commandLines: string[][] = [];
    const secrets = new Set<string>();

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "readme-token-"));
      work = join(dir, "work");
      await mkdir(work);
      // The README's commands name the policy files as nomad/…, from a clone.
      await symlink(join(ROOT, "nomad"), join(work, "nomad"));
    });

    afterAll(async () => {
      commandLines.push(...(double?.argvs ?? []));
      expect(commandLines.length).toBeGreaterThan(0);
      for (const secret of secrets) {
        expect(printed.filter((output) => output.includes(secret))).toEqual([]);
        expect(commandLines.filter((argv) => argv.some((arg) => arg.includes(secret)))).toEqual([]);
      }
      await double?.close();
      await sim?.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function cluster(options: { acl?: boolean } = {}) {
      await sim?.close();
      await double?.close();
      commandLines.push(...(double?.argvs ?? []));
      sim = await NomadSimulator.start({ version, ...options });
      double = await NomadCliDouble.start(sim, dir);
      for (const file of ["token.json", "webhook_secret", "http_token"])
        await rm(join(work, file), { force: true });
    }

    /** Runs the text with `sh` in the working directory, as an operator pasting it. */
    function run(script: string, env: Record<string, string> = {}) {
      return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn("sh", ["-c", script], {
          cwd: work,
          env: {
            PATH: `${double.binDir}:${process.env.PATH ?? ""}`,
            NOMAD_ADDR: sim.address,
            NOMAD_TOKEN: sim.managementToken,
            ...env,
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("close", (code) => {
          printed.push(stdout, stderr);
          resolve({ code, stdout, stderr });
        });
      });
    }

    async function items(namespace = "default"): Promise<Record<string, string> | undefined> {
      const response = await send(sim.address, "GET", `/v1/var/${VARIABLE}?namespace=${namespace}`, {
        token: sim.managementToken,
      });
      return response.status === 200 ? JSON.parse(response.body).Items : undefined;
    }

    async function fileOf(name: string): Promise<string> {
      const text = await readFile(join(work, name), "utf8");
      secrets.add(text);
      return text;
    }

    const tokenAccepted = async (secret: string) =>
      (await send(sim.address, "GET", "/v1/job/none", { token: secret })).status !== 403;

    const CREATE =
      "nomad acl token create -name=idle-monitor -policy=idle-monitor -type=client -json > token.json\n";
    const ROTATE = "--slurpfile new token.json '.Items.token = $new[0].SecretID'";

    it("issue 19 item 11: creating, adding webhook_secret and http_token, rotating: every item kept, no secret on a command line", async () => {
      await cluster();
      const created = await run(blockWith(CREATE));
      expect(created).toMatchObject({ code: 0, stderr: "" });
      const [first] = double.liveTokens;
      secrets.add(first?.secretId ?? "");
      expect(await items()).toEqual({ token: first?.secretId });
      expect(await tokenAccepted(first?.secretId ?? "")).toBe(true);
      expect(existsSync(join(work, "token.json"))).toBe(false);

      expect(await run(blockWith(".Items.webhook_secret = $secret"))).toMatchObject({ code: 0, stderr: "" });
      const webhookSecret = await fileOf("webhook_secret");
      expect(webhookSecret).toMatch(/^[0-9a-f]{64}$/);
      expect(await run(blockWith(".Items.http_token = $token"))).toMatchObject({ code: 0, stderr: "" });
      const httpToken = await fileOf("http_token");
      expect(await items()).toEqual({
        token: first?.secretId,
        webhook_secret: webhookSecret,
        http_token: httpToken,
      });

      expect(await run(blockWith(ROTATE))).toMatchObject({ code: 0, stderr: "" });
      const [second, ...others] = double.liveTokens;
      secrets.add(second?.secretId ?? "");
      expect(others).toEqual([]);
      expect(second?.secretId).not.toBe(first?.secretId);
      expect(await items()).toEqual({
        token: second?.secretId,
        webhook_secret: webhookSecret,
        http_token: httpToken,
      });
      expect(await tokenAccepted(first?.secretId ?? "")).toBe(false);
      expect(existsSync(join(work, "token.json"))).toBe(false);

      // Neither on a command line nor on the screen.
      for (const secret of [first?.secretId, second?.secretId, webhookSecret, httpToken].map(String)) {
        expect(double.argvs.filter((argv) => argv.some((arg) => arg.includes(secret)))).toEqual([]);
        expect(printed.filter((output) => output.includes(secret))).toEqual([]);
      }
      expect(double.argvs.length).toBeGreaterThanOrEqual(8);
    });

    it("issue 19 item 11: a rotation that loses the race to another writer writes nothing and deletes no token; run again, it does both", async () => {
      await cluster();
      expect((await run(blockWith(CREATE))).code).toBe(0);
      const [first] = double.liveTokens;
      secrets.add(first?.secretId ?? "");
      let raced = false;
      double.afterVarGet = () => {
        if (raced) return;
        raced = true;
        sim.putVariable("default", VARIABLE, { token: first?.secretId ?? "", note: "written meanwhile" });
      };

      const lost = await run(blockWith(ROTATE));
      expect(lost.code).not.toBe(0);
      expect(lost.stderr).toContain("Check-and-Set conflict");
      expect(await items()).toEqual({ token: first?.secretId, note: "written meanwhile" });
      expect(await tokenAccepted(first?.secretId ?? "")).toBe(true);
      for (const token of double.liveTokens) secrets.add(token.secretId);

      expect((await run(blockWith(ROTATE))).code).toBe(0);
      const [last, ...others] = double.liveTokens;
      secrets.add(last?.secretId ?? "");
      expect(others).toEqual([]);
      expect(await items()).toEqual({ token: last?.secretId, note: "written meanwhile" });
      expect(await tokenAccepted(first?.secretId ?? "")).toBe(false);
    });

    it("creates the Variable with the token and the webhook secret together, and never over an existing one", async () => {
      await cluster();
      expect((await run(lineWith('-description "nomad-idle-monitor action token"'))).code).toBe(0);
      expect((await run(lineWith("openssl rand -hex 32 | tr -d '\\n' > webhook_secret"))).code).toBe(0);
      const together = blockWith("Items: {token: .SecretID, webhook_secret: $secret}");
      expect(await run(together)).toMatchObject({ code: 0, stderr: "" });
      const written = await items();
      const [token] = double.liveTokens;
      secrets.add(token?.secretId ?? "");
      expect(written).toEqual({ token: token?.secretId, webhook_secret: await fileOf("webhook_secret") });

      const again = await run(together);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain("Check-and-Set conflict");
      expect(await items()).toEqual(written);
    });

    it("works in another namespace with NOMAD_NAMESPACE, as deploy step 3 says", async () => {
      await cluster();
      const ops = { NOMAD_NAMESPACE: "ops" };
      expect((await run(blockWith(CREATE), ops)).code).toBe(0);
      expect(await run(blockWith(".Items.http_token = $token"), ops)).toMatchObject({ code: 0, stderr: "" });
      expect(await run(blockWith(ROTATE), ops)).toMatchObject({ code: 0, stderr: "" });
      const [token] = double.liveTokens;
      secrets.add(token?.secretId ?? "");
      expect(await items("ops")).toEqual({ token: token?.secretId, http_token: await fileOf("http_token") });
      expect(await items("default")).toBeUndefined();
    });

    it("what the README says of other ways to write the Variable holds", async () => {
      await cluster();
      const all = { token: "old-token-0001", webhook_secret: "old-secret-0002", http_token: "old-http-0003" };
      for (const secret of Object.values(all)) secrets.add(secret);
      sim.putVariable("default", VARIABLE, all);
      // `nomad var put <path> token=…` refuses to write over an existing Variable…
      const plain = await run(`printf new-token-0004 | nomad var put -out none ${VARIABLE} token=-`);
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain("Check-and-Set conflict");
      expect(await items()).toEqual(all);
      // …and with -force replaces every item.
      const forced = await run(`printf new-token-0004 | nomad var put -force -out none ${VARIABLE} token=-`);
      expect(forced.code).toBe(0);
      expect(await items()).toEqual({ token: "new-token-0004" });
      secrets.add("new-token-0004");
      // A -namespace on var put other than the JSON's drops its ModifyIndex: it only creates.
      sim.putVariable("ops", VARIABLE, { token: "ops-token-0005" });
      secrets.add("ops-token-0005");
      const moved = await run(
        `nomad var get -out json ${VARIABLE} | nomad var put -namespace=ops -in json -out none -`,
      );
      expect(moved.code).not.toBe(0);
      expect(moved.stderr).toContain("Check-and-Set conflict");
      expect(await items("ops")).toEqual({ token: "ops-token-0005" });
    });

    it("writes the placeholder token of a cluster without ACLs", async () => {
      await cluster({ acl: false });
      expect(await run(lineWith("acl-disabled"))).toMatchObject({ code: 0, stderr: "" });
      expect(await items()).toEqual({ token: "acl-disabled" });
    });
  },
);

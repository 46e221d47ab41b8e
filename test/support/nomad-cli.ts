import { randomUUID } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { simulatorPolicyFromFile } from "../deploy/acl-policy.js";
import type { AclPolicy, NomadSimulator } from "../sim/index.js";
import type { NomadVariable } from "../sim/model.js";

/**
 * A stand-in for the `nomad` command, as far as the README's token commands use it, for running those
 * commands verbatim in a shell against the Nomad simulator: `var get`, `var put`, `acl policy apply`,
 * `acl token create|list|delete`. No Nomad binary can be installed where this is built. `var get` and
 * `var put` do what hashicorp/nomad `command/var_get.go`, `command/var_put.go`, `command/var.go`
 * (KVBuilder) and `api/variables.go` do at v1.6.5 and v2.0.5 — the same at both tags for everything
 * here but one: 2.0.5's `var put` may add a link to the web UI on standard error (unless
 * NOMAD_CLI_SHOW_HINTS=false, or the agent's UI configuration turns CLI hints off), which the double
 * leaves out — and send the same requests to the simulator's Variables API; ACL tokens and policies go
 * through the simulator's own methods (it has no ACL endpoints).
 *
 * The executable it puts on PATH is a shell script that hands its arguments, standard input and Nomad
 * environment to this process and prints the answer; every argument list is kept in `argvs`.
 */
export class NomadCliDouble {
  /** Every command line run, as the process list would have shown it. */
  readonly argvs: string[][] = [];
  /** Runs after each `var get` answered: a test's concurrent writer. */
  afterVarGet: (() => void) | undefined;

  readonly #policies = new Map<string, AclPolicy>();
  readonly #tokens: Array<{ accessorId: string; secretId: string; name: string; policies: string[] }> = [];
  #server: Server | undefined;

  private constructor(
    private readonly sim: NomadSimulator,
    /** Where the `nomad` executable is: put first on PATH. */
    readonly binDir: string,
  ) {}

  static async start(sim: NomadSimulator, dir: string): Promise<NomadCliDouble> {
    const binDir = join(dir, "bin");
    const double = new NomadCliDouble(sim, binDir);
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const callDir = Buffer.concat(chunks).toString("utf8");
        double
          .#answer(callDir)
          .then((code) => response.end(String(code)))
          .catch((error: unknown) => response.writeHead(500).end(String(error)));
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    double.#server = server;
    const { port } = server.address() as AddressInfo;
    await mkdir(binDir, { recursive: true });
    await writeFile(join(binDir, "nomad"), executable(`http://127.0.0.1:${port}/`));
    await chmod(join(binDir, "nomad"), 0o755);
    return double;
  }

  close(): Promise<void> {
    return new Promise((done) => (this.#server ? this.#server.close(() => done()) : done()));
  }

  /** The tokens created with `acl token create` and not deleted, newest last. */
  get liveTokens(): ReadonlyArray<{ accessorId: string; secretId: string; name: string }> {
    return this.#tokens;
  }

  /** One call of the executable: its arguments, standard input and environment in files of `callDir`. */
  async #answer(callDir: string): Promise<number> {
    const fields = async (name: string) => (await readFile(join(callDir, name), "utf8")).split("\0");
    const argv = (await fields("argv")).slice(0, -1);
    const [cwd = "", NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE] = await fields("env");
    const stdin = await readFile(join(callDir, "stdin"));
    const answer = await this.#run({ argv, stdin, cwd, env: { NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE } });
    await writeFile(join(callDir, "stdout"), answer.stdout);
    await writeFile(join(callDir, "stderr"), answer.stderr);
    return answer.code;
  }

  async #run(call: Invocation): Promise<Answer> {
    this.argvs.push(call.argv);
    const [group, command, ...rest] = call.argv;
    const context: Context = { ...call, sim: this.sim };
    try {
      if (group === "var" && command === "get") return await this.#varGet(context, rest);
      if (group === "var" && command === "put") return await this.#varPut(context, rest);
      if (group === "acl" && command === "policy" && rest[0] === "apply")
        return await this.#policyApply(context, rest.slice(1));
      if (group === "acl" && command === "token" && rest[0] === "create")
        return this.#tokenCreate(rest.slice(1));
      if (group === "acl" && command === "token" && rest[0] === "list") return this.#tokenList(rest.slice(1));
      if (group === "acl" && command === "token" && rest[0] === "delete")
        return this.#tokenDelete(rest.slice(1));
      return failure(`the double does not know "nomad ${call.argv.join(" ")}"`);
    } catch (error) {
      return failure(error instanceof Error ? error.message : String(error));
    }
  }

  async #policyApply(context: Context, args: string[]): Promise<Answer> {
    const { flags, positionals } = goFlags(args, {
      description: "string",
      namespace: "string",
      job: "string",
    });
    const [name, file] = positionals;
    if (!name || !file) return failure("This command takes two arguments: <name> and <path>");
    const policy = await simulatorPolicyFromFile(resolve(context.cwd, file));
    if (flags.job !== undefined)
      context.sim.attachPolicyToJob(String(flags.namespace ?? "default"), String(flags.job), policy);
    else this.#policies.set(name, policy);
    return success(`Successfully wrote "${name}" ACL policy!\n`);
  }

  #tokenCreate(args: string[]): Answer {
    const { flags } = goFlags(args, {
      name: "string",
      type: "string",
      policy: "list",
      global: "bool",
      json: "bool",
      t: "string",
    });
    const policies = (flags.policy as string[] | undefined) ?? [];
    const [only, ...others] = policies;
    if (flags.type !== "client" || only === undefined || others.length > 0)
      return failure("the double creates client tokens with one policy");
    const policy = this.#policies.get(only);
    if (!policy) return failure(`Error creating token: policy ${only} does not exist`);
    const token = {
      accessorId: randomUUID(),
      secretId: this.sim.createToken(policy),
      name: String(flags.name ?? ""),
      policies,
    };
    this.#tokens.push(token);
    // command/data_format.go: the JSON of api.ACLToken, indented by 4.
    if (flags.json) return success(`${JSON.stringify(aclToken(token), null, 4)}\n`);
    if (flags.t === "{{ .SecretID }}") return success(`${token.secretId}\n`);
    if (flags.t !== undefined) return failure("the double knows the template {{ .SecretID }} only");
    return success(`Accessor ID  = ${token.accessorId}\nSecret ID    = ${token.secretId}\n`);
  }

  #tokenList(args: string[]): Answer {
    const { flags } = goFlags(args, { json: "bool" });
    if (!flags.json) return failure("the double lists tokens with -json only");
    const stubs = this.#tokens.map(aclTokenStub);
    return success(`${JSON.stringify(stubs, null, 4)}\n`);
  }

  #tokenDelete(args: string[]): Answer {
    const [accessorId, ...extra] = args;
    if (accessorId === undefined || extra.length > 0)
      return failure("This command takes one argument: <token_accessor_id>");
    const index = this.#tokens.findIndex((token) => token.accessorId === accessorId);
    const [token] = index < 0 ? [] : this.#tokens.splice(index, 1);
    if (!token) return failure(`Error deleting token: Unexpected response code: 404 (ACL token not found)`);
    this.sim.revokeToken(token.secretId);
    return success(`Token ${accessorId} successfully deleted\n`);
  }

  async #varGet(context: Context, args: string[]): Promise<Answer> {
    const { flags, positionals } = goFlags(args, { namespace: "string", out: "string", item: "string" });
    const [path, ...extra] = positionals;
    if (path === undefined || extra.length > 0) return failure("This command takes one argument: <path>");
    const response = await request(context, "GET", `/v1/var/${trimPath(path)}`, namespaceOf(context, flags));
    if (response.status === 404) return failure("Error retrieving variable: Variable not found");
    if (response.status !== 200) return failure(`Error retrieving variable: ${responseError(response)}`);
    const variable = apiVariable(JSON.parse(response.body));
    this.afterVarGet?.();
    if (flags.item !== undefined) {
      const value = variable.Items[String(flags.item)];
      return value === undefined ? failure(`Variable does not contain "${flags.item}" item`) : success(value);
    }
    // Not a terminal: -out defaults to json (var_get.go).
    const out = flags.out ?? "json";
    if (out !== "json") return failure("the double prints -out json only");
    return success(`${JSON.stringify(variable, null, 2)}\n`);
  }

  /** `VarPutCommand.Run`, as far as JSON specs, key=value items and the -out formats go. */
  async #varPut(context: Context, args: string[]): Promise<Answer> {
    const { flags, positionals } = goFlags(args, {
      namespace: "string",
      in: "string",
      out: "string",
      force: "bool",
      "check-index": "string",
      verbose: "bool",
    });
    const inFormat = flags.in ?? "json";
    const out = flags.out ?? "json";
    if (inFormat !== "json") return failure("the double reads -in json only");
    if (positionals.length === 0) return failure("Not enough arguments (expected >1, got 0)");
    let [first, ...rest] = positionals as [string, ...string[]];
    if (rest.length === 0 && first !== "-" && !first.startsWith("@")) return failure("Must supply data");
    let path = "";
    let contents = "";
    // What is left to read of standard input: a specification read from it takes it all.
    let stdin = context.stdin.toString("utf8");
    if (first === "-") [contents, stdin] = [stdin, ""];
    else if (first.startsWith("@")) return failure("the double reads specifications from stdin only");
    else {
      path = trimPath(first);
      if (rest[0] === "-") {
        [contents, stdin] = [stdin, ""];
        rest = rest.slice(1);
      }
    }
    const metaNamespace = flags.namespace === undefined ? "" : String(flags.namespace);
    const variable = makeVariable(contents, path, metaNamespace);
    // KVBuilder refuses a second `-`; the first reads what is left (nothing after a specification).
    let stdinTaken = false;
    for (const pair of rest) {
      const equals = pair.indexOf("=");
      if (equals < 0)
        return failure(
          `Failed to parse K=V data: invalid key/value pair "${pair}": format must be key=value`,
        );
      const key = pair.slice(0, equals);
      let value = pair.slice(equals + 1);
      if (value.startsWith("@")) value = await readFile(resolve(context.cwd, value.slice(1)), "utf8");
      else if (value === "-") {
        if (stdinTaken)
          return failure(
            `Failed to parse K=V data: invalid key/value pair "${pair}": stdin already consumed`,
          );
        [stdinTaken, value, stdin] = [true, stdin, ""];
      }
      if (value === "") delete variable.Items[key];
      else variable.Items[key] = value;
    }
    if (flags["check-index"] !== undefined) variable.ModifyIndex = Number(flags["check-index"]);
    const cas = flags.force ? undefined : String(variable.ModifyIndex);
    const response = await request(
      context,
      "PUT",
      `/v1/var/${trimPath(variable.Path)}`,
      namespaceOf(context, flags),
      cas,
      JSON.stringify(variable),
    );
    if (response.status === 409) {
      const current = apiVariable(JSON.parse(response.body));
      return failure(
        `\nCheck-and-Set conflict\n\n    Your provided check-index (${variable.ModifyIndex}) does not match the\n    server-side index (${current.ModifyIndex}).`,
      );
    }
    if (response.status !== 200) return failure(`Error creating variable: ${responseError(response)}`);
    const written = apiVariable(JSON.parse(response.body));
    if (out === "json") return success(`${JSON.stringify(written, null, 2)}\n`);
    if (out !== "none") return failure("the double prints -out json or none only");
    return success(`Created variable "${written.Path}" with modify index ${written.ModifyIndex}\n`);
  }
}

interface Invocation {
  argv: string[];
  stdin: Buffer;
  cwd: string;
  /** Unset and empty alike, as Nomad's CLI takes them. */
  env: { NOMAD_ADDR?: string; NOMAD_TOKEN?: string; NOMAD_NAMESPACE?: string };
}

type Context = Invocation & { sim: NomadSimulator };

interface Answer {
  stdout: string;
  stderr: string;
  code: number;
}

const success = (stdout: string): Answer => ({ stdout, stderr: "", code: 0 });
const failure = (stderr: string): Answer => ({ stdout: "", stderr: `${stderr}\n`, code: 1 });

/**
 * api.Variable, the JSON `nomad var get -out json` prints and `nomad var put -in json` reads: the same
 * fields, in the same order, as the Variable the HTTP API answers.
 */
type ApiVariable = NomadVariable;

function apiVariable(body: Partial<ApiVariable>): ApiVariable {
  return {
    Namespace: body.Namespace ?? "",
    Path: body.Path ?? "",
    CreateIndex: body.CreateIndex ?? 0,
    ModifyIndex: body.ModifyIndex ?? 0,
    CreateTime: body.CreateTime ?? 0,
    ModifyTime: body.ModifyTime ?? 0,
    Items: { ...body.Items },
  };
}

/** `makeVariable`: a -namespace or a path argument that differs from the spec's resets its indexes. */
function makeVariable(contents: string, path: string, metaNamespace: string): ApiVariable {
  if (contents.length === 0) return apiVariable({ Path: path, Namespace: metaNamespace });
  // Go's json.Unmarshal of a null item into map[string]string stores "".
  const parsed = JSON.parse(contents) as Partial<ApiVariable>;
  const variable = apiVariable({
    ...parsed,
    Items: Object.fromEntries(Object.entries(parsed.Items ?? {}).map(([key, value]) => [key, value ?? ""])),
  });
  let reset = false;
  if (metaNamespace !== "" && metaNamespace !== variable.Namespace) {
    variable.Namespace = metaNamespace;
    reset = true;
  }
  if (path !== "" && path !== variable.Path) {
    variable.Path = path;
    reset = true;
  }
  if (reset) Object.assign(variable, { CreateIndex: 0, CreateTime: 0, ModifyIndex: 0, ModifyTime: 0 });
  return variable;
}

/** The JSON of api.ACLTokenListStub (api/acl.go): api.ACLToken without its SecretID. */
function aclTokenStub(token: { accessorId: string; name: string; policies: string[] }) {
  return {
    AccessorID: token.accessorId,
    Name: token.name,
    Type: "client",
    Policies: token.policies,
    Roles: null,
    Global: false,
    CreateTime: "2026-01-01T00:00:00Z",
    ExpirationTime: null,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

function aclToken(token: { accessorId: string; secretId: string; name: string; policies: string[] }) {
  const { AccessorID, ...rest } = aclTokenStub(token);
  return { AccessorID, SecretID: token.secretId, ...rest };
}

type FlagKind = "string" | "bool" | "list";

/** Go's flag package, as `nomad` parses: -flag or --flag, `=value` or the next argument; stops at the first positional. */
function goFlags(args: string[], known: Record<string, FlagKind>) {
  const flags: Record<string, string | boolean | string[]> = {};
  let index = 0;
  for (; index < args.length; index++) {
    const arg = args[index] ?? "";
    if (arg === "--") {
      index++;
      break;
    }
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match || arg === "-") break;
    const [, name = "", inline] = match;
    const kind = known[name];
    if (kind === undefined) throw new Error(`flag provided but not defined: -${name}`);
    if (kind === "bool") {
      flags[name] = inline === undefined ? true : inline === "true";
      continue;
    }
    const value = inline ?? args[++index];
    if (value === undefined) throw new Error(`flag needs an argument: -${name}`);
    flags[name] = kind === "list" ? [...((flags[name] as string[] | undefined) ?? []), value] : value;
  }
  return {
    flags: flags as Record<string, string | boolean | string[] | undefined>,
    positionals: args.slice(index),
  };
}

function trimPath(path: string): string {
  return path.trim().replace(/^\/+|\/+$/g, "");
}

/** The api client's namespace: the -namespace flag, else NOMAD_NAMESPACE; none sent when neither is set. */
function namespaceOf(context: Context, flags: Record<string, unknown>): string | undefined {
  return (flags.namespace as string | undefined) ?? (context.env.NOMAD_NAMESPACE || undefined);
}

async function request(
  context: Context,
  method: string,
  path: string,
  namespace: string | undefined,
  cas?: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(path, context.env.NOMAD_ADDR || "http://127.0.0.1:4646");
  if (namespace !== undefined) url.searchParams.set("namespace", namespace);
  if (cas !== undefined) url.searchParams.set("cas", cas);
  const headers: Record<string, string> = {};
  if (context.env.NOMAD_TOKEN) headers["X-Nomad-Token"] = context.env.NOMAD_TOKEN;
  const response = await fetch(url, { method, headers, body });
  return { status: response.status, body: await response.text() };
}

function responseError(response: { status: number; body: string }): string {
  return `Unexpected response code: ${response.status} (${response.body.trim()})`;
}

/**
 * The `nomad` on PATH: a shell script (a Node process per call would take most of a test's time) that
 * leaves its arguments, standard input and environment in a directory only it can read, hands the
 * directory to the double and prints what the double wrote there.
 */
function executable(url: string): string {
  return `#!/bin/sh
# The test's stand-in for the nomad command (test/support/nomad-cli.ts).
call=$(mktemp -d) || exit 99
trap 'rm -rf "$call"' EXIT
for arg in "$@"; do printf '%s\\0' "$arg"; done > "$call/argv"
if [ -p /dev/stdin ] || [ -f /dev/stdin ]; then cat > "$call/stdin"; else : > "$call/stdin"; fi
printf '%s\\0' "$PWD" "\${NOMAD_ADDR-}" "\${NOMAD_TOKEN-}" "\${NOMAD_NAMESPACE-}" > "$call/env"
code=$(curl -sf --data-binary "$call" ${url}) || exit 99
cat "$call/stdout"
cat "$call/stderr" >&2
exit "$code"
`;
}

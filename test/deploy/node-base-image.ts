import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, existsSync } from "node:fs";
import {
  access,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { dockerCli, imageExists } from "./docker-cli.js";

// No image registry is reachable here, so the Dockerfile's Node base is assembled from this
// machine: its own `node` and the libraries ldd lists, a shell (busybox-static), npm for the
// build stages, tini-static (Debian's docker.io depends on tini) and the CA bundle. Imported with
// `docker import` and tagged by a hash of everything that goes in, so it is built once per machine.

const REPOSITORY = "nomad-idle-monitor-test/node-base";
const BUSYBOX = "/bin/busybox";
const TINI_STATIC = "/usr/bin/tini-static";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
// Applets the Dockerfile and npm's scripts call; `env` also in /usr/bin for npm's shebang.
const APPLETS = ["sh", "test", "[", "env", "cat", "ls", "mkdir", "rm", "cp", "mv", "ln", "chmod", "uname"];
const CHANGES = ["LABEL nomad-idle-monitor.test=1", "ENV PATH=/usr/local/bin:/usr/bin:/bin", 'CMD ["node"]'];
const ETC = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  "etc/group": "root:x:0:\nnogroup:x:65534:\n",
};

const execFileAsync = promisify(execFile);

interface Sources {
  node: string;
  /** Path as the dynamic loader looks it up → file to copy there. */
  libraries: Map<string, string>;
  npmRoot: string;
}

/** The ref of the locally assembled Node base image, importing it first when this machine's inputs changed. */
export async function ensureNodeBaseImage(): Promise<string> {
  const sources = await locateSources();
  const ref = `${REPOSITORY}:${await contentHash(sources)}`;
  if (await imageExists(ref)) return ref;

  const rootfs = await mkdtemp(join(tmpdir(), "nomad-idle-monitor-node-base-"));
  try {
    await assembleRootfs(rootfs, sources);
    await importRootfs(rootfs, ref);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  return ref;
}

async function locateSources(): Promise<Sources> {
  for (const [path, hint] of [
    [BUSYBOX, "apt-get install busybox-static"],
    [TINI_STATIC, "apt-get install tini"],
    [CA_BUNDLE, "apt-get install ca-certificates"],
  ]) {
    if (!existsSync(path as string)) throw new Error(`The Node base image needs ${path}: ${hint}`);
  }
  const node = await realpath(process.execPath);
  const npmCli = await realpath(await onPath("npm"));
  return { node, libraries: await sharedLibraries(node), npmRoot: dirname(dirname(npmCli)) };
}

async function onPath(command: string): Promise<string> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error(`${command} not found on PATH`);
}

/** `ldd` lines: "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x…)". */
async function sharedLibraries(binary: string): Promise<Map<string, string>> {
  const { stdout } = await execFileAsync("ldd", [binary]);
  const libraries = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const path = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(0x/.exec(line)?.[1];
    if (path) libraries.set(path, await realpath(path));
  }
  if (libraries.size === 0) throw new Error(`ldd listed no libraries for ${binary}:\n${stdout}`);
  return libraries;
}

async function contentHash(sources: Sources): Promise<string> {
  const hash = createHash("sha256").update(JSON.stringify({ APPLETS, CHANGES, ETC }));
  const files = [
    sources.node,
    BUSYBOX,
    TINI_STATIC,
    CA_BUNDLE,
    ...sources.libraries.values(),
    ...(await filesUnder(sources.npmRoot)),
  ];
  for (const file of files) hash.update(file).update(await readFile(file));
  for (const path of sources.libraries.keys()) hash.update(path);
  return hash.digest("hex").slice(0, 16);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

async function assembleRootfs(rootfs: string, sources: Sources): Promise<void> {
  const at = (path: string) => join(rootfs, path);
  for (const dir of [
    "bin",
    "etc/ssl/certs",
    "root",
    "usr/bin",
    "usr/lib/node_modules",
    "usr/local/bin",
    "proc",
    "sys",
    "dev",
  ]) {
    await mkdir(at(dir), { recursive: true });
  }
  await mkdir(at("tmp"), { mode: 0o1777 });
  await cp(sources.node, at("usr/bin/node"));
  for (const [path, file] of sources.libraries) {
    await mkdir(dirname(at(path)), { recursive: true });
    await cp(file, at(path));
  }
  await cp(BUSYBOX, at("bin/busybox"));
  for (const applet of APPLETS) await symlink("busybox", at(`bin/${applet}`));
  await symlink("../../bin/busybox", at("usr/bin/env"));
  await cp(TINI_STATIC, at("usr/bin/tini-static"));
  await cp(CA_BUNDLE, at("etc/ssl/certs/ca-certificates.crt"));
  for (const [path, text] of Object.entries(ETC)) await writeFile(at(path), text);
  await cp(sources.npmRoot, at("usr/lib/node_modules/npm"), { recursive: true, verbatimSymlinks: true });
  await symlink("../lib/node_modules/npm/bin/npm-cli.js", at("usr/bin/npm"));
  await symlink("../lib/node_modules/npm/bin/npx-cli.js", at("usr/bin/npx"));
}

/** `tar … | docker import`: GNU tar keeps npm's long paths, which a hand-written ustar header cannot. */
async function importRootfs(rootfs: string, ref: string): Promise<void> {
  const tar = spawn("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const tarExit = new Promise<void>((resolve, reject) => {
    tar.on("error", reject);
    tar.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with ${code}`))));
  });
  const changes = CHANGES.flatMap((change) => ["--change", change]);
  await Promise.all([dockerCli(["import", ...changes, "-", ref], { stdin: tar.stdout }), tarExit]);
}

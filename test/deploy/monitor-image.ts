import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerCli, imageExists } from "./docker-cli.js";
import { ensureNodeBaseImage } from "./node-base-image.js";

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const REPOSITORY = "nomad-idle-monitor-test/monitor";
// What the Dockerfile reads (see .dockerignore): the image is rebuilt only when one of them changes.
const BUILD_INPUTS = [
  "Dockerfile",
  ".dockerignore",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
];
const BUILD_TIMEOUT_MS = 10 * 60_000;
const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export interface MonitorImage {
  readonly ref: string;
  readonly sizeBytes: number;
  /** Wall-clock time of the `docker build`; undefined when an image of these exact inputs already existed. */
  readonly buildMs: number | undefined;
}

let building: Promise<MonitorImage> | undefined;

/**
 * The project's Dockerfile built on the locally assembled Node base (no image registry is reachable).
 * Built at most once per process, and not at all when an image of the same inputs exists.
 */
export function buildMonitorImage(): Promise<MonitorImage> {
  building ??= build();
  return building;
}

async function build(): Promise<MonitorImage> {
  const base = await ensureNodeBaseImage();
  const ref = `${REPOSITORY}:${await inputsHash(base)}`;
  let buildMs: number | undefined;
  if (!(await imageExists(ref))) {
    const started = performance.now();
    await dockerCli(buildArgs(base, ref), { env: { DOCKER_BUILDKIT: "1" }, timeoutMs: BUILD_TIMEOUT_MS });
    buildMs = performance.now() - started;
    await removeSupersededImages(ref);
  }
  const size = await dockerCli(["image", "inspect", "--format", "{{.Size}}", ref]);
  return { ref, sizeBytes: Number(size.trim()), buildMs };
}

/** Earlier builds of the monitor image (other source versions); one still in use by a container stays. */
async function removeSupersededImages(current: string): Promise<void> {
  const refs = (await dockerCli(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY]))
    .split("\n")
    .filter((ref) => ref !== "" && ref !== current);
  for (const ref of refs) await dockerCli(["image", "rm", ref]).catch(() => undefined);
}

function buildArgs(base: string, ref: string): string[] {
  const args = [
    "build",
    "--progress=plain",
    // npm's registry is reachable from the host's network only.
    "--network=host",
    `--build-arg=NODE_IMAGE=${base}`,
    "--label=nomad-idle-monitor.test=1",
    `--tag=${ref}`,
  ];
  // The machine's registry CA (a TLS-intercepting proxy's, where there is one), as the Dockerfile's
  // optional BuildKit secret: NODE_EXTRA_CA_CERTS, else the system trust store, which holds it too.
  const ca = [process.env.NODE_EXTRA_CA_CERTS, SYSTEM_CA_BUNDLE].find((path) => path && existsSync(path));
  if (ca) args.push(`--secret=id=ca,src=${ca}`);
  return [...args, PROJECT_ROOT];
}

async function inputsHash(base: string): Promise<string> {
  const hash = createHash("sha256").update(base);
  const sources = (await readdir(join(PROJECT_ROOT, "src"), { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  for (const file of [...BUILD_INPUTS.map((name) => join(PROJECT_ROOT, name)), ...sources]) {
    hash.update(file.slice(PROJECT_ROOT.length)).update(await readFile(file));
  }
  return hash.digest("hex").slice(0, 16);
}

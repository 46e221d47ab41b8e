import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

// Debian's own client (docker.io): its BuildKit is built in. The newer `docker` first on PATH
// on some machines wants a buildx plugin for `docker build`.
const DOCKER_CLI = "/usr/bin/docker";
const STDERR_TAIL_LINES = 30;

export interface DockerCliOptions {
  /** Piped to the command's standard input. */
  readonly stdin?: Readable;
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the command after this long (it then rejects). */
  readonly timeoutMs?: number;
}

/** Runs `docker <args>` and resolves with its standard output; rejects with the tail of stderr on failure. */
export async function dockerCli(args: readonly string[], options: DockerCliOptions = {}): Promise<string> {
  return (await dockerCliOutput(args, options)).stdout;
}

/** Like dockerCli, with standard error too (e.g. `docker logs` copies a container's stderr there). */
export function dockerCliOutput(
  args: readonly string[],
  options: DockerCliOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER_CLI, args, {
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    if (options.stdin) options.stdin.pipe(child.stdin);
    else child.stdin.end();
    const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : undefined;
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const [out, err] = [Buffer.concat(stdout).toString("utf8"), Buffer.concat(stderr).toString("utf8")];
      if (code === 0) return resolve({ stdout: out, stderr: err });
      const tail = err.trimEnd().split("\n").slice(-STDERR_TAIL_LINES);
      const outcome = signal ? `was killed (${signal}) after ${options.timeoutMs} ms` : `exited with ${code}`;
      reject(new Error(`docker ${args[0]} ${outcome}:\n${tail.join("\n")}`));
    });
  });
}

/** True when the image exists locally. */
export async function imageExists(ref: string): Promise<boolean> {
  try {
    await dockerCli(["image", "inspect", "--format", "{{.Id}}", ref]);
    return true;
  } catch (error) {
    if (/No such (image|object)/i.test((error as Error).message)) return false;
    throw error;
  }
}

import { execFile } from "node:child_process";
import { entryPoint } from "./entry-points.js";
import { faketimeEnv } from "./faketime.js";

const ROOT = new URL("../..", import.meta.url).pathname;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `nomad-idle-monitor <args>` (src/cli.ts) with only PATH and the given environment. */
export function runCli(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [entryPoint("cli"), ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...faketimeEnv(), ...env }, timeout: 90_000 },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === "number" ? error.code : error ? -1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

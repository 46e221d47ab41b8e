import { spawn } from "node:child_process";
import { once } from "node:events";
import { onTestFinished } from "vitest";
import { faketimeEnv } from "../support/faketime.js";

export interface ChildOutput {
  code: number | null;
  stdout: string[];
  stderr: string[];
}

/** Runs `node --import tsx <args>` with only the given environment and collects its output line by line. */
export async function runNode(args: string[], env: Record<string, string>): Promise<ChildOutput> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    env: { PATH: process.env.PATH ?? "", ...faketimeEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // A child still running when its test ends (one that timed out) goes with it.
  onTestFinished(() => {
    child.kill("SIGKILL");
  });
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  child.stdout.on("data", (chunk: Buffer) => chunks.stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => chunks.stderr.push(chunk));
  const [code] = (await once(child, "close")) as [number | null];
  const lines = (parts: Buffer[]) => Buffer.concat(parts).toString("utf8").split("\n").filter(Boolean);
  return { code, stdout: lines(chunks.stdout), stderr: lines(chunks.stderr) };
}

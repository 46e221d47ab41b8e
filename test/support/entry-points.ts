import { join } from "node:path";
import { inject } from "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** src/ transpiled to JavaScript for this run (test/support/transpile-src.ts). */
    transpiledSrc: string;
  }
}

/** The monitor (`main`) or the CLI (`cli`) as JavaScript, for `node <path>`: see test/support/transpile-src.ts. */
export function entryPoint(name: "main" | "cli"): string {
  return join(inject("transpiledSrc"), `${name}.js`);
}

#!/usr/bin/env node
// nomad-idle-monitor's command-line tool (`status`, `wake`), run from an operator's machine like `nomad` itself.
import { EXIT, parseCommandLine } from "./cli/args.js";
import { runStatus } from "./cli/status-command.js";
import { runWake } from "./cli/wake-command.js";

async function main(argv: readonly string[]): Promise<number> {
  const io = { out: (text: string) => console.log(text), err: (text: string) => console.error(text) };
  const parsed = parseCommandLine(argv, process.env);
  switch (parsed.kind) {
    case "help":
      io.out(parsed.text);
      return EXIT.ok;
    case "usage-error":
      io.err(`Error: ${parsed.message}\n\n${parsed.help}`);
      return EXIT.usage;
    case "status":
      return runStatus(parsed.options, io);
    case "wake":
      return runWake(parsed.options, io);
  }
}

process.exitCode = await main(process.argv.slice(2));

import { readFileSync } from "node:fs";

// Under Debian's `faketime` (e.g. `faketime -f +200d npx vitest run`) the test process runs on a moved
// clock through a preloaded libfaketime. A process started with an environment of its own, or in a
// container, would run on the real clock and meet the simulator's times months apart: these put it on
// the test's clock. Outside faketime they add nothing.

const FAKETIME_VARIABLE = /^(FAKETIME(_\w+)?|DONT_FAKE_MONOTONIC)$/;

function faketimeVariables(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && FAKETIME_VARIABLE.test(entry[0]),
    ),
  );
}

/** For a child process on this machine: LD_PRELOAD and the FAKETIME variables, when set. */
export function faketimeEnv(): Record<string, string> {
  const variables = faketimeVariables();
  if (Object.keys(variables).length === 0 || process.env.LD_PRELOAD === undefined) return {};
  return { LD_PRELOAD: process.env.LD_PRELOAD, ...variables };
}

/**
 * For a container: the libfaketime this process loaded, mounted read-only at the same path and preloaded,
 * with the same offset. FAKETIME_SHARED is left out: it names semaphores in the host's /dev/shm, which the
 * container cannot see, and a relative offset (`-f +200d`) needs no shared start.
 */
export function faketimeForContainer(): { env: Record<string, string>; runFlags: string[] } {
  const { FAKETIME_SHARED: _shared, ...variables } = faketimeVariables();
  const library = loadedLibfaketime();
  if (Object.keys(variables).length === 0 || library === undefined) return { env: {}, runFlags: [] };
  return {
    env: { LD_PRELOAD: library, ...variables },
    runFlags: [`--mount=type=bind,source=${library},target=${library},readonly`],
  };
}

/** The path of the libfaketime mapped into this process, from /proc/self/maps. */
function loadedLibfaketime(): string | undefined {
  const maps = readFileSync("/proc/self/maps", "utf8");
  return /\s(\/\S*libfaketime\S*\.so[.\d]*)$/m.exec(maps)?.[1];
}

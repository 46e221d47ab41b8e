import fc from "fast-check";

// Bounded runs for every property file; a failure prints its seed, and FC_SEED=<seed> replays it.
// In CI the seed is fixed (unless FC_SEED says otherwise), so that a landing never depends on the draw:
// new seeds are explored on developers' machines, where a failure is a finding, not a blocked landing.
const CI_SEED = 20261201;
const seed = process.env.FC_SEED ?? (process.env.CI === "true" ? String(CI_SEED) : undefined);
fc.configureGlobal({ numRuns: 300, ...(seed === undefined ? {} : { seed: Number(seed) }) });

export { fc };

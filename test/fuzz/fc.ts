import fc from "fast-check";

// Bounded runs for every property file; a failure prints its seed, and FC_SEED=<seed> replays it.
fc.configureGlobal({
  numRuns: 300,
  ...(process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }),
});

export { fc };

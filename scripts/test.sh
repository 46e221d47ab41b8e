#!/bin/sh
# `npm test`: lint, type-check, generated-client freshness, then every test (unit, simulator contract,
# and integration against the real Docker Engine, which the test setup starts when none answers).
set -e
cd "$(dirname "$0")/.."
sh scripts/install-system-deps.sh
sh scripts/install-deps.sh
npx biome check .
npx tsc --noEmit
node scripts/check-generated.mjs
npx vitest run

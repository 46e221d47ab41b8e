#!/bin/sh
# `npm run demo`: the monitor against the built-in Nomad API simulator and the local Docker Engine.
set -e
cd "$(dirname "$0")/.."
sh scripts/install-system-deps.sh
sh scripts/install-deps.sh
exec node --import tsx scripts/demo.ts

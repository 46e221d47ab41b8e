#!/bin/sh
# Installs the Node dependencies when node_modules is missing or older than the lockfile, so that the
# README's commands work on a fresh clone.
set -e
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing Node dependencies (npm ci)..."
  npm ci --no-audit --no-fund --loglevel=error
fi

#!/bin/sh
# The Prometheus of the scrape test (test/prometheus.scrape.test.ts): one with nomad_sd_configs, which
# Debian's prometheus package (2.42) is built without. Built from source with Go once per machine, into
# a cache outside the repository, and reused while it is the right version. Prints the binary's path.
# Exits 3 when it cannot be built here: no Go toolchain.
set -e
module=github.com/prometheus/prometheus
version=v0.316.0 # the Go module version of Prometheus 3.16.0
release=3.16.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nomad-idle-monitor/prometheus-$version"
binary="$cache/prometheus"

is_built() { [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -q "^prometheus, version $release "; }

if is_built; then
  echo "$binary"
  exit 0
fi
go=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$go" ]; then
  echo "install-prometheus: no Go toolchain (go on PATH or /usr/local/go/bin/go) to build Prometheus $release with nomad_sd_configs" >&2
  exit 3
fi
mkdir -p "$cache"
# Another run may be building it: wait for that one instead of building it twice.
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then flock 9; fi
if ! is_built; then
  echo "Building Prometheus $release (with nomad_sd_configs) into $cache, once per machine: ~6 min on 2 cores..." >&2
  build=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$build"' EXIT
  GOBIN="$build" "$go" install -ldflags "-X github.com/prometheus/common/version.Version=$release" \
    "$module/cmd/prometheus@$version" >&2
  mv -f "$build/prometheus" "$binary"
  is_built || { echo "install-prometheus: $binary does not say it is version $release" >&2; exit 1; }
fi
echo "$binary"

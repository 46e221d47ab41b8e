#!/bin/sh
# The test world and the demo need a Docker Engine and a static busybox (for the local test image);
# the test of the README's token commands runs them, with jq, openssl and curl.
# As root on Debian/Ubuntu, installs what is missing from Debian's packages; otherwise says what to install.
set -e
missing=""
[ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ] || [ -S /var/run/docker.sock ] || missing="$missing docker.io"
command -v ip >/dev/null || missing="$missing iproute2"
dpkg -s busybox-static >/dev/null 2>&1 || missing="$missing busybox-static"
for tool in jq openssl curl; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing${missing} (Debian packages) for the Docker test world..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "The Docker test world needs:${missing}. Install them (e.g. sudo apt-get install${missing}) and run again." >&2
  exit 1
fi

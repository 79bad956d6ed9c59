#!/usr/bin/env bash
# Makes sure Debian's redis-server is installed: the sink's tests run against a
# real Redis (each test starts its own on a free loopback port).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
echo "ensure-redis: redis-server not found; installing Debian's redis-server" >&2
if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q redis-server >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q redis-server >/dev/null
}
# The package starts a system-wide instance on 6379; the tests do not use it.
command -v redis-server >/dev/null
redis-server --version >&2

#!/usr/bin/env bash
# Makes sure promtool (Prometheus's rule checker and rule unit-test runner) is
# available and prints its path on stdout. A promtool on PATH is used as is.
# Otherwise promtool is taken from Debian's prometheus package, unpacked into
# $TICKCOMPACT_CACHE (default /var/cache/tickcompact) rather than installed:
# installing the package would also start a Prometheus server on the host's
# port 9090, and promtool is a self-contained binary.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
CACHE=${TICKCOMPACT_CACHE:-/var/cache/tickcompact}/promtool
if [[ -x $CACHE/usr/bin/promtool ]]; then
  echo "$CACHE/usr/bin/promtool"
  exit 0
fi
log() { printf 'ensure-promtool: %s\n' "$*" >&2; }
log "promtool not found; unpacking it from Debian's prometheus package into $CACHE"
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get download prometheus >/dev/null; }; })
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$CACHE/usr/bin"
cp "$work/root/usr/bin/promtool" "$CACHE/usr/bin/promtool"
"$CACHE/usr/bin/promtool" --version 2>&1 | head -1 >&2
echo "$CACHE/usr/bin/promtool"

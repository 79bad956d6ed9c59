#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: the gateway's browser test
# (deploy/browsertest) drives a real headless Chromium through chromedp.
# Prints the browser's path on stdout.
set -euo pipefail
find_chromium() {
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}
if find_chromium; then
  exit 0
fi
echo "ensure-chromium: chromium not found; installing Debian's chromium" >&2
if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
}
find_chromium

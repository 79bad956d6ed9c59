#!/usr/bin/env bash
# make test-browser: the gateway's page in a real headless Chromium against the demo pipeline
# (deploy/browsertest, a Go module of its own so that chromedp stays out of the services' go.mod).
# Installs Debian's chromium and redis-server when missing. SCREENSHOT=PATH (relative to the
# repository) keeps the page's screenshot there, e.g. SCREENSHOT=docs/img/gateway.png.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export CGO_ENABLED=1
scripts/ensure-redis.sh >&2
browser=$(scripts/ensure-chromium.sh)
echo "browser-test: $("$browser" --version 2>/dev/null | head -1)" >&2
start=$(date +%s)
cd deploy/browsertest
status=0
BROWSERTEST_SCREENSHOT=${SCREENSHOT:-} $GO test -count=1 -timeout 10m -v ./... || status=$?
echo "browser-test: took $(( $(date +%s) - start ))s" >&2
exit "$status"

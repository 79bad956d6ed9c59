#!/usr/bin/env bash
# make test-containers: builds every image from the Dockerfile and runs
# docker-compose.yml, unchanged, on podman (TestContainers in
# internal/tools/deploycheck, under the build tag "containers"). Installs what it
# needs first: podman, runc and podman-compose (scripts/ensure-podman.sh), and
# the local stand-ins for the base images no registry serves here
# (deploy/standins/build.sh, cached between runs on this machine).
# Prints a line per step; fails naming the step.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
say() { printf 'test-containers: %s\n' "$*"; }

say "install podman, runc and podman-compose (scripts/ensure-podman.sh)"
PODMAN_COMPOSE=$(scripts/ensure-podman.sh) || { say "FAILED: installing podman"; exit 1; }
export PODMAN_COMPOSE
say "build the stand-in base images (deploy/standins/build.sh)"
deploy/standins/build.sh || { say "FAILED: building the stand-in base images"; exit 1; }
say "stand-ins ready after $((SECONDS - t0))s; running TestContainers"
# One run at a time on a machine: the compose file publishes Kafka on a fixed port.
exec 9>/tmp/tickcompact-test-containers.lock
flock -w 3600 9 || { say "FAILED: another make test-containers holds /tmp/tickcompact-test-containers.lock"; exit 1; }
status=0
go test -tags containers -run '^TestContainers$' -count=1 -v -timeout 75m ./internal/tools/deploycheck/ || status=$?
say "finished in $((SECONDS - t0))s (exit $status)"
exit $status

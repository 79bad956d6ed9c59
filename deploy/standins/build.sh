#!/usr/bin/env bash
# Builds the local stand-ins for the base images docker-compose.yml and the
# Dockerfile name, under those very names, so that podman runs both files
# unchanged on a machine that reaches no image registry. See README.md here
# for what each stand-in is and how it differs from the image it stands in for.
#
# Usage: deploy/standins/build.sh [PODMAN]
#
# Idempotent and cached on this machine:
#   - the Debian tree (debootstrap --variant=minbase bookworm) is kept as a
#     tarball in $TICKCOMPACT_CACHE/standins/ (default /var/cache/tickcompact);
#   - each image carries a label with a hash of everything it is built from
#     (its directory here, the base tree, the Go toolchain, the Kafka jars),
#     and is rebuilt only when that hash changes.
# Nothing is assumed to be there: an empty cache rebuilds everything (a few
# minutes: debootstrap, a JRE, the Go toolchain copied from this host).
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/../.." && pwd)
PODMAN=${1:-podman}
CACHE=${TICKCOMPACT_CACHE:-/var/cache/tickcompact}/standins
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LABEL=tickcompact.standin.inputs

BASE=localhost/tickcompact-standin/debian:bookworm-minbase
# stand-in directory -> the name the project's files use.
declare -A IMAGES=(
  [golang]=docker.io/library/golang:1.26-bookworm
  [distroless-base]=gcr.io/distroless/base-debian12:nonroot
  [kafka]=docker.io/apache/kafka:4.1.2
  [redis]=docker.io/library/redis:7.4
  [prometheus]=docker.io/prom/prometheus:v3.5.0
)
ORDER=(golang distroless-base kafka redis prometheus)

log() { printf 'standins: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock -w 1800 8 || die "another build holds $CACHE/.lock"

# hash_of FILE...: one hash over the content of the files and directories given.
hash_of() {
  local path
  for path in "$@"; do
    if [[ -d $path ]]; then
      (cd "$path" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    else
      printf '%s\n' "$path"
    fi
  done | sha256sum | cut -c1-16
}

label_of() { "$PODMAN" image inspect --format "{{index .Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- the Debian tree
TREE=$CACHE/bookworm-minbase.tar
if [[ ! -s $TREE ]]; then
  command -v debootstrap >/dev/null || die "debootstrap not found (scripts/ensure-podman.sh installs it)"
  log "debootstrap --variant=minbase bookworm (about a minute or two) ..."
  dir=$(mktemp -d "$CACHE/tree.XXXXXX")
  if ! debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    rm -rf "$dir"
    die "debootstrap failed (log: $CACHE/debootstrap.log)"
  fi
  # What Debian's own container images do: no daemon started by a package's
  # install script, no recommends, no package lists or caches left behind.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$dir/etc/apt/apt.conf.d/90standin"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
  tar -C "$dir" --numeric-owner -cf "$TREE.tmp" .
  rm -rf "$dir"
  mv "$TREE.tmp" "$TREE"
fi
tree_hash=$(stat -c '%s-%Y' "$TREE")
if [[ $(label_of "$BASE") != "$tree_hash" ]]; then
  log "importing the Debian tree as $BASE"
  "$PODMAN" import --change "LABEL $LABEL=$tree_hash" --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$TREE" "$BASE" >/dev/null
fi

# ---------------------------------------------------------------- inputs from this host
GOROOT=$(go env GOROOT)
go_version=$(go env GOVERSION)
[[ $go_version == go1.26* ]] || die "the golang:1.26 stand-in copies this host's Go toolchain, which is $go_version"
# Certificate authorities this host adds to Debian's (a TLS-inspecting proxy's),
# which the builder needs to reach the Go module proxy as the host does.
LOCAL_CA=/usr/local/share/ca-certificates
mkdir -p "$LOCAL_CA"

# The Kafka jars, resolved from Maven Central by scripts/kafka-local.sh and
# kept in ~/.m2; staged into the kafka build context.
kafka_jars() {
  local cpfile
  cpfile=$(KAFKA_STATE_DIR=$CACHE/kafka-local "$ROOT/scripts/kafka-local.sh" fetch)
  tr ':' '\n' <"$cpfile"
}

# ---------------------------------------------------------------- the images
build() {
  local dir=$1 name=${IMAGES[$1]} want ctx
  local -a extra=()
  case $dir in
  golang) want=$(hash_of "$HERE/$dir" "$tree_hash" "$go_version" "GOROOT=$GOROOT" "$LOCAL_CA") ;;
  kafka) want=$(hash_of "$HERE/$dir" "$tree_hash" $(kafka_jars | xargs -n1 basename | sort)) ;;
  *) want=$(hash_of "$HERE/$dir" "$tree_hash") ;;
  esac
  if [[ $(label_of "$name") == "$want" ]]; then
    log "$name: up to date"
    return
  fi
  log "$name: building from deploy/standins/$dir"
  ctx=$HERE/$dir
  case $dir in
  golang)
    extra=(--volume "$GOROOT:/mnt/goroot:ro" --volume "$LOCAL_CA:/mnt/local-ca:ro" --build-arg "GO_VERSION=${go_version#go}")
    ;;
  kafka)
    ctx=$(mktemp -d)
    cp -a "$HERE/$dir/." "$ctx/"
    mkdir -p "$ctx/libs"
    kafka_jars | xargs -I{} cp {} "$ctx/libs/"
    ;;
  esac
  local t0=$SECONDS
  # --layers=false: no intermediate images left behind (the label above
  # decides when to rebuild).
  if ! "$PODMAN" build --pull=never --layers=false --label "$LABEL=$want" --build-arg "BASE=$BASE" "${extra[@]}" \
    -t "$name" "$ctx" >"$CACHE/build-$dir.log" 2>&1; then
    tail -n 30 "$CACHE/build-$dir.log" >&2
    die "$name: build failed (log: $CACHE/build-$dir.log)"
  fi
  [[ $ctx == "$HERE/$dir" ]] || rm -rf "$ctx"
  log "$name: built in $((SECONDS - t0))s"
}

for dir in "${ORDER[@]}"; do
  build "$dir"
done

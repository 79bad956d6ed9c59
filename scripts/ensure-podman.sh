#!/usr/bin/env bash
# Makes sure a container engine that runs the project's Dockerfile and
# docker-compose.yml is installed: Debian's podman with runc, netavark and
# aardvark-dns (bridge networks with name resolution; netavark needs iptables
# for their NAT, which podman only suggests), debootstrap (the
# stand-in base images start from a Debian tree, see deploy/standins/) and
# podman-compose 1.6.0 from PyPI in a virtualenv of its own. Debian's
# podman-compose (1.0.3) predates the depends_on conditions the compose file
# uses (service_healthy, service_completed_successfully).
#
# Writes the engine settings this kind of host needs to
# /etc/containers/containers.conf (an existing file is edited, not replaced):
#   [containers] default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
#       podman's defaults raise the open-files and process limits, which a
#       host without CAP_SYS_RESOURCE refuses ("setrlimit ... operation not
#       permitted"); 4096 is within what such a host allows.
#   [engine] runtime = "runc", cgroup_manager = "cgroupfs"
#       crun refuses the hybrid cgroup layout; without systemd there is no
#       systemd cgroup manager.
#
# Idempotent; prints the podman-compose path on stdout (the last line).
# Environment: TICKCOMPACT_CACHE (default /var/cache/tickcompact) holds the
# virtualenv.
set -euo pipefail

COMPOSE_VERSION=1.6.0
CACHE=${TICKCOMPACT_CACHE:-/var/cache/tickcompact}
VENV=$CACHE/podman-compose-$COMPOSE_VERSION
CONF=/etc/containers/containers.conf

log() { printf 'ensure-podman: %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap iptables:iptables; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
[[ -x /usr/lib/podman/netavark ]] || missing+=(netavark)
[[ -x /usr/lib/podman/aardvark-dns ]] || missing+=(aardvark-dns)
if ((${#missing[@]} > 0)); then
  log "installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q podman runc debootstrap iptables netavark aardvark-dns >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q podman runc debootstrap iptables netavark aardvark-dns >/dev/null
  }
fi

# set_key SECTION KEY VALUE: sets KEY = VALUE under [SECTION] of $CONF,
# replacing an uncommented KEY there, adding the section when missing.
set_key() {
  local section=$1 key=$2 value=$3 tmp
  tmp=$(mktemp)
  awk -v section="[$section]" -v key="$key" -v line="$key = $value" '
    function flush() { if (in_section && !done) { print line; done = 1 } }
    /^[[:space:]]*\[/ {
      flush()
      in_section = ($0 ~ "^[[:space:]]*\\[" substr(section, 2, length(section) - 2) "\\][[:space:]]*$")
    }
    in_section && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" { if (!done) { print line; done = 1 }; next }
    { print }
    END {
      if (in_section && !done) { print line; done = 1 }
      if (!done) { print ""; print section; print line }
    }' "$CONF" >"$tmp"
  if ! cmp -s "$tmp" "$CONF"; then
    $SUDO cp "$tmp" "$CONF"
    log "$CONF: [$section] $key = $value"
  fi
  rm -f "$tmp"
}

$SUDO mkdir -p "$(dirname "$CONF")"
[[ -f $CONF ]] || $SUDO touch "$CONF"
set_key containers default_ulimits '["nofile=4096:4096", "nproc=4096:4096"]'
set_key engine runtime '"runc"'
set_key engine cgroup_manager '"cgroupfs"'

if [[ ! -x $VENV/bin/podman-compose ]] || ! "$VENV/bin/podman-compose" --version 2>/dev/null | grep -q "$COMPOSE_VERSION"; then
  log "installing podman-compose $COMPOSE_VERSION from PyPI into $VENV"
  rm -rf "$VENV"
  $SUDO mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "podman-compose==$COMPOSE_VERSION" >&2
fi

podman --version >&2
echo "$VENV/bin/podman-compose"

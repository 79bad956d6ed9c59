#!/bin/sh
# collect.sh ROOTFS PACKAGE...: copies the files of the installed Debian
# packages into ROOTFS (a tree with nothing else), plus the CA bundle that
# ca-certificates generates at install time, and the users and directories
# distroless images have.
set -eu
rootfs=$1
shift
mkdir -p "$rootfs"
list=$(mktemp)
# Merged /usr: keep the top-level links (/lib -> usr/lib ...) and list every
# file under the directory it really lives in.
for link in bin sbin lib lib64; do
  [ -L "/$link" ] && echo "$link" >>"$list"
done
dpkg -L "$@" | while read -r path; do
  [ -d "$path" ] && [ ! -L "$path" ] && continue
  [ -e "$path" ] || [ -L "$path" ] || continue
  dir=$(realpath "$(dirname "$path")")
  echo "${dir#/}/$(basename "$path")"
done >>"$list"
(cd / && find etc/ssl/certs -mindepth 1) >>"$list"
(cd / && sort -u "$list" | tar --no-recursion -cf - -T -) | tar -C "$rootfs" -xf -
rm -f "$list"
cat >"$rootfs/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<GROUP
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
GROUP
mkdir -p "$rootfs/root" "$rootfs/home/nonroot" "$rootfs/tmp"
chmod 700 "$rootfs/root"
chown 65532:65532 "$rootfs/home/nonroot"
chmod 1777 "$rootfs/tmp"

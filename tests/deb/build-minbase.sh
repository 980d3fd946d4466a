#!/usr/bin/env bash
# Build (once) a plain minbase Debian tree of SUITE — what a fresh Debian
# machine has before netroot's .deb is installed — for tests/deb/install-test.sh.
# Apart from tests/support/build-rootfs.sh because that tree is a migration
# source (kernel, grub, fixtures) and already has rsync and friends, which
# would hide a missing Depends.
#   usage: build-minbase.sh SUITE [CACHE_DIR]   (default /var/cache/netroot-tests)
# Prints the tree's path on stdout. Rebuilt when this recipe changes.
set -euo pipefail
suite=${1:?usage: build-minbase.sh SUITE [CACHE_DIR]}
cache=${2:-${NETROOT_TEST_CACHE:-/var/cache/netroot-tests}}
mirror=${NETROOT_TEST_MIRROR:-http://deb.debian.org/debian}
# man-db so the test can ask `man -w` where the pages went.
include=man-db
recipe_hash=$( { cat "$0"; echo "$suite $mirror $include"; } | sha256sum | cut -c1-16)
tree=$cache/minbase-$suite-$recipe_hash
if [ -f "$tree/.netroot-minbase-complete" ]; then echo "$tree"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/.build-minbase-$suite.lock"
flock 9
if [ -f "$tree/.netroot-minbase-complete" ]; then echo "$tree"; exit 0; fi
# A half-built tree from a killed run: nothing may be mounted below it.
if [ -d "$tree" ]; then
  if findmnt -rn -o TARGET | grep -q "^$tree"; then
    echo "build-minbase: $tree has mounts below it; unmount them first" >&2; exit 1
  fi
  rm -rf --one-file-system "$tree"
fi
echo "build-minbase: debootstrap --variant=minbase $suite into $tree" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$tree" "$mirror" >&2
rm -f "$tree"/var/cache/apt/archives/*.deb
touch "$tree/.netroot-minbase-complete"
echo "$tree"

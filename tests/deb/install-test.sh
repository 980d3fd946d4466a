#!/usr/bin/env bash
# The .deb installs and runs on a fresh Debian: build it with cargo-deb, then
# in a minbase bookworm and trixie tree (cached, tests/deb/build-minbase.sh)
# `apt-get install ./netroot_*.deb` must pull in its Depends from the mirror,
# and the installed netroot must validate and dry-run a shipped example plan
# and have its man pages and completions where Debian looks for them.
#   usage: bash tests/deb/install-test.sh [SUITE...]   (as root; default: bookworm trixie)
# Why a script and not a cargo test: it needs a release build and cargo-deb
# (a cargo inside `cargo test` would fight over the target directory), and
# the first run debootstraps two trees. CI runs it from .ci/run.
#
# Safety: each chroot is an overlay over the cached tree, mounted (with its
# /proc) only inside `unshare -m --propagation private`, so every mount goes
# away with that namespace; /dev is never bind-mounted. The scratch directory
# is removed with --one-file-system, and only after findmnt shows nothing
# mounted below it.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, mount, chroot)"
for t in debootstrap unshare chroot findmnt; do
  command -v "$t" >/dev/null || fail "$t is missing (bash .ci/deps installs it)"
done
cargo deb --version >/dev/null 2>&1 || fail "cargo-deb is missing: cargo install cargo-deb --locked"
suites=("$@"); [ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)
target=${CARGO_TARGET_DIR:-target}
start=$SECONDS

cargo build --release
rm -f "$target"/debian/netroot_*.deb
cargo deb --no-build
deb=$(ls "$target"/debian/netroot_*.deb)
echo "deb-test: built $deb ($(du -h "$deb" | cut -f1))"

for suite in "${suites[@]}"; do
  tree=$(bash tests/deb/build-minbase.sh "$suite")
  scratch=/var/tmp/netroot-tests/deb-$suite-$$
  mkdir -p "$scratch"/{upper,work,root}
  cp "$deb" "$scratch/netroot.deb"
  echo "deb-test: $suite: installing into an overlay of $tree"
  rc=0
  unshare -m --propagation private bash -euo pipefail -c '
    tree=$1 s=$2
    mount -t overlay overlay -o "lowerdir=$tree,upperdir=$s/upper,workdir=$s/work" "$s/root"
    r=$s/root
    cp "$s/netroot.deb" "$r/tmp/"
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    # No service may start inside the chroot.
    printf "#!/bin/sh\nexit 101\n" > "$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
    mount -t proc proc "$r/proc"
    ch() { chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
    ch apt-get update -q
    ch apt-get install -y -q /tmp/netroot.deb
    set -x
    ch netroot --version
    ch netroot plan validate /usr/share/doc/netroot/examples/debootstrap-image.json
    ch sh -c "cd /tmp && netroot migrate --plan /usr/share/doc/netroot/examples/debootstrap-image.json --dry-run" > "$s/dry-run.txt"
    grep -q . "$s/dry-run.txt"
    ch man -w netroot-migrate | grep -qx /usr/share/man/man1/netroot-migrate.1.gz
    ch man -w netroot-server-apply >/dev/null
    ch sh -c "zcat /usr/share/man/man1/netroot.1.gz | grep -q netroot"
    for f in /usr/share/bash-completion/completions/netroot /usr/share/zsh/vendor-completions/_netroot \
             /usr/share/fish/vendor_completions.d/netroot.fish /usr/share/doc/netroot/plan.md; do
      test -s "$r$f"
    done
    # Every docs page the help and the messages point to, where they say.
    for f in $(ch netroot --help | grep -o "/usr/share/doc/netroot/[a-z/]*" | sort -u) \
             /usr/share/doc/netroot/server.md /usr/share/doc/netroot/boot.md \
             /usr/share/doc/netroot/troubleshooting.md /usr/share/doc/netroot/hardware.md; do
      test -e "$r$f" || { echo "$f is named by netroot but not installed" >&2; exit 1; }
    done
    ch dpkg -s netroot | grep "^Depends:"
  ' deb-test "$tree" "$scratch" || rc=$?
  if findmnt -rn -o TARGET | grep -q "^$scratch"; then
    fail "$suite: something is still mounted below $scratch; not removing it"
  fi
  rm -rf --one-file-system "$scratch"
  [ "$rc" = 0 ] || fail "$suite: the installed package did not work (exit $rc; output above)"
  echo "deb-test: $suite: ok"
done
echo "deb-test: all passed in $((SECONDS - start)) s"

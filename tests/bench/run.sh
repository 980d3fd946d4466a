#!/usr/bin/env bash
# The whole benchmark of issue #15 in one run: migration vs by hand, copy vs
# dd and rsync, initramfs size and build time (tests/bench/migrate.sh), and
# diskless boot vs local boot over iSCSI and AoE (tests/bench/boot.sh), on
# the test tree and on a tree of 200,000+ small files; one table at the end
# with each ratio next to its goal. Not a test: nothing fails on a ratio.
#
#   usage: sudo tests/bench/run.sh [MANY_FILES_TREE]
#     MANY_FILES_TREE: the 200k-file tree; default: made (once) by
#     tests/bench/many-files-tree.sh in $NETROOT_BENCH_DIR/many-files when
#     that script exists, else the large-tree half is skipped (said so).
#   env: NETROOT_BENCH_TABLE_FROM=LOGDIR (print only the table, from the
#        stage logs in LOGDIR of an earlier run), NETROOT_BENCH_DIR (/var/tmp/netroot-bench), NETROOT_BENCH_ROUNDS
#        (migrate.sh, 2), NETROOT_BENCH_BOOT_ROUNDS (boot.sh, 3), and the
#        vm-tests variables boot.sh passes on (NETROOT_VM_CACHE, ...).
#
# The large tree is the vm-tests source system with the 200k files under
# /srv/bench-extra (boot.sh builds it), so that on it, too, the whole
# migration runs (kernel, initramfs, GRUB) and the result boots.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
base=${NETROOT_BENCH_DIR:-/var/tmp/netroot-bench}
export NETROOT_BENCH_DIR=$base
mkdir -p "$base"
many=${1:-}
if [ -z "$many" ] && [ -z "${NETROOT_BENCH_TABLE_FROM:-}" ] && [ -x "$here/many-files-tree.sh" ]; then
  many=$base/many-files
  echo "bench: making (or reusing) the 200k-file tree in $many"
  "$here/many-files-tree.sh" "$many"
fi
log=${NETROOT_BENCH_TABLE_FROM:-$base/run-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$log"
echo "bench: logs in $log; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# stage NAME COMMAND...: run a stage, its output in $log/NAME.log, its
# BENCH-* lines kept.
stage() {
  local name=$1
  shift
  echo "bench: $name: $*"
  local t0=$SECONDS
  if ! "$@" >"$log/$name.log" 2>&1; then
    echo "bench: $name failed (status $?); the end of $log/$name.log:"
    tail -n 15 "$log/$name.log" | sed 's/^/    | /'
  fi
  echo "bench: $name took $((SECONDS - t0)) s"
}

if [ -n "${NETROOT_BENCH_TABLE_FROM:-}" ]; then
  # Only the table, from the logs of an earlier run (its stages' logs).
  [ -z "$many" ] && [ -e "$log/boot-big.log" -o -e "$log/migrate-big.log" ] && many=$log
else
  stage boot-test "$here/boot.sh"
  stage migrate-test "$here/migrate.sh"
  if [ -n "$many" ]; then
    # boot.sh builds the big system (source system + MANY_FILES_TREE) first.
    NETROOT_BENCH_DIR=$base/big stage boot-big "$here/boot.sh" "$many"
    stage migrate-big "$here/migrate.sh" "$base/big/boot/tree-extra"
  fi
fi

# val LOG KEY: KEY's value on the BENCH-* lines of LOG (empty if none).
val() { grep -ho "\b$2=[^ ]*" "$log/$1.log" 2>/dev/null | tail -n 1 | cut -d= -f2; }
# bootval LOG KIND: KIND's best boot time on LOG's BENCH-BOOT lines.
bootval() { { grep -ho "BENCH-BOOT $2 best=[^ ]*" "$log/$1.log" 2>/dev/null || true; } | cut -d= -f2; }
# sec LOG KEY: a time to 0.1 s.
sec() {
  local v
  v=$(val "$1" "$2")
  if [ -n "$v" ]; then printf '%.1f' "$v"; else echo -; fi
}
num() {
  local v
  v=$(val "$1" "$2")
  echo "${v:-0}"
}
ratio() {
  if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ]; then
    echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'
  else echo -; fi
}
# met RATIO GOAL: yes / no / -.
met() {
  [ "$1" = - ] && { echo -; return; }
  [ "$(echo "$1 <= $2" | bc)" = 1 ] && echo yes || echo no
}
row() { printf '%-40s %-10s %8s %8s %6s\n' "$@"; }

echo
echo "netroot benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
row ratio tree value goal met
trees=(test)
[ -n "$many" ] && trees+=(big)
for t in "${trees[@]}"; do
  m=migrate-$t b=boot-$t
  r=$(ratio "$(sec "$m" whole)" "$(sec "$m" hand)")
  row "whole migration / by hand" "$t" "$r" "<=0.80" "$(met "$r" 0.80)"
  r=$(ratio "$(sec "$m" copy)" "$(sec "$m" dd)")
  row "copy step / dd of the same bytes" "$t" "$r" "<=1.50" "$(met "$r" 1.50)"
  r=$(ratio "$(sec "$m" copy)" "$(sec "$m" rsync)")
  row "copy step / rsync -aHAXx" "$t" "$r" "<=1.10" "$(met "$r" 1.10)"
  r=$(ratio "$(val "$m" initrd_netroot)" "$(val "$m" initrd_hand)")
  row "initramfs size netroot / by hand" "$t" "$r" "<=0.50" "$(met "$r" 0.50)"
  r=$(ratio "$(sec "$m" initrd_netroot_s)" "$(sec "$m" initrd_hand_s)")
  row "initramfs build time netroot / by hand" "$t" "$r" "-" "-"
  local_s=$(bootval "$b" local)
  for k in iscsi aoe; do
    s=$(bootval "$b" "$k")
    r=$(ratio "$s" "$local_s")
    row "diskless boot ($k) / local boot" "$t" "$r" "<=1.30" "$(met "$r" 1.30)"
  done
done
echo
echo "times (s, best of rounds) and sizes:"
for t in "${trees[@]}"; do
  m=migrate-$t b=boot-$t
  echo "  $t: migrate whole $(sec "$m" whole), by hand $(sec "$m" hand), copy $(sec "$m" copy)," \
    "rsync $(sec "$m" rsync), dd $(sec "$m" dd) ($(($(num "$m" bytes) / 1048576)) MiB," \
    "$(val "$m" entries) entries); initramfs $(($(num "$m" initrd_netroot) / 1048576)) MiB" \
    "in $(sec "$m" initrd_netroot_s) s vs by hand $(($(num "$m" initrd_hand) / 1048576)) MiB" \
    "in $(sec "$m" initrd_hand_s) s"
  grep -h '^BENCH-BOOT' "$log/$b.log" 2>/dev/null | sed "s/^BENCH-BOOT/  $t: power-on to multi-user,/"
done

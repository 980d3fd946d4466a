#!/usr/bin/env bash
# Benchmark (issue #15.4): power-on to multi-user.target of one system booted
# from a local virtio disk, and the same system migrated by netroot and booted
# diskless over iSCSI and over AoE — the same QEMU machine, memory, CPUs and
# TCG for all three, through vm-tests' own functions (vm-tests/lib.sh, run),
# so the boots are the ones the vm-tests prove correct. Not a test: it prints
# times, spreads and a phase breakdown, no assertion.
#
#   usage: sudo tests/bench/boot.sh [EXTRA_DIR]
#     EXTRA_DIR: a tree copied into the system under /srv/bench-extra before
#     it is imaged and migrated (tests/bench/run.sh passes the 200k-file tree)
#   env: NETROOT_BENCH_BOOT_ROUNDS (3; best and spread over the rounds),
#        NETROOT_BENCH_DIR (/var/tmp/netroot-bench), NETROOT_VM_CACHE,
#        NETROOT_VM_TIMEOUT (as vm-tests)
#
# Times are the host's, from QEMU's start to a line on the serial console:
#   grub    GRUB's first output (before it: firmware, and for diskless iPXE's
#           DHCP and sanboot; iPXE writes to VGA only)
#   load    GRUB's "Loading Linux" (its menu wait is over; netroot's grub.cfg
#           prints it, the hand-made local one does not)
#   kernel  "Linux version" (GRUB has read the kernel and the initramfs)
#   init    "Run /init" (the initramfs starts)
#   root    systemd's first line (the initramfs has switched to the real root)
#   multi   the facts unit's first line: the unit starts once
#           multi-user.target is reached (the marker: power-on to
#           multi-user). Not systemd's "Reached target multi-user.target"
#           status line: on a loaded host systemd drops status lines the
#           slow serial console cannot take, and some boots had none.
# plus the guest's own `systemd-analyze time` (the facts unit prints it).
# QEMU is stopped once the guest printed systemd-analyze (no shutdown waited
# for). Each diskless round boots a fresh copy of the migrated image, as the local
# boots run from a throw-away snapshot of the source image: every round is a
# first boot.
# Output ends with lines `BENCH-BOOT KIND best=S spread=S rounds=N` for
# tests/bench/run.sh.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench: run as root (loop devices, netns, tgtd)" >&2; exit 1; }
if [ -z "${NETROOT_VM_UNSHARED:-}" ]; then
  NETROOT_VM_UNSHARED=1 exec unshare -m --propagation private bash "$0" "$@" </dev/null
fi
bench_dir=$(cd "$(dirname "$0")" && pwd)
extra=${1:-}
rounds=${NETROOT_BENCH_BOOT_ROUNDS:-3}
work=${NETROOT_BENCH_DIR:-/var/tmp/netroot-bench}/boot
NETROOT_VM_OUT=$work
export NETROOT_VM_OUT

# vm-tests' functions without its driver.
NETROOT_VM_LIB_ONLY=1
. "$bench_dir/../../vm-tests/run"
NETROOT=${CARGO_TARGET_DIR:-$REPO/target}/debug/netroot
(cd "$REPO" && cargo build --quiet --bin netroot) || die "cargo build failed"
mkdir -p "$work"

trap run_cleanups EXIT
build_sources
run_cleanups

# With EXTRA_DIR: the source tree plus EXTRA_DIR under /srv/bench-extra, and
# its own bootable image (once; a stamp names what it was built from).
if [ -n "$extra" ]; then
  extra=$(cd "$extra" && pwd)
  big=$work/tree-extra
  stamp="$SRC_TREE $extra"
  if [ "$(cat "$big.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building $big: $SRC_TREE plus $extra under /srv/bench-extra"
    [ -d "$big" ] && rm -rf --one-file-system "$big"
    rsync -aHAXS --numeric-ids "$SRC_TREE/" "$big/"
    mkdir -p "$big/srv/bench-extra"
    rsync -aHAX --numeric-ids "$extra/" "$big/srv/bench-extra/"
    rm -f "$big.img"
    hand_image "$big" "$big.img" netroot-src local
    run_cleanups
    echo "$stamp" >"$big.stamp"
  fi
  SRC_TREE=$big SRC_IMAGE=$big.img
fi
log "source tree $SRC_TREE ($(find "$SRC_TREE" -xdev | wc -l) entries), image $SRC_IMAGE"

MARKS=(grub load kernel init root multi)
declare -A MARK_RE=(
  [grub]='.'
  [load]='Loading Linux'
  [kernel]='Linux version '
  [init]='Run /init as init process'
  [root]='systemd\[1\]: systemd [0-9]'
  [multi]='NETROOT-FACTS-BEGIN'
)

# stamp_serial SERIAL PID (QEMU_WATCH): while QEMU runs, the host time of
# each marker's first appearance, into SERIAL.times (NAME SECONDS lines).
stamp_serial() {
  local serial=$1 pid=$2 t0 m now
  t0=$(date +%s.%N)
  local -A seen=()
  : >"$serial.times"
  while kill -0 "$pid" 2>/dev/null; do
    now=$(date +%s.%N)
    for m in "${MARKS[@]}"; do
      [ -n "${seen[$m]:-}" ] && continue
      if grep -aqE -- "${MARK_RE[$m]}" "$serial"; then
        seen[$m]=1
        printf '%s %.2f\n' "$m" "$(echo "$now - $t0" | bc)" >>"$serial.times"
      fi
    done
    # Everything measured is in once the guest printed systemd-analyze:
    # power off now rather than wait for the guest's own shutdown.
    # A kernel panic (on a heavily loaded host TCG guests panicked with
    # "IO-APIC + timer doesn't work!") ends the round without a time.
    if grep -aq -e 'NETROOT-FACT settled-failed-units=' -e 'end Kernel panic' "$serial"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
}
QEMU_WATCH=stamp_serial

# boot_round KIND N: one boot; prints KIND N and the marker times.
boot_round() {
  local kind=$1 n=$2 name
  name=$kind-$n
  (
    set -e
    trap run_cleanups EXIT
    case $kind in
      local)
        qemu_run "$name" "$QEMU_TIMEOUT" - \
          -drive "file=$SRC_IMAGE,format=raw,if=virtio,snapshot=on" \
          -netdev user,id=n0 -device "$GUEST_NIC" || true
        ;;
      iscsi)
        cp --sparse=always "$SCEN_OUT/migrated.img" "$SCEN_OUT/disk.img"
        iscsi_boot "$name" "$SCEN_OUT/plan.json" bench-iscsi
        ;;
      aoe)
        cp --sparse=always "$SCEN_OUT/migrated.img" "$SCEN_OUT/disk.img"
        aoe_boot "$name" "$SCEN_OUT/plan.json" bench-aoe
        ;;
    esac
  ) || log "$name: the round failed (status $?)"
  report_round "$kind" "$n" "$SCEN_OUT/$name.serial"
}

# report_round KIND N SERIAL: one line per boot; the multi time in $kind.multi.
report_round() {
  local kind=$1 n=$2 serial=$3 line m t an
  line="$kind round $n:"
  for m in "${MARKS[@]}"; do
    t=$(sed -n "s/^$m //p" "$serial.times")
    line="$line $m ${t:--}"
  done
  an=$(fact systemd-analyze "$serial" | head -n 1)
  echo "$line | systemd-analyze: ${an:-none}"
  t=$(sed -n 's/^multi //p' "$serial.times")
  [ -n "$t" ] && echo "$t" >>"$work/$kind.multi"
  grep -q 'NETROOT-FACT systemd-analyze=' "$serial" || log "$kind round $n: the guest did not print its facts (see $serial)"
  if grep -aq 'end Kernel panic' "$serial"; then
    log "$kind round $n: the guest kernel panicked: $(grep -a -m 1 'Kernel panic' "$serial" | tr -d '\r')"
  fi
}

# migrated KIND TARGET-JSON HOST: netroot migrate of the source onto
# SCEN_OUT/disk.img, kept as migrated.img for the rounds.
migrated() {
  local kind=$1 target=$2 host=$3
  (
    set -e
    trap run_cleanups EXIT
    write_plan "$SCEN_OUT/plan.json" "$target" "$(dir_source)" "$host"
    migrate "$SCEN_OUT/plan.json"
  )
  mv "$SCEN_OUT/disk.img" "$SCEN_OUT/migrated.img"
}

rm -f "$work"/*.multi
for kind in local iscsi aoe; do
  SCEN_OUT=$work/$kind
  rm -rf --one-file-system "$SCEN_OUT"
  mkdir -p "$SCEN_OUT"
done
SCEN_OUT=$work/iscsi
TGT_PORT=$(free_port)
migrated iscsi "$(iscsi_target iqn.2024-01.org.netroot.bench:boot "$SCEN_OUT/disk.img")" bench-iscsi
SCEN_OUT=$work/aoe
migrated aoe "$(aoe_target "$SCEN_OUT/disk.img")" bench-aoe
# Rounds interleave the three kinds, so a change in the machine's load
# (other jobs) falls on all of them alike.
for ((r = 1; r <= rounds; r++)); do
  for kind in local iscsi aoe; do
    SCEN_OUT=$work/$kind
    boot_round "$kind" "$r"
  done
done
rm -f "$work"/*/*.img

# breakdown KIND: the phases of KIND's fastest round, from its marker times.
breakdown() {
  local kind=$1 f best="" t n
  for f in "$work/$kind"/*.serial.times; do
    t=$(sed -n 's/^multi //p' "$f")
    [ -n "$t" ] || continue
    if [ -z "$best" ] || [ "$(echo "$t < $n" | bc)" = 1 ]; then best=$f n=$t; fi
  done
  [ -n "$best" ] || return 0
  local -A at=([start]=0)
  while read -r m t; do at[$m]=$t; done <"$best"
  # No "Loading Linux" line (the hand-made grub.cfg): the menu wait is 0.
  [ -n "${at[load]:-}" ] || at[load]=${at[grub]:-0}
  d() { echo "${at[$2]:-0} - ${at[$1]:-0}" | bc | sed 's/^\./0./; s/^-\./-0./'; }
  printf '  %-6s firmware+iPXE %6s  GRUB menu %5s  GRUB reads kernel+initrd %6s  kernel %6s  initramfs %6s  userspace %6s  = %s\n' \
    "$kind" "$(d start grub)" "$(d grub load)" "$(d load kernel)" "$(d kernel init)" "$(d init root)" "$(d root multi)" "$n"
}

echo
echo "phases of each kind's fastest round (host seconds; see the head of this script):"
for kind in local iscsi aoe; do breakdown "$kind"; done
echo
echo "power-on to multi-user.target, host seconds, $rounds rounds (QEMU TCG, -cpu max -m 1024 -smp 2):"
for kind in local iscsi aoe; do
  f=$work/$kind.multi
  if [ ! -s "$f" ]; then
    echo "BENCH-BOOT $kind best=- spread=- rounds=0"
    continue
  fi
  best=$(sort -g "$f" | head -n 1)
  worst=$(sort -g "$f" | tail -n 1)
  echo "BENCH-BOOT $kind best=$best spread=$(echo "$worst - $best" | bc) rounds=$(wc -l <"$f")"
done

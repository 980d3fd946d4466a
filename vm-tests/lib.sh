# vm-tests common library: cleanup stack, process handling, iSCSI/AoE
# exports, QEMU runs and assertions on the facts a guest prints.
# Sourced by vm-tests/run; every function expects `set -euo pipefail`.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$VM_DIR")
OUT=${NETROOT_VM_OUT:-$VM_DIR/out}
CACHE=${NETROOT_VM_CACHE:-/var/cache/netroot-vm}
QEMU_TIMEOUT=${NETROOT_VM_TIMEOUT:-300}
# The guest's MAC: vblade only answers it, dnsmasq and the plans name it.
GUEST_MAC=52:54:00:4e:52:01
# The guest NIC sits in PCI slot 8 in every scenario (whatever disks the
# guest has), so systemd names it ens8 ($GUEST_IF, source.sh) and the
# source's ifupdown stanza fits.
GUEST_NIC="virtio-net-pci,netdev=n0,mac=$GUEST_MAC,addr=0x8"

log() { printf 'vm-tests: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---- cleanup stack ---------------------------------------------------------
# Each scenario runs in a subshell with `trap run_cleanups EXIT`; everything
# it starts or creates pushes its undo here, undone in reverse order.
CLEANUPS=()
defer() { CLEANUPS+=("$*"); }
run_cleanups() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUPS[i]}" || log "cleanup failed: ${CLEANUPS[i]}"
  done
  CLEANUPS=()
}

# stop_pid PID: TERM, wait up to 10 s, then KILL. Only PIDs we started.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# detach_loops IMAGE: detach every loop device backed by IMAGE.
detach_loops() {
  local dev
  for dev in $(losetup -j "$1" -O NAME -n 2>/dev/null); do
    losetup -d "$dev" || true
  done
}

# free_port: a TCP port on 127.0.0.1 nobody listens on.
free_port() {
  local p
  for ((p = 13260 + RANDOM % 2000; ; p++)); do
    if ! ss -Hltn "sport = :$p" | grep -q .; then
      echo "$p"
      return
    fi
  done
}

# ---- images ------------------------------------------------------------------
# with_loop IMAGE: attach IMAGE with partitions as LOOP (not in a command
# substitution: the detach is deferred in this shell) and make sure the
# partition nodes exist (no udev here).
with_loop() {
  local img=$1 i
  LOOP=$(losetup -f --show -P "$img")
  defer "detach_loops '$img'"
  for ((i = 0; i < 50; i++)); do
    if ls "${LOOP}"p* >/dev/null 2>&1; then break; fi
    partx -u "$LOOP" 2>/dev/null || true
    sleep 0.1
  done
}

# mount_image_root IMAGE: mount the root filesystem of a migrated IMAGE (the
# ext4 partition with an /etc/fstab) read-write at IMG_ROOT, to plant a
# scenario's marker; unmount_image_root IMAGE lets go of it.
mount_image_root() {
  local img=$1 part
  with_loop "$img"
  IMG_ROOT=$(mktemp -d /var/tmp/netroot-vm-mnt.XXXXXX)
  defer "umount '$IMG_ROOT' 2>/dev/null; rmdir '$IMG_ROOT' 2>/dev/null; true"
  for part in "${LOOP}"p*; do
    [ "$(blkid -p -s TYPE -o value "$part" 2>/dev/null)" = ext4 ] || continue
    mount "$part" "$IMG_ROOT"
    [ -f "$IMG_ROOT/etc/fstab" ] && return 0
    umount "$IMG_ROOT"
  done
  die "no root filesystem in $img"
}
unmount_image_root() {
  umount "$IMG_ROOT"
  rmdir "$IMG_ROOT"
  detach_loops "$1"
}

# root_uuid IMAGE: the filesystem UUID of the partition the harness
# expects / on: the last partition that is not swap or vfat.
root_uuid() {
  local img=$1 dev part uuid="" type
  dev=$(losetup -f --show -r -P "$img")
  for ((i = 0; i < 50; i++)); do
    ls "${dev}"p* >/dev/null 2>&1 && break
    partx -u "$dev" 2>/dev/null || true
    sleep 0.1
  done
  for part in "${dev}"p*; do
    type=$(blkid -p -s TYPE -o value "$part" 2>/dev/null || true)
    case $type in ext4 | xfs | btrfs) uuid=$(blkid -p -s UUID -o value "$part") ;; esac
  done
  losetup -d "$dev"
  echo "$uuid"
}

# ---- exports -------------------------------------------------------------------
# server_files PLAN [OPTIONS...]: the export, DHCP and iPXE files `netroot
# server` generates from PLAN, in $SCEN_OUT/srv (TFTP root srv/tftp).
server_files() {
  local plan=$1
  shift
  rm -rf "$SCEN_OUT/srv"
  "$NETROOT" server --plan "$plan" --out "$SCEN_OUT/srv" \
    --tftp-root "$SCEN_OUT/srv/tftp" "$@" >"$SCEN_OUT/server.log" 2>&1 ||
    die "netroot server failed: $(tail -3 "$SCEN_OUT/server.log")"
}

# tgtd_start: tgtd on 127.0.0.1:$TGT_PORT (guests reach it as 10.0.2.2;
# pick the port with free_port before writing the plan) with its own
# control port, so it never meets another tgtd. Sets TGT_PID, TGT_CTL.
tgtd_start() {
  local dir=$SCEN_OUT i
  local ctl=$((TGT_PORT - 10000))
  tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$TGT_PORT" >"$dir/tgtd.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/tgtd.pid"
  TGT_PID=$pid TGT_CTL=$ctl
  defer "tgt_stop $pid $ctl"
  for ((i = 0; i < 100; i++)); do
    tgtadm -C "$ctl" --mode sys --op show >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "tgtd exited at start: $(tail -3 "$dir/tgtd.log")"
    sleep 0.1
  done
  log "tgtd pid $pid listens on 127.0.0.1:$TGT_PORT (control port $ctl)"
}

# tgt_export HOST: tgtd plus the target from netroot server's
# iscsi/tgtadm-HOST.sh.
tgt_export() {
  tgtd_start
  TGT_CONTROL_PORT=$TGT_CTL sh "$SCEN_OUT/srv/iscsi/tgtadm-$1.sh" >>"$SCEN_OUT/tgtd.log" 2>&1 ||
    die "srv/iscsi/tgtadm-$1.sh failed: $(tail -3 "$SCEN_OUT/tgtd.log")"
}
tgt_stop() {
  local pid=$1 ctl=$2
  # tgtd ignores SIGTERM while targets exist.
  tgtadm -C "$ctl" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
  tgtadm -C "$ctl" --op delete --mode sys >/dev/null 2>&1 || true
  stop_pid "$pid"
}

# netns_up: a network namespace with tap0 (10.77.0.1/24, fd77::1/64) for
# the guest's layer-2 segment. Sets NETNS.
netns_up() {
  NETNS=netroot-vm-$$-$BASHPID
  ip netns add "$NETNS"
  defer "ip netns del '$NETNS'"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" tuntap add dev tap0 mode tap
  ip -n "$NETNS" addr add 10.77.0.1/24 dev tap0
  ip -n "$NETNS" addr add fd77::1/64 dev tap0 nodad
  ip -n "$NETNS" link set tap0 up
}

# vblade_export HOST: netroot server's aoe/run-vblade-HOST.sh (vblade on
# tap0, answering only the guest's MAC) inside NETNS.
vblade_export() {
  ip netns exec "$NETNS" sh "$SCEN_OUT/srv/aoe/run-vblade-$1.sh" >"$SCEN_OUT/vblade.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$SCEN_OUT/vblade.pid"
  defer "stop_pid $pid"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || die "vblade exited at start: $(tail -3 "$SCEN_OUT/vblade.log")"
  log "vblade pid $pid runs srv/aoe/run-vblade-$1.sh in $NETNS"
}

# dnsmasq_up: dnsmasq in NETNS with netroot server's dnsmasq-netroot.conf
# (DHCP on tap0, TFTP of the iPXE script), plus router adverts so iPXE does
# not wait for IPv6, and no DNS.
dnsmasq_up() {
  ip netns exec "$NETNS" dnsmasq --keep-in-foreground \
    --conf-file="$SCEN_OUT/srv/dhcp/dnsmasq-netroot.conf" \
    --no-resolv --no-hosts --port=0 --user=root \
    --dhcp-range=fd77::,ra-only --enable-ra \
    --dhcp-leasefile="$SCEN_OUT/dnsmasq.leases" --pid-file= \
    --log-dhcp --log-facility="$SCEN_OUT/dnsmasq.log" &
  local pid=$!
  echo "$pid" >"$SCEN_OUT/dnsmasq.pid"
  defer "stop_pid $pid"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || die "dnsmasq exited at start: $(tail -3 "$SCEN_OUT/dnsmasq.log")"
}

# ---- QEMU ------------------------------------------------------------------------
# qemu_run NAME TIMEOUT [NETNS|-] QEMU-ARGS...: run QEMU (TCG) with the serial
# console in $SCEN_OUT/NAME.serial. Returns QEMU's status; 124 = timed out.
qemu_run() {
  local name=$1 tmo=$2 ns=$3
  shift 3
  local serial=$SCEN_OUT/$name.serial
  local -a pre=()
  [ "$ns" != - ] && pre=(ip netns exec "$ns")
  : >"$serial"
  log "qemu $name (timeout ${tmo}s), serial log $serial"
  timeout "$tmo" "${pre[@]}" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 \
    -nodefaults -display none -monitor none -serial "file:$serial" -no-reboot \
    "$@" >"$SCEN_OUT/$name.qemu.log" 2>&1 &
  local pid=$! t0=$SECONDS
  echo "$pid" >"$SCEN_OUT/$name.qemu.pid"
  defer "stop_pid $pid"
  # QEMU_WATCH FUNCTION: called with the serial log and QEMU's PID while
  # the guest runs (the outage-* scenarios stop and start the target).
  if [ -n "${QEMU_WATCH:-}" ]; then "$QEMU_WATCH" "$serial" "$pid"; fi
  local rc=0
  wait "$pid" || rc=$?
  if [ "$rc" = 124 ]; then
    log "qemu $name: still running at its bound of ${tmo}s, stopped; the serial log ends: $(tr -d '\r' <"$serial" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-160)"
  else
    log "qemu $name: status $rc after $((SECONDS - t0)) s"
  fi
  return $rc
}

# ---- facts -------------------------------------------------------------------------
# fact NAME SERIAL: every value of a fact the guest printed (one a line).
fact() {
  tr -d '\r' <"$2" | sed -n "s/^.*NETROOT-FACT $1=//p"
}

# expect WHAT CONDITION...: record an assertion; failures are collected so
# one run shows every broken fact.
EXPECT_FAILED=0
expect() {
  local what=$1
  shift
  if "$@"; then
    log "  ok: $what"
  else
    log "  FAIL: $what"
    # Kept for the summary at the end of the run (CI shows only the tail).
    if [ -n "${SCEN_OUT:-}" ]; then printf '%s\n' "$what" >>"$SCEN_OUT/failed-checks"; fi
    EXPECT_FAILED=1
  fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
matches() { grep -qE -- "$2" <<<"$1"; }

# assert_booted NAME RC: QEMU powered off by itself, the guest printed its
# facts, and shutdown finished.
assert_booted() {
  local name=$1 rc=$2 serial=$SCEN_OUT/$1.serial
  expect "$name: QEMU exited by itself within its bound (status $rc)" test "$rc" -eq 0
  expect "$name: the guest printed its facts" grep -q NETROOT-FACTS-END "$serial"
  expect "$name: the kernel powered off" grep -q 'reboot: Power down' "$serial"
}

# assert_migrated NAME IMAGE HOSTNAME: hostname and fstab are the
# migrated ones and / is the image's root filesystem.
assert_migrated() {
  local name=$1 img=$2 host=$3 serial=$SCEN_OUT/$1.serial uuid
  uuid=$(root_uuid "$img")
  expect "$name: the image has a root filesystem UUID ($uuid)" test -n "$uuid"
  expect "$name: / is mounted by UUID $uuid" test "$(fact root-uuid "$serial")" = "$uuid"
  expect "$name: hostname is $host" test "$(fact hostname "$serial")" = "$host"
  expect "$name: fstab mounts / by UUID=$uuid" \
    matches "$(fact fstab "$serial")" "^UUID=$uuid[[:space:]]+/[[:space:]]"
  expect "$name: fstab no longer names /dev/sda1" \
    bash -c '[ -n "$1" ] && ! grep -q "^/dev/sda1" <<<"$1"' _ "$(fact fstab "$serial")"
  expect "$name: ifupdown has $GUEST_IF up (shutdown goes through netroot's drop-ins)" \
    contains "$(fact ifupdown "$serial")" "$GUEST_IF=$GUEST_IF"
  expect "$name: no failed units ($(fact failed-units "$serial"))" \
    bash -c 'grep -q "NETROOT-FACT failed-units=[[:space:]]*$" "$1"' _ "$serial"
}

# assert_waits_for_target NAME: netroot's boot settings make a server
# reboot stall the root's I/O instead of failing it (a day at most).
assert_waits_for_target() {
  local name=$1 serial=$SCEN_OUT/$1.serial
  # (/dev/etherd holds aoe's control files whenever the module is loaded:
  # the iSCSI session tells the transports apart.)
  if [ -n "$(fact iscsi-session "$serial" | grep '^tcp:')" ]; then
    expect "$name: the root's iSCSI session waits a day to recover (recovery_tmo $(fact iscsi-recovery-tmo "$serial"))" \
      test "$(fact iscsi-recovery-tmo "$serial" | tr -d ' ')" = 86400
  else
    expect "$name: AoE waits a day for a dead target (aoe_deadsecs $(fact aoe-deadsecs "$serial"))" \
      test "$(fact aoe-deadsecs "$serial")" = 86400
  fi
}

# show_tail NAME [LINES]: the end of a serial log, for failures, without
# the firmware's and systemd's colour codes.
show_tail() {
  local f=$SCEN_OUT/$1.serial n=${2:-40}
  [ -f "$f" ] || return 0
  log "---- last $n lines of $f ----"
  tail -n "$n" "$f" | tr -d '\r' | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/^/    | /' -e '$a\' >&2
  log "----"
}

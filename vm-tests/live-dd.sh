#!/bin/sh
# Why: issue #15 asks how netroot's copy compares with the raw speed of the
# network disk it writes. The live-* vm-tests put this script on the guest's
# NRVM-IO disk as before-migrate.sh; the facts script runs it right before
# `netroot migrate`, so it writes the disk before netroot partitions it.
# It writes as many bytes as / uses (what the copy will roughly write) with
# dd (4 MiB blocks, O_DIRECT) and prints NETROOT-FACT dd-seconds/dd-bytes.
# dd.env next to it names the disk: DD_TRANSPORT=aoe with DD_SHELF,
# DD_SLOT; or iscsi with DD_PORTAL, DD_IQN, DD_LUN and DD_INITIATOR (the
# only initiator name the target admits, the plan's).
. /run/netroot-vm/dd.env
fact() { echo "NETROOT-FACT $1=$2"; }

count=$(df -B4M --output=used / | tail -n 1 | tr -d ' ')
# DD_MAX_MIB caps it (the rate is what is compared).
if [ -n "${DD_MAX_MIB:-}" ] && [ "$count" -gt $((DD_MAX_MIB / 4)) ]; then count=$((DD_MAX_MIB / 4)); fi
# SysRq from the harness's QEMU monitor (a stalled disk: sendkey alt-sysrq-w).
echo 1 > /proc/sys/kernel/sysrq
dev=
case $DD_TRANSPORT in
aoe)
  modprobe aoe
  for n in /sys/class/net/*; do [ "${n##*/}" = lo ] || ip link set "${n##*/}" up; done
  for i in $(seq 60); do
    [ -b "/dev/etherd/e$DD_SHELF.$DD_SLOT" ] && break
    aoe-discover
    sleep 1
  done
  dev=/dev/etherd/e$DD_SHELF.$DD_SLOT
  ;;
iscsi)
  modprobe iscsi_tcp
  # A login of its own (an iface with the plan's initiator name), undone
  # afterwards so netroot starts from a machine with no session and no record.
  iscsiadm -m iface -I nrvm-dd -o new > /dev/null
  iscsiadm -m iface -I nrvm-dd -o update -n iface.initiatorname -v "$DD_INITIATOR" > /dev/null
  # A node record of its own, no discovery: tgtd announces the address it
  # listens on (127.0.0.1 behind QEMU's NAT), not the one the guest reaches.
  iscsiadm -m node -o new -T "$DD_IQN" -p "$DD_PORTAL" -I nrvm-dd > /dev/null
  iscsiadm -m node -T "$DD_IQN" -p "$DD_PORTAL" -I nrvm-dd --login
  sid=$(iscsiadm -m session | sed -n "s/^tcp: \[\([0-9]*\)\].* $DD_IQN .*/\1/p" | head -n 1)
  for i in $(seq 30); do
    dev=$(iscsiadm -m session -r "$sid" -P 3 2>/dev/null | sed -n 's/.*Attached scsi disk \([a-z]*\).*/\/dev\/\1/p' | head -n 1)
    [ -n "$dev" ] && [ -b "$dev" ] && break
    sleep 1
  done
  ;;
esac
if [ -n "$dev" ] && [ -b "$dev" ]; then
  # Over AoE, the same 2-second direct read netroot makes while it has an
  # AoE disk attached (docs/boot.md: the aoe driver's parked request), so
  # this dd is measured the way netroot's copy runs.
  kick=
  if [ "$DD_TRANSPORT" = aoe ]; then
    (while :; do
      dd if="$dev" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null &
      sleep 2
    done) &
    kick=$!
  fi
  start=$(date +%s.%N)
  dd if=/dev/zero of="$dev" bs=4M count="$count" oflag=direct 2>&1 | tail -n 1
  end=$(date +%s.%N)
  [ -z "$kick" ] || kill "$kick"
  fact dd-device "$dev"
  fact dd-seconds "$(awk "BEGIN { printf \"%.1f\", $end - $start }")"
  fact dd-bytes "$((count * 4194304))"
else
  fact dd-device "none: the network disk did not appear"
fi
if [ "$DD_TRANSPORT" = iscsi ]; then
  iscsiadm -m node -T "$DD_IQN" -p "$DD_PORTAL" -I nrvm-dd --logout
  iscsiadm -m node -T "$DD_IQN" -p "$DD_PORTAL" -I nrvm-dd -o delete
  iscsiadm -m iface -I nrvm-dd -o delete > /dev/null
fi
exit 0

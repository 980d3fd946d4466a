# vm-tests: the diskless client keeps its DHCP lease for its whole life
# (issue #14). A migrated client boots over iSCSI with the address its
# initramfs got by DHCP; after switch_root the system's own network stack
# must renew that lease, or the LAN's DHCP server hands the address to
# another machine while the root's session still runs on it. And it must
# never take the address away, not even for a moment (an address flush
# under an iSCSI root stalls the root).
#
# SUITE-STACK-iscsi-lease: a matrix source (matrix.sh) migrated onto the
# matrix layout, booted over iSCSI on a LAN in a network namespace: tgtd
# (SUITE-STACK-aoe-lease: vblade; the stack gets the address itself there)
# and dnsmasq (netroot server's files, the lease cut to LEASE_SECS, renewal
# every LEASE_T1) on
# tap0, QEMU on tap0. The harness puts a watcher into the migrated image
# (the test's instrument, not part of netroot's output): a unit that starts
# before any network stack and records every IPv4 address change of the
# boot NIC (`ip monitor`) and samples the address every second while
# writing and fsyncing a counter on the root; netroot-vm-facts waits
# LEASE_HOLD seconds before it reports. The DHCP server's log shows the
# renewals. Sourced by vm-tests/run after lib.sh, source.sh and matrix.sh.

# The lease outlasts a slow TCG boot (the initramfs' DHCP to the stack's
# takeover took 4+ min on a loaded host: with dnsmasq's shortest lease, 2
# min, the address was free again by then and NM got another one); the
# server's T1/T2 make the client renew every minute all the same.
LEASE_SECS=600
LEASE_T1=60
LEASE_T2=90
LEASE_HOLD=${NETROOT_VM_LEASE_HOLD:-300} # seconds the guest watches the lease
LEASE_PORTAL=10.77.0.1:3260

# mark_lease IMAGE: the watcher (guest side) into the image's root.
mark_lease() {
  mount_image_root "$1"
  echo "$LEASE_HOLD $GUEST_IF" >"$IMG_ROOT/etc/netroot-vm-lease"
  cat >"$IMG_ROOT/usr/local/sbin/netroot-vm-lease" <<'EOS'
#!/bin/sh
# vm-tests lease watcher (vm-tests/lease.sh). `monitor`: from before any
# network stack runs, log every IPv4 address change of the boot NIC and
# sample it every second; write + fsync a counter on the root every
# second. `report` (before netroot-vm-facts): wait until the monitor has
# run HOLD seconds, then print the facts.
read -r hold ifc < /etc/netroot-vm-lease
st=/run/netroot-vm-lease
out=/dev/ttyS0
fact() { printf 'NETROOT-FACT %s=%s\n' "$1" "$2" > "$out"; }
case $1 in
monitor)
  mkdir -p "$st"
  date +%s > "$st/t0"
  ip -o -4 monitor address > "$st/monitor.log" 2>&1 &
  printf 'NETROOT-LEASE-MONITOR begins\n' > "$out"
  f=/var/tmp/netroot-vm-lease.count
  i=0 max=0 last=$(date +%s) missing=0 seen=0
  : > "$f"
  while :; do
    a=$(ip -o -4 addr show dev "$ifc" 2>/dev/null | awk '{print $4}' | tr '\n' ' ')
    if [ -n "$a" ]; then
      seen=1
      grep -qxF "$a" "$st/addrs" 2>/dev/null || echo "$a" >> "$st/addrs"
    elif [ "$seen" = 1 ]; then
      missing=$((missing + 1)); echo "$missing" > "$st/missing"
    fi
    i=$((i + 1))
    if ! echo "$i" >> "$f" || ! sync "$f"; then echo "$i" >> "$st/failed"; fi
    now=$(date +%s); gap=$((now - last)); last=$now
    [ "$gap" -gt "$max" ] && max=$gap && echo "$max" > "$st/stall"
    echo "$i" > "$st/count"
    sleep 1
  done ;;
report)
  t0=$(cat "$st/t0" 2>/dev/null || date +%s)
  while [ $(( $(date +%s) - t0 )) -lt "$hold" ]; do sleep 5; done
  fact lease-watched "$(( $(date +%s) - t0 ))"
  fact lease-deleted "$(grep -i '^Deleted' "$st/monitor.log" | grep -w "$ifc" | tr -s ' ' | tr '\n' ';')"
  fact lease-missing "$(cat "$st/missing" 2>/dev/null || echo 0)"
  fact lease-addrs "$(tr '\n' ';' < "$st/addrs" 2>/dev/null)"
  fact lease-addr-now "$(ip -o -4 addr show dev "$ifc" | sed 's/.* inet //' | tr -s ' ')"
  fact lease-writes "$(cat "$st/count" 2>/dev/null) lines=$(wc -l < /var/tmp/netroot-vm-lease.count) stall=$(cat "$st/stall" 2>/dev/null)"
  fact lease-failed-writes "$(tr '\n' ' ' < "$st/failed" 2>/dev/null)"
  fact lease-root-options "$(findmnt -no OPTIONS /)"
  fact lease-dmesg-errors "$(dmesg | grep -iE 'I/O error|EXT4-fs error|conn error|session recovery timed out|Remounting filesystem read-only' | tail -n 10 | tr '\n' ';')"
  fact lease-clients "$(ps -eo comm= | grep -E '^(dhclient|NetworkManager|systemd-network)' | sort -u | tr '\n' ' ')"
  fact lease-dhclients "$(ps -eo comm=,args= | awk '$1 == "dhclient"' | tr -s ' ' | tr '\n' ';')"
  fact lease-nm "$(nmcli -t -f GENERAL.STATE,GENERAL.CONNECTION,DHCP4.OPTION device show "$ifc" 2>/dev/null | grep -E 'STATE|CONNECTION|dhcp_lease_time|ip_address' | tr '\n' ' ')"
  ;;
esac
EOS
  chmod 0755 "$IMG_ROOT/usr/local/sbin/netroot-vm-lease"
  cat >"$IMG_ROOT/etc/systemd/system/netroot-vm-lease.service" <<'EOS'
[Unit]
Description=netroot vm-tests: watch the boot NIC's address from before any network stack
DefaultDependencies=no
After=systemd-remount-fs.service
Before=network-pre.target NetworkManager.service systemd-networkd.service networking.service
Wants=network-pre.target

[Service]
ExecStart=/usr/local/sbin/netroot-vm-lease monitor
EOS
  mkdir -p "$IMG_ROOT/etc/systemd/system/sysinit.target.wants" \
    "$IMG_ROOT/etc/systemd/system/netroot-vm-facts.service.d"
  ln -sf ../netroot-vm-lease.service "$IMG_ROOT/etc/systemd/system/sysinit.target.wants/netroot-vm-lease.service"
  printf '[Service]\nExecStartPre=/usr/local/sbin/netroot-vm-lease report\n' \
    >"$IMG_ROOT/etc/systemd/system/netroot-vm-facts.service.d/lease.conf"
  unmount_image_root "$1"
}

# lease_tgt_export HOST: tgtd in NETNS on $LEASE_PORTAL with netroot
# server's tgtadm script (run in the namespace too).
lease_tgt_export() {
  local ctl i
  ctl=$(($(free_port) - 10000))
  ip netns exec "$NETNS" tgtd -f -C "$ctl" --iscsi "portal=$LEASE_PORTAL" >"$SCEN_OUT/tgtd.log" 2>&1 &
  local pid=$!
  defer "ip netns exec '$NETNS' tgtadm -C $ctl --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1; ip netns exec '$NETNS' tgtadm -C $ctl --op delete --mode sys >/dev/null 2>&1; stop_pid $pid"
  for ((i = 0; i < 100; i++)); do
    ip netns exec "$NETNS" tgtadm -C "$ctl" --mode sys --op show >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "tgtd exited at start: $(tail -3 "$SCEN_OUT/tgtd.log")"
    sleep 0.1
  done
  TGT_CONTROL_PORT=$ctl ip netns exec "$NETNS" sh "$SCEN_OUT/srv/iscsi/tgtadm-$1.sh" >>"$SCEN_OUT/tgtd.log" 2>&1 ||
    die "srv/iscsi/tgtadm-$1.sh failed: $(tail -3 "$SCEN_OUT/tgtd.log")"
  log "tgtd pid $pid listens on $LEASE_PORTAL in $NETNS (control port $ctl)"
}

# lease_watch SERIAL QEMU-PID (QEMU_WATCH): note where the DHCP server's
# log stands when the booted system's watcher begins (after switch_root),
# and when the watch ends (LEASE_END, epoch).
LEASE_LOG_FROM=0
LEASE_END=0
lease_watch() {
  local serial=$1 pid=$2
  until grep -q NETROOT-LEASE-MONITOR "$serial"; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  LEASE_LOG_FROM=$(wc -l <"$SCEN_OUT/dnsmasq.log")
  log "lease: the guest's watcher runs; dnsmasq.log at line $LEASE_LOG_FROM"
  until grep -aq "NETROOT-FACT lease-watched=" "$serial"; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  LEASE_END=$(date +%s)
  log "lease: the watch ended"
}

# lease_acks [all]: "EPOCH ADDRESS" of each DHCPACK to the guest's MAC,
# those since the watcher began (all: the whole boot).
lease_acks() {
  local from=$((LEASE_LOG_FROM + 1))
  [ "${1:-}" = all ] && from=1
  # No watcher, no booted system: nothing since switch_root.
  [ "${1:-}" != all ] && [ "$LEASE_LOG_FROM" = 0 ] && return 0
  { tail -n +"$from" "$SCEN_OUT/dnsmasq.log" | grep "DHCPACK(tap0) .* $GUEST_MAC" || true; } |
    while read -r mon day time rest; do
      echo "$(date -d "$mon $day $time" +%s) $(sed 's/.*DHCPACK(tap0) \([^ ]*\).*/\1/' <<<"$rest")"
    done
}

# lease_scenario SUITE STACK [TRANSPORT]: over iSCSI (default) the
# initramfs got the address by DHCP and the stack must take that lease
# over; over AoE the initramfs only sets the link up and the stack gets
# the address itself (the same checks: renewed all along, never removed).
lease_scenario() {
  local suite=$1 stack=$2 transport=${3:-iscsi} img=$SCEN_OUT/disk.img host iqn="" target conf
  host=vm-lease-$suite-$stack
  matrix_tree "$suite" "$stack"
  if [ "$transport" = iscsi ]; then
    iqn=iqn.2024-01.org.netroot.vmtest:$host
    target="{ \"transport\": \"iscsi\", \"portal\": \"$LEASE_PORTAL\", \"iqn\": \"$iqn\", \"lun\": 1, \"device\": \"$img\", \"size\": \"4G\" }"
  else
    target=$(aoe_target "$img")
  fi
  PLAN_PARTS=$MATRIX_PARTS write_plan "$SCEN_OUT/plan.json" "$target" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"
  mark_lease "$img"
  aoe_serve_files "$SCEN_OUT/plan.json"
  conf=$SCEN_OUT/srv/dhcp/dnsmasq-netroot.conf
  sed -i "s/^\(dhcp-range=.*\),[0-9]*[hm]$/\1,$((LEASE_SECS / 60))m/" "$conf"
  grep -q "^dhcp-range=.*,$((LEASE_SECS / 60))m$" "$conf" || die "$conf: could not shorten the lease"
  printf 'dhcp-option=option:T1,%s\ndhcp-option=option:T2,%s\n' "$LEASE_T1" "$LEASE_T2" >>"$conf"
  netns_up
  if [ "$transport" = iscsi ]; then
    lease_tgt_export "$host"
  else
    vblade_export "$host"
  fi
  dnsmasq_up
  QEMU_WATCH=lease_watch QEMU_TIMEOUT=$((QEMU_TIMEOUT + LEASE_HOLD)) aoe_qemu boot
  matrix_assert_root boot "$transport" "$iqn" "$img"
  matrix_assert_settled boot
  matrix_assert_stack boot "$stack" "$transport"
  assert_lease boot "$transport"
}

# assert_lease NAME TRANSPORT: the system's own stack took the initramfs'
# lease over before it ran out and renewed it all along, the address never
# went away, and the root never stalled or failed. Over AoE the root needs
# no address: the stack gets its own as on a local disk (ifupdown's
# `dhclient -i` asks as a DUID client, so not for iPXE's address), and
# only its own leases must be for one address.
assert_lease() {
  local name=$1 transport=${2:-iscsi} serial=$SCEN_OUT/$1.serial acks all addr gap n end last first errs mine
  all=$(lease_acks all)
  acks=$(lease_acks)
  addr=$(fact lease-addrs "$serial")
  n=$(grep -c . <<<"$acks" || true)
  end=$LEASE_END
  [ "$end" -gt 0 ] || end=$(stat -c %Y "$serial")
  first=$(head -n 1 <<<"$acks" | cut -d' ' -f1)
  last=$(tail -n 1 <<<"$acks" | cut -d' ' -f1)
  log "  DHCPACKs to $GUEST_MAC (epoch address; the watcher began at dnsmasq.log line $LEASE_LOG_FROM, ended at $end):"
  sed 's/^/    | /' <<<"$all" >&2
  expect "$name: the watcher ran $LEASE_HOLD s ($(fact lease-watched "$serial") s)" \
    test "$(fact lease-watched "$serial")" -ge "$LEASE_HOLD"
  expect "$name: the booted system's stack renewed the lease at least twice ($n DHCPACKs since switch_root)" \
    test "$n" -ge 2
  mine=$all
  [ "$transport" = aoe ] && mine=$acks
  expect "$name: every DHCPACK is for the one address $([ "$transport" = aoe ] && echo "the stack got" || echo "the boot got") ($(cut -d' ' -f2 <<<"$mine" | sort -u | tr '\n' ' '))" \
    test "$(cut -d' ' -f2 <<<"$mine" | sort -u | grep -c .)" = 1
  # From the initramfs' ACK (the last before switch_root) across the
  # takeover to the end of the watch the lease never ran out; once the
  # stack has it, it renews at T1 (by T2 at the latest).
  gap=$( (tail -n 1 <<<"$(head -n "$(($(grep -c . <<<"$all") - n))" <<<"$all")" | cut -d' ' -f1
    cut -d' ' -f1 <<<"$acks"
    echo "$end") | grep . | awk 'NR > 1 && $1 - p > g { g = $1 - p } { p = $1 } END { print g + 0 }')
  expect "$name: the lease never ran out, across the takeover ($((${first:-$end} - $(head -n 1 <<<"$all" | cut -d' ' -f1))) s after the boot's first ACK) to the end of the watch (longest gap ${gap} s < $LEASE_SECS s)" \
    bash -c '[ "$1" -ge 1 ] && [ "$2" -lt "$3" ]' _ "$n" "$gap" "$LEASE_SECS"
  gap=$( (cut -d' ' -f1 <<<"$acks"; echo "$end") | grep . | awk 'NR > 1 && $1 - p > g { g = $1 - p } { p = $1 } END { print g + 0 }')
  expect "$name: the stack renewed at T1 ($LEASE_T1 s) all along (longest gap from the takeover to the end ${gap} s <= T2 + 15 s; last ACK $((end - ${last:-0})) s before the end)" \
    bash -c '[ "$1" -ge 2 ] && [ "$2" -le "$3" ]' _ "$n" "$gap" "$((LEASE_T2 + 15))"
  expect "$name: $GUEST_IF kept one address throughout (${addr:-none})" \
    matches "$addr" '^[0-9./]+ ;$'
  expect "$name: the address was never deleted ($(fact lease-deleted "$serial"))" \
    test -z "$(fact lease-deleted "$serial")"
  expect "$name: no second without it ($(fact lease-missing "$serial") samples missing)" \
    test "$(fact lease-missing "$serial")" = 0
  log "  now: $(fact lease-addr-now "$serial"); clients: $(fact lease-clients "$serial"); nm: $(fact lease-nm "$serial")"
  # One DHCP client for the NIC: two (ifup's DUID dhclient beside
  # netroot's) ask with two identities and hold two leases.
  expect "$name: at most one dhclient runs ($(fact lease-dhclients "$serial"))" \
    test "$(fact lease-dhclients "$serial" | tr ';' '\n' | grep -c .)" -le 1
  expect "$name: no write or fsync on the root failed ($(fact lease-failed-writes "$serial"); $(fact lease-writes "$serial"))" \
    test -z "$(fact lease-failed-writes "$serial" | tr -d ' ')"
  # iscsid taking the initramfs' session over when it starts shows as one
  # "detected conn error (1020)" and a reconnect, with any network stack
  # (main's matrix runs: bookworm/trixie ifupdown, trixie networkd): shown,
  # not failed on. A lost address would stall the root (see the address
  # checks above and the writer's stall); an I/O error fails.
  errs=$(fact lease-dmesg-errors "$serial" | tr ';' '\n' | grep . | grep -v 'detected conn error' || true)
  log "  iSCSI connection errors in dmesg: $(fact lease-dmesg-errors "$serial" | tr ';' '\n' | grep -c 'detected conn error' || true) ($(fact lease-dmesg-errors "$serial" | tr ';' '\n' | grep 'detected conn error' | tr '\n' ';' || true))"
  expect "$name: no I/O error in the kernel log (${errs:-none})" test -z "$errs"
  expect "$name: / is still mounted rw ($(fact lease-root-options "$serial"))" \
    matches "$(fact lease-root-options "$serial")" '^rw(,|$)'
}

LEASE_SCENARIOS=()
for _suite in bookworm trixie; do
  for _stack in ifupdown:ifupdown nm:networkmanager networkd:networkd; do
    for _tr in iscsi aoe; do
      eval "scenario_$_suite-${_stack%%:*}-$_tr-lease() { lease_scenario $_suite ${_stack#*:} $_tr; }"
      LEASE_SCENARIOS+=("$_suite-${_stack%%:*}-$_tr-lease")
    done
  done
done
unset _suite _stack _tr
# The debian-dracut profile over iSCSI (bookworm, ifupdown): dracut names
# no boot NIC (initramfs-tools' /run/initramfs/open-iscsi.interface) and
# gives its DHCP address the lease's lifetime, so the kernel would drop
# the root's address when the first lease ends unless the booted system
# keeps it and renews the lease (netroot's dhclient-boot-nic).
scenario_dracut-iscsi-lease() { PLAN_PROFILE=debian-dracut lease_scenario bookworm ifupdown iscsi; }
LEASE_SCENARIOS+=(dracut-iscsi-lease)

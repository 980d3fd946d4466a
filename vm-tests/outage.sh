# vm-tests: server outages (issue #14.5). A diskless client must keep
# running through a target outage as long as a server reboot (>= 180 s):
# its root's I/O waits for the target (aoe_deadsecs, the iSCSI session's
# recovery_tmo; docs/boot.md "Server outages") instead of failing. The
# harness marks the migrated image (/etc/netroot-vm-outage) so the guest's
# facts script runs guest/netroot-vm-outage (a writer that fsyncs a counter
# every second); it stops tgtd / vblade once the writer runs, starts it
# again with the same export OUTAGE_SECS later, and asserts on what the
# guest prints after the target is back.
# Sourced by vm-tests/run after lib.sh.

OUTAGE_SECS=${NETROOT_VM_OUTAGE_SECS:-180}

# mark_outage IMAGE [DEFAULT-TIMEOUTS]: write the marker into the image's
# root filesystem. With DEFAULT-TIMEOUTS, also delete netroot's udev rule,
# leaving the iSCSI root session at open-iscsi's 120 s (must fail).
mark_outage() {
  local img=$1 defaults=${2:-}
  mount_image_root "$img"
  echo "$OUTAGE_SECS" >"$IMG_ROOT/etc/netroot-vm-outage"
  if [ -n "$defaults" ]; then
    log "removing netroot's iSCSI root udev rule from $img on purpose"
    rm "$IMG_ROOT/etc/udev/rules.d/62-netroot-iscsi-root.rules"
  fi
  unmount_image_root "$img"
}

# outage_watch SERIAL QEMU-PID (QEMU_WATCH): once the guest's writer runs,
# stop the target ($OUTAGE_STOP), wait OUTAGE_SECS, start it again
# ($OUTAGE_START). Sets OUTAGE_DOWN (seconds the target was away).
OUTAGE_DOWN=0
outage_watch() {
  local serial=$1 pid=$2 t
  until grep -q NETROOT-OUTAGE-WRITING "$serial"; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  log "outage: the guest's writer runs; stopping the target for $OUTAGE_SECS s"
  t=$SECONDS
  "$OUTAGE_STOP"
  while [ $((SECONDS - t)) -lt "$OUTAGE_SECS" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
  "$OUTAGE_START"
  OUTAGE_DOWN=$((SECONDS - t))
  log "outage: target back after $OUTAGE_DOWN s"
}
outage_tgt_stop() { tgt_stop "$TGT_PID" "$TGT_CTL"; }
outage_tgt_start() { tgt_export "$OUTAGE_HOST"; }
outage_vblade_stop() { stop_pid "$(cat "$SCEN_OUT/vblade.pid")"; }
outage_vblade_start() { vblade_export "$OUTAGE_HOST"; }

# assert_outage NAME: the guest wrote through the outage without losing
# anything.
assert_outage() {
  local name=$1 serial=$SCEN_OUT/$1.serial stall writes lines
  stall=$(fact outage-max-stall "$serial")
  writes=$(fact outage-writes "$serial")
  lines=$(fact outage-lines "$serial")
  fact outage-dmesg "$serial" | sed 's/^/    dmesg| /' >&2
  expect "$name: the target was away $OUTAGE_DOWN s (>= $OUTAGE_SECS) while the guest wrote" \
    test "$OUTAGE_DOWN" -ge "$OUTAGE_SECS"
  expect "$name: the writer's fsync waited through the outage (longest wait ${stall:-none} s)" \
    test "${stall:-0}" -ge $((OUTAGE_SECS - 30))
  expect "$name: no write or fsync failed ($(fact outage-failed-writes "$serial"))" \
    test -z "$(fact outage-failed-writes "$serial" | tr -d ' ')"
  expect "$name: every counter value is on the disk ($lines lines, $writes writes, first missing: $(fact outage-missing "$serial"))" \
    bash -c '[ -n "$1" ] && [ "$1" = "$2" ] && [ -z "$3" ]' _ "$writes" "$lines" "$(fact outage-missing "$serial")"
  expect "$name: no I/O errors in dmesg since the writer began ($(fact outage-dmesg-errors "$serial"))" \
    test -z "$(fact outage-dmesg-errors "$serial")"
  expect "$name: / is still mounted rw ($(fact outage-root-options "$serial"))" \
    matches "$(fact outage-root-options "$serial")" '^rw(,|$)'
  expect "$name: a fresh write + fsync after the outage works" \
    test "$(fact outage-fresh-write "$serial")" = ok
}

scenario_outage-iscsi() {
  local host=vm-outage-iscsi img=$SCEN_OUT/disk.img iqn=iqn.2024-01.org.netroot.vmtest:vm-outage-iscsi
  TGT_PORT=$(free_port)
  write_plan "$SCEN_OUT/plan.json" "$(iscsi_target "$iqn" "$img")" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"
  mark_outage "$img" "${OUTAGE_DEFAULT_TIMEOUTS:-}"
  OUTAGE_HOST=$host OUTAGE_STOP=outage_tgt_stop OUTAGE_START=outage_tgt_start
  QEMU_WATCH=outage_watch QEMU_TIMEOUT=$((QEMU_TIMEOUT + OUTAGE_SECS + 180)) \
    iscsi_boot boot "$SCEN_OUT/plan.json" "$host" bios
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  assert_iscsi_root boot "$iqn"
  assert_outage boot
  local serial=$SCEN_OUT/boot.serial
  expect "boot: the session is logged in again ($(fact outage-iscsi-state "$serial"))" \
    contains "$(fact outage-iscsi-state "$serial")" LOGGED_IN
  expect "boot: the recovered session still waits a day (recovery_tmo $(fact outage-iscsi-recovery-tmo "$serial"))" \
    test "$(fact outage-iscsi-recovery-tmo "$serial" | tr -d ' ')" = 86400
  log "boot: no-op ping/recv timeouts before the outage: $(fact outage-iscsi-noop-before "$serial"), after: $(fact outage-iscsi-noop "$serial"); iscsid $(fact outage-iscsid "$serial")"
}

# outage-iscsi-explicit: the same with the target fixed in the initramfs
# (boot.iscsi_config explicit) instead of read from the iBFT.
scenario_outage-iscsi-explicit() {
  PLAN_BOOT_EXTRA=', "iscsi_config": "explicit"' scenario_outage-iscsi
}

# outage-iscsi-default: outage-iscsi without netroot's udev rule (the
# session keeps open-iscsi's 120 s): must FAIL (proves the test can fail).
scenario_outage-iscsi-default() {
  OUTAGE_DEFAULT_TIMEOUTS=1 scenario_outage-iscsi
}

scenario_outage-aoe() {
  local host=vm-outage-aoe img=$SCEN_OUT/disk.img
  write_plan "$SCEN_OUT/plan.json" "$(aoe_target "$img")" "$(dir_source)" "$host" gpt bios
  migrate "$SCEN_OUT/plan.json"
  mark_outage "$img"
  OUTAGE_HOST=$host OUTAGE_STOP=outage_vblade_stop OUTAGE_START=outage_vblade_start
  QEMU_WATCH=outage_watch QEMU_TIMEOUT=$((QEMU_TIMEOUT + OUTAGE_SECS + 180)) \
    aoe_boot boot "$SCEN_OUT/plan.json" "$host"
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  assert_aoe_root boot 7 1
  assert_outage boot
  log "boot: AoE device state after the outage: $(fact outage-aoe-state "$SCEN_OUT/boot.serial")"
}

# ---- the target lost mid-run (issue #17.4) ----------------------------------
# lost-iscsi: live-iscsi with the host's tgtd stopped once the guest's
# `netroot migrate` is in the copy step. netroot must fail in bounded
# time naming the target and what to check; the harness starts tgtd again
# after the failure line, the guest (IO disk marked `lost-retry`) runs the
# same command once the portal answers, which must resume and complete;
# the result boots diskless.
# netroot prints no step lines through a pipe (only its final report), so
# the copy step is seen on the host: the LUN's image file has more than
# LOST_AT_MB allocated (partition and format write less than 100 MB).
LOST_FAILED_AFTER=
LOST_AT_MB=${NETROOT_VM_LOST_AT_MB:-300}
# With LOST_STEP=initramfs the guest runs with `--progress json` (its IO
# disk carries progress-json) and the target goes when the serial log shows
# the initramfs step's start event.
LOST_STEP=${LOST_STEP:-copy}
lost_watch() {
  local serial=$1 pid=$2 t
  if [ "$LOST_STEP" = initramfs ]; then
    until grep -aq '"event":"step_start","step":"initramfs"' "$serial"; do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 2
    done
    # Let update-initramfs get going in the target's chroot.
    sleep 20
    log "lost: the guest's migration is in the initramfs step; stopping tgtd"
  else
    until [ "$(du -m "$SCEN_OUT/disk.img" | cut -f1)" -gt "$LOST_AT_MB" ]; do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 2
    done
    log "lost: the guest's migration is copying ($(du -m "$SCEN_OUT/disk.img" | cut -f1) MB on the LUN); stopping tgtd"
  fi
  t=$SECONDS
  outage_tgt_stop
  until grep -aq 'NETROOT-LIVE rc=' "$serial"; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  LOST_FAILED_AFTER=$((SECONDS - t))
  log "lost: netroot stopped $LOST_FAILED_AFTER s after the target went away; starting tgtd again"
  outage_tgt_start
}

scenario_lost-iscsi() {
  local img=$SCEN_OUT/disk.img iqn=iqn.2024-01.org.netroot.vmtest:lost-iscsi io=$SCEN_OUT/io
  truncate -s 4G "$img"
  mkdir -p "$io"
  install -m 0755 "$NETROOT" "$io/netroot"
  touch "$io/lost-retry"
  [ "$LOST_STEP" = initramfs ] && touch "$io/progress-json"
  TGT_PORT=$(free_port)
  write_plan "$io/plan.json" "$(iscsi_target "$iqn")" '{ "type": "live" }' vm-lost
  cp "$io/plan.json" "$SCEN_OUT/plan.json"
  truncate -s 256M "$SCEN_OUT/io.img"
  mkfs.ext4 -q -L NRVM-IO -d "$io" "$SCEN_OUT/io.img"
  server_files "$SCEN_OUT/plan.json" --server-ip 10.0.2.2/24 --export-device "$img"
  tgt_export vm-lost
  OUTAGE_HOST=vm-lost
  local rc=0 serial=$SCEN_OUT/live.serial
  QEMU_WATCH=lost_watch qemu_run live "$LIVE_TIMEOUT" - \
    -drive "file=$SRC_IMAGE,format=raw,if=virtio,snapshot=on" \
    -drive "file=$SCEN_OUT/io.img,format=raw,if=virtio,readonly=on" \
    -netdev user,id=n0 -device "$GUEST_NIC" || rc=$?
  assert_booted live "$rc"
  grep -a 'NETROOT-LIVE rc=\|NETROOT-LOST\|stopped answering' "$serial" | tr -d '\r' | sed 's/^/    /' >&2 || true
  local first second
  first=$(grep -a 'NETROOT-LIVE rc=' "$serial" | head -n 1 | tr -d '\r')
  second=$(grep -a 'NETROOT-LIVE rc=' "$serial" | sed -n 2p | tr -d '\r')
  expect "live: netroot failed with exit code 1 once the target was gone ($first)" \
    contains "$first" 'NETROOT-LIVE rc=1 '
  expect "live: ... within 10 minutes (${LOST_FAILED_AFTER:-never} s)" \
    test "${LOST_FAILED_AFTER:-9999}" -le 600
  expect "live: the error names the target and what to check" \
    grep -aqE "iSCSI target $iqn at 10\.0\.2\.2:$TGT_PORT stopped answering.*check that the server" "$serial"
  expect "live: the same command completed once the target was back ($second)" \
    contains "$second" 'NETROOT-LIVE rc=0 '
  expect "live: the second run resumed (format found done)" \
    bash -c 'sed -n "/NETROOT-LOST target answers/,\$p" "$1" | grep -aqE "\] format +done"' _ "$serial"
  if [ "$LOST_STEP" = initramfs ]; then
    expect "live: the first run failed in the initramfs step" \
      grep -aq '"step":"initramfs","status":"failed"' "$serial"
    expect "live: the second run found the copy done" \
      bash -c 'sed -n "/NETROOT-LOST target answers/,\$p" "$1" | grep -aqE "\] copy +done"' _ "$serial"
  fi
  if ! contains "$second" 'NETROOT-LIVE rc=0 '; then
    log "live: no migrated system to boot"
    return 0
  fi
  tgt_stop "$TGT_PID" "$TGT_CTL"
  iscsi_boot boot "$SCEN_OUT/plan.json" vm-lost bios --export-device "$img"
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" vm-lost
  assert_waits_for_target boot
  assert_iscsi_root boot "$iqn"
}

# lost-iscsi-initramfs: the same with tgtd stopped during the initramfs step.
scenario_lost-iscsi-initramfs() { LOST_STEP=initramfs scenario_lost-iscsi; }

# vm-tests for target layouts beyond a single root: a separate /boot and a
# swap partition next to the root, over each transport. Every fstab entry
# must be mounted from the network disk at boot (on AoE that needs the
# by-uuid links netroot's udev rule makes: stock Debian makes none for
# etherd devices, and systemd waits 90 s for each, then gives up).
# Sourced by vm-tests/run after lib.sh and source.sh.

BOOT_SWAP_PARTS='{ "mount": "/boot", "fs": "ext4", "size": "256M" }, { "fs": "swap", "size": "256M" }, { "mount": "/", "fs": "ext4", "size": "rest" }'

# assert_layout_mounted NAME: /boot is mounted from the network disk, the
# swap partition is active, and no unit waited in vain.
assert_layout_mounted() {
  local name=$1 serial=$SCEN_OUT/$1.serial
  local boot swaps
  boot=$(fact mount-boot "$serial")
  swaps=$(fact swaps "$serial")
  expect "$name: /boot is mounted from the network disk ($boot)" \
    matches "$boot" '^/dev/(etherd/e[0-9]+\.[0-9]+p|sd[a-z]+)[0-9]+$'
  expect "$name: the swap partition is active ($swaps)" \
    matches "$swaps" '/dev/(etherd/e[0-9]+\.[0-9]+p|sd[a-z]+)[0-9]+'
  expect "$name: no job timed out waiting for a device" \
    bash -c '! grep -qa "Timed out waiting for device" "$1"' _ "$serial"
}

scenario_aoe-boot-swap() {
  local host=vm-aoe-bs img=$SCEN_OUT/disk.img
  PLAN_PARTS=$BOOT_SWAP_PARTS write_plan "$SCEN_OUT/plan.json" "$(aoe_target "$img")" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"
  [ -z "${AOE_OLD_ETHERD_RULE:-}" ] || old_etherd_rule "$img"
  aoe_boot boot "$SCEN_OUT/plan.json" "$host"
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  assert_aoe_root boot 7 1
  assert_layout_mounted boot
}

scenario_iscsi-boot-swap() {
  local host=vm-iscsi-bs img=$SCEN_OUT/disk.img iqn=iqn.2024-01.org.netroot.vmtest:vm-iscsi-bs
  TGT_PORT=$(free_port)
  PLAN_PARTS=$BOOT_SWAP_PARTS write_plan "$SCEN_OUT/plan.json" "$(iscsi_target "$iqn" "$img")" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"
  iscsi_boot boot "$SCEN_OUT/plan.json" "$host" bios
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  assert_iscsi_root boot "$iqn"
  assert_layout_mounted boot
}

# aoe-boot-swap-old-rule: aoe-boot-swap with netroot's etherd udev rule put
# back to the form it had before the fix (KERNEL=="etherd!*", which udev
# never matches: it names the devices etherd/eS.SpP), so the real root gets
# no by-uuid links for the AoE partitions: must FAIL (/boot and swap time
# out), showing the scenario catches the defect.
scenario_aoe-boot-swap-old-rule() {
  AOE_OLD_ETHERD_RULE=1 scenario_aoe-boot-swap
}

# old_etherd_rule IMAGE: the pre-fix rule in the migrated root.
old_etherd_rule() {
  local img=$1 rule=etc/udev/rules.d/61-netroot-etherd.rules
  log "putting back the pre-fix etherd udev rule in $img on purpose"
  mount_image_root "$img"
  [ -f "$IMG_ROOT/$rule" ] || die "no /$rule in $img"
  cat >"$IMG_ROOT/$rule" <<'RULE'
SUBSYSTEM=="block", KERNEL=="etherd!*", ACTION=="add|change", IMPORT{builtin}="blkid"
SUBSYSTEM=="block", KERNEL=="etherd!*", ENV{ID_FS_UUID_ENC}=="?*", SYMLINK+="disk/by-uuid/$env{ID_FS_UUID_ENC}"
RULE
  unmount_image_root "$img"
}

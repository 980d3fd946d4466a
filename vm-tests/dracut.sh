# vm-tests scenarios dracut-iscsi, dracut-aoe and kernel-upgrade-dracut-*:
# the debian-dracut profile booted for real. The same directory source as
# iscsi-gpt-bios / aoe-gpt-bios, migrated with "profile": "debian-dracut":
# netroot installs dracut and dracut-network into the target from the
# Debian mirror and builds the initramfs with them. The guest then boots
# diskless through what dracut built, with the usual assertions; the
# kernel-upgrade-dracut-* ones also reinstall the kernel in the diskless
# client (Debian's dracut hook rebuilds the initramfs) and run `dracut -f`,
# then boot again through that. Sourced by vm-tests/run (after
# kernel-upgrade.sh, whose helpers the upgrade scenarios use).

# assert_dracut_booted NAME: the initramfs that brought the root up was
# dracut's: its systemd units report on the serial console.
assert_dracut_booted() {
  local name=$1 serial=$SCEN_OUT/$1.serial
  expect "$name: the initramfs that booted was dracut's (its initqueue ran)" \
    grep -aqE 'dracut-initqueue' "$serial"
}

dracut_iscsi_setup() {
  local host=$1 img=$SCEN_OUT/disk.img
  DRACUT_IQN=iqn.2024-01.org.netroot.vmtest:$host
  TGT_PORT=$(free_port)
  PLAN_PROFILE=debian-dracut write_plan "$SCEN_OUT/plan.json" "$(iscsi_target "$DRACUT_IQN" "$img")" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"
}

dracut_aoe_setup() {
  local host=$1 img=$SCEN_OUT/disk.img
  PLAN_PROFILE=debian-dracut write_plan "$SCEN_OUT/plan.json" "$(aoe_target "$img")" "$(dir_source)" "$host" gpt bios
  migrate "$SCEN_OUT/plan.json"
}

scenario_dracut-iscsi() {
  local host=vm-dracut-iscsi img=$SCEN_OUT/disk.img
  dracut_iscsi_setup "$host"
  iscsi_boot boot "$SCEN_OUT/plan.json" "$host" bios
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  assert_iscsi_root boot "$DRACUT_IQN"
  assert_dracut_booted boot
}

scenario_dracut-aoe() {
  local host=vm-dracut-aoe img=$SCEN_OUT/disk.img
  dracut_aoe_setup "$host"
  aoe_boot boot "$SCEN_OUT/plan.json" "$host"
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  assert_aoe_root boot 7 1
  assert_dracut_booted boot
}

scenario_kernel-upgrade-dracut-iscsi() {
  local host=vm-kup-dracut-iscsi img=$SCEN_OUT/disk.img rc=0
  dracut_iscsi_setup "$host"
  prepare_upgrade "$img" "$(kernel_deb)"
  QEMU_TIMEOUT=$LIVE_TIMEOUT iscsi_boot upgrade "$SCEN_OUT/plan.json" "$host" bios
  assert_booted upgrade "$BOOT_RC"
  assert_iscsi_root upgrade "$DRACUT_IQN"
  assert_dracut_booted upgrade
  assert_upgraded upgrade dracut "iscsi_tcp.ko iscsiroot"
  qemu_run again "$QEMU_TIMEOUT" - \
    -netdev "user,id=n0,tftp=$SCEN_OUT/srv/tftp,bootfile=netroot/$host.ipxe" \
    -device "$GUEST_NIC" -boot n || rc=$?
  assert_booted again "$rc"
  assert_migrated again "$img" "$host"
  assert_iscsi_root again "$DRACUT_IQN"
  assert_dracut_booted again
  expect "again: the upgrade ran once (no second reinstall)" \
    test -z "$(fact kup-dpkg-rc "$SCEN_OUT/again.serial")"
}

scenario_kernel-upgrade-dracut-aoe() {
  local host=vm-kup-dracut-aoe img=$SCEN_OUT/disk.img rc=0
  dracut_aoe_setup "$host"
  prepare_upgrade "$img" "$(kernel_deb)"
  QEMU_TIMEOUT=$LIVE_TIMEOUT aoe_boot upgrade "$SCEN_OUT/plan.json" "$host"
  assert_booted upgrade "$BOOT_RC"
  assert_aoe_root upgrade 7 1
  assert_dracut_booted upgrade
  assert_upgraded upgrade dracut "aoe.ko netroot-aoe"
  qemu_run again "$QEMU_TIMEOUT" "$NETNS" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
    -device "$GUEST_NIC" -boot n || rc=$?
  assert_booted again "$rc"
  assert_migrated again "$img" "$host"
  assert_aoe_root again 7 1
  assert_dracut_booted again
  expect "again: the upgrade ran once (no second reinstall)" \
    test -z "$(fact kup-dpkg-rc "$SCEN_OUT/again.serial")"
}

# vm-tests scenarios kernel-upgrade-iscsi and kernel-upgrade-aoe: the
# client's life after migration. A directory source is migrated onto an
# image as in iscsi-gpt-bios / aoe-gpt-bios; the harness then leaves the
# source kernel's .deb in the image's apt cache and a marker file. The first
# diskless boot reinstalls that kernel with dpkg (its postinst rebuilds the
# initramfs and runs update-grub — Debian's own tools, no netroot present)
# and runs update-initramfs -u once more; the second boot must come up from
# the network disk again, through what those tools wrote. Sourced by
# vm-tests/run (after lib.sh and run's helpers).

# kernel_deb: the source tree's kernel package, downloaded once into the
# cache with the host's apt (the same Debian release and version).
kernel_deb() {
  local pkg ver dir=$CACHE/debs f
  pkg=$(dpkg-query --admindir="$SRC_TREE/var/lib/dpkg" -W -f='${Package} ${Status}\n' 'linux-image-[0-9]*' |
    awk '/install ok installed/ && $1 !~ /unsigned/ {print $1; exit}')
  [ -n "$pkg" ] || die "no kernel package installed in $SRC_TREE"
  ver=$(dpkg-query --admindir="$SRC_TREE/var/lib/dpkg" -W -f='${Version}' "$pkg")
  mkdir -p "$dir"
  f=$(ls "$dir/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$f" ]; then
    (cd "$dir" && apt-get -o APT::Sandbox::User=root download "$pkg=$ver") >&2 ||
      die "apt-get download $pkg=$ver failed: the host's apt must know the source tree's kernel (Debian 12 host: apt-get update)"
    f=$(ls "$dir/${pkg}_"*.deb | head -n 1)
  fi
  echo "$f"
}

# prepare_upgrade IMAGE DEB: the .deb into the migrated root's apt cache and
# the marker that makes the first boot reinstall it.
prepare_upgrade() {
  local img=$1 deb=$2
  mount_image_root "$img"
  cp "$deb" "$IMG_ROOT/var/cache/apt/archives/"
  touch "$IMG_ROOT/etc/netroot-vm-kernel-upgrade"
  unmount_image_root "$img"
}

# assert_upgraded NAME TOOL WANT: the first boot reinstalled the kernel with
# Debian's tools, rebuilt the initramfs with TOOL (update-initramfs or
# dracut), and what they rebuilt still carries the network root's pieces
# (WANT: file names the listing must contain).
assert_upgraded() {
  local name=$1 serial=$SCEN_OUT/$1.serial tool=$2 want=$3
  expect "$name: dpkg reinstalled the kernel (status $(fact kup-dpkg-rc "$serial"))" \
    test "$(fact kup-dpkg-rc "$serial")" = 0
  expect "$name: the client rebuilds its initramfs with $tool ($(fact kup-tool "$serial"))" \
    test "$(fact kup-tool "$serial")" = "$tool"
  expect "$name: $tool succeeded" test "$(fact kup-update-rc "$serial")" = 0
  expect "$name: the initramfs was rebuilt in the diskless client" \
    test "$(fact kup-initrd "$serial")" = rebuilt
  expect "$name: the rebuilt initramfs has $want ($(fact kup-initrd-net "$serial"))" \
    bash -c 'for w in $2; do grep -q -- "$w" <<<"$1" || exit 1; done' _ "$(fact kup-initrd-net "$serial")" "$want"
  expect "$name: update-grub kept netroot's kernel arguments ($(fact kup-grub-linux "$serial" | cut -c1-120)…)" \
    contains "$(fact kup-grub-linux "$serial")" "console=ttyS0"
}

scenario_kernel-upgrade-iscsi() {
  local host=vm-kup-iscsi img=$SCEN_OUT/disk.img iqn=iqn.2024-01.org.netroot.vmtest:vm-kup-iscsi rc=0
  TGT_PORT=$(free_port)
  write_plan "$SCEN_OUT/plan.json" "$(iscsi_target "$iqn" "$img")" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"
  prepare_upgrade "$img" "$(kernel_deb)"
  QEMU_TIMEOUT=$LIVE_TIMEOUT iscsi_boot upgrade "$SCEN_OUT/plan.json" "$host" bios
  assert_booted upgrade "$BOOT_RC"
  assert_iscsi_root upgrade "$iqn"
  assert_upgraded upgrade update-initramfs "iscsi_tcp.ko iscsistart"
  # Boot again from the same export: what Debian's tools rebuilt.
  qemu_run again "$QEMU_TIMEOUT" - \
    -netdev "user,id=n0,tftp=$SCEN_OUT/srv/tftp,bootfile=netroot/$host.ipxe" \
    -device "$GUEST_NIC" -boot n || rc=$?
  assert_booted again "$rc"
  assert_migrated again "$img" "$host"
  assert_iscsi_root again "$iqn"
  expect "again: the upgrade ran once (no second reinstall)" \
    test -z "$(fact kup-dpkg-rc "$SCEN_OUT/again.serial")"
}

scenario_kernel-upgrade-aoe() {
  local host=vm-kup-aoe img=$SCEN_OUT/disk.img rc=0
  write_plan "$SCEN_OUT/plan.json" "$(aoe_target "$img")" "$(dir_source)" "$host" gpt bios
  migrate "$SCEN_OUT/plan.json"
  prepare_upgrade "$img" "$(kernel_deb)"
  QEMU_TIMEOUT=$LIVE_TIMEOUT aoe_boot upgrade "$SCEN_OUT/plan.json" "$host"
  assert_booted upgrade "$BOOT_RC"
  assert_aoe_root upgrade 7 1
  assert_upgraded upgrade update-initramfs "aoe.ko netroot-aoe"
  qemu_run again "$QEMU_TIMEOUT" "$NETNS" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
    -device "$GUEST_NIC" -boot n || rc=$?
  assert_booted again "$rc"
  assert_migrated again "$img" "$host"
  assert_aoe_root again 7 1
  expect "again: the upgrade ran once (no second reinstall)" \
    test -z "$(fact kup-dpkg-rc "$SCEN_OUT/again.serial")"
}

# vm-tests source on LVM (issue #14.1): a running system whose / and /home
# are LVM logical volumes, laid out as Debian's installer does with guided
# LVM partitioning (bios_grub, an ext4 /boot partition, one PV holding a
# VG "<hostname>-vg" with LVs root, home and swap_1; fstab naming
# /dev/mapper/netroot--src--vg-root etc.; RESUME=UUID= of the swap LV in
# /etc/initramfs-tools/conf.d/resume). The default sources are plain
# partitions; a real installed system is often on LVM, and what netroot
# writes (fstab, initramfs, GRUB) must then no longer point at the VG.
# The host has no device-mapper, so the image is built inside a guest that
# boots SRC_IMAGE; scenario lvm-iscsi boots the result as the running
# system and migrates it with netroot onto the plan's plain partitions.
# A separate /boot partition: the installer's choice for LVM, and it makes
# the source's GRUB read /boot without the lvm module, so the copy of a
# mounted /boot partition is exercised too. Sourced by vm-tests/run.

LVM_VG=netroot-src-vg
LVM_MAPPER=netroot--src--vg

# lvm_build_script: run.sh of the build guest (vda SRC_IMAGE, vdb the IO
# disk, vdc the blank disk): partition, LVM, copy the running system,
# fstab, GRUB, initramfs; prints facts, powers off.
lvm_build_script() {
  cat <<GUEST
#!/bin/sh
set -u
vg=$LVM_VG
mp=$LVM_MAPPER
GUEST
  cat <<'GUEST'
fact() { echo "NETROOT-FACT $1=$2"; }
step() { echo "lvm-build: $*"; "$@" || { fact lvm-build-failed "$*"; echo NETROOT-FACTS-END; systemctl --no-block poweroff; exit 1; }; }
echo NETROOT-FACTS-BEGIN
d=/dev/vdc
step sfdisk -q $d <<EOF
label: gpt
size=1MiB, type=21686148-6449-6E6F-744E-656564454649
size=256MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
type=E6D6D379-F507-44C2-A23C-238F2A3DF928
EOF
udevadm settle
step mkfs.ext4 -q ${d}2
step pvcreate -q ${d}3
step vgcreate -q $vg ${d}3
step lvcreate -q -y -L 2600M -n root $vg
step lvcreate -q -y -L 256M -n swap_1 $vg
step lvcreate -q -y -l 100%FREE -n home $vg
udevadm settle
step mkfs.ext4 -q /dev/mapper/$mp-root
step mkfs.ext4 -q /dev/mapper/$mp-home
step mkswap -q /dev/mapper/$mp-swap_1
t=/run/lvm-target
mkdir -p $t
step mount /dev/mapper/$mp-root $t
mkdir -p $t/boot $t/home
step mount ${d}2 $t/boot
step mount /dev/mapper/$mp-home $t/home
# The running system, one filesystem (-x): /run, /proc, … stay empty.
step rsync -aHAXx / $t/
# What lives on the home volume: a user's files.
mkdir -p $t/home/lvmuser
echo 'on the home logical volume' > $t/home/lvmuser/marker
bootuuid=$(blkid -s UUID -o value ${d}2)
# The installer's hibernation setting: resume from the swap LV.
mkdir -p $t/etc/initramfs-tools/conf.d
echo "RESUME=UUID=$(blkid -s UUID -o value /dev/mapper/$mp-swap_1)" > $t/etc/initramfs-tools/conf.d/resume
cat > $t/etc/fstab <<EOF
# /etc/fstab: static file system information.
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
/dev/mapper/$mp-root /               ext4    errors=remount-ro 0       1
# /boot was on /dev/vda2 during installation
UUID=$bootuuid /boot           ext4    defaults        0       2
/dev/mapper/$mp-home /home           ext4    defaults        0       2
/dev/mapper/$mp-swap_1 none            swap    sw              0       0
proc /proc proc defaults 0 0
tmpfs /tmp tmpfs defaults,nosuid 0 0
EOF
cat > $t/etc/default/grub <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
# The installer's "targeted" initrd (driver-policy): MODULES=most took over
# an hour of update-initramfs in a TCG guest on a loaded host.
echo 'MODULES=dep' > $t/etc/initramfs-tools/conf.d/driver-policy
for m in dev proc sys run; do step mount --rbind /$m $t/$m; done
step chroot $t grub-install --target=i386-pc $d
step chroot $t update-grub
step chroot $t update-initramfs -u -k all
fact lvm-grub-linux "$(grep -m1 '^[[:space:]]*linux[[:space:]]' $t/boot/grub/grub.cfg)"
fact lvm-initrd-lvm "$(lsinitramfs $t/boot/initrd.img-* | grep -cE 'sbin/lvm$|69-lvm.rules')"
sync
umount -R $t
vgchange -q -an $vg
fact lvm-build ok
echo NETROOT-FACTS-END
systemctl --no-block poweroff
GUEST
}

# lvm_source: set LVM_IMAGE to the LVM source image, built once per
# SRC_IMAGE and recipe (lvm_build_script and the names) into $CACHE and
# checked by a boot from its own disk (/ on the root LV, /home on the home
# LV) before first use.
lvm_source() {
  local key io=$SCEN_OUT/lvm-io rc=0 serial
  key=$({
    basename "$SRC_IMAGE"
    echo "$LVM_VG $LVM_MAPPER"
    declare -f lvm_build_script
  } | sha256sum | cut -c1-12)
  LVM_IMAGE=$CACHE/lvm-source-$key.img
  exec 5>"$CACHE/.lvm-source.lock"
  flock 5
  if [ ! -f "$LVM_IMAGE.complete" ]; then
    log "building the LVM source image $LVM_IMAGE (a guest installs SRC_IMAGE's system onto LVM)"
    rm -f "$LVM_IMAGE" "$LVM_IMAGE.tmp"
    truncate -s 4G "$LVM_IMAGE.tmp"
    mkdir -p "$io"
    lvm_build_script >"$io/run.sh"
    truncate -s 64M "$SCEN_OUT/lvm-io.img"
    mkfs.ext4 -q -L NRVM-IO -d "$io" "$SCEN_OUT/lvm-io.img"
    serial=$SCEN_OUT/lvm-build.serial
    qemu_run lvm-build "$LIVE_TIMEOUT" - \
      -drive "file=$SRC_IMAGE,format=raw,if=virtio,snapshot=on" \
      -drive "file=$SCEN_OUT/lvm-io.img,format=raw,if=virtio,readonly=on" \
      -drive "file=$LVM_IMAGE.tmp,format=raw,if=virtio" \
      -netdev user,id=n0 -device "$GUEST_NIC" || rc=$?
    grep -a 'lvm-build\|NETROOT-FACT lvm' "$serial" | tr -d '\r' | sed 's/^/    /' >&2 || true
    [ "$rc" = 0 ] && [ "$(fact lvm-build "$serial")" = ok ] ||
      die "building the LVM source failed (status $rc; $(fact lvm-build-failed "$serial"); serial log $serial)"
    [ "$(fact lvm-initrd-lvm "$serial")" -ge 2 ] ||
      die "the LVM source's initramfs has no lvm2 (lvm, 69-lvm.rules): $(fact lvm-initrd-lvm "$serial")"
    # The check: it boots from its own disk with / and /home on the LVs.
    rc=0
    serial=$SCEN_OUT/lvm-check.serial
    qemu_run lvm-check "$QEMU_TIMEOUT" - \
      -drive "file=$LVM_IMAGE.tmp,format=raw,if=virtio,snapshot=on" \
      -netdev user,id=n0 -device "$GUEST_NIC" || rc=$?
    [ "$rc" = 0 ] && grep -q NETROOT-FACTS-END "$serial" ||
      die "the LVM source did not boot from its own disk (status $rc; serial log $serial)"
    [ "$(fact root-source "$serial")" = "/dev/mapper/$LVM_MAPPER-root" ] ||
      die "the LVM source booted with / on $(fact root-source "$serial"), not /dev/mapper/$LVM_MAPPER-root"
    lvm_assert_source lvm-check
    [ "$EXPECT_FAILED" = 0 ] || die "the LVM source's check boot failed (serial log $serial)"
    mv "$LVM_IMAGE.tmp" "$LVM_IMAGE"
    touch "$LVM_IMAGE.complete"
  fi
  # Drop older recipes' images.
  local old
  for old in "$CACHE"/lvm-source-*.img "$CACHE"/lvm-source-*.img.tmp; do
    case $old in "$LVM_IMAGE" | "$LVM_IMAGE.tmp") continue ;; esac
    rm -f "$old" "$old.complete"
  done
  flock -u 5
}

# lvm_assert_source NAME: the running system NAME is the LVM source: / and
# /home on their LVs, swap on its LV, nothing failed.
lvm_assert_source() {
  local name=$1 serial=$SCEN_OUT/$1.serial
  expect "$name: / is the root LV ($(fact root-source "$serial"))" \
    test "$(fact root-source "$serial")" = "/dev/mapper/$LVM_MAPPER-root"
  expect "$name: /home is the home LV ($(fact fstab-mount "$serial" | grep ' /home ' || true))" \
    contains "$(fact fstab-mount "$serial")" "/dev/mapper/$LVM_MAPPER-home /home /dev/mapper/$LVM_MAPPER-home"
  expect "$name: swap is the swap_1 LV ($(fact swaps "$serial"))" \
    matches "$(fact swaps "$serial")" '^/dev/dm-[0-9]+ *$'
  expect "$name: no failed units ($(fact failed-units "$serial"))" \
    bash -c 'grep -q "NETROOT-FACT failed-units=[[:space:]]*$" "$1"' _ "$serial"
}

# lvm_live_script: run.sh of the running LVM source (vda the LVM image, vdb
# the IO disk): print what it runs on, then the live path of
# guest/netroot-vm-facts (which runs only on a /dev/vd* root): `netroot
# migrate --plan … --yes` onto the host's target, log out, power off.
lvm_live_script() {
  cat <<'GUEST'
#!/bin/sh
set -u
fact() { echo "NETROOT-FACT $1=$2"; }
echo NETROOT-FACTS-BEGIN
fact root-source "$(findmnt -no SOURCE /)"
grep -v '^[[:space:]]*#' /etc/fstab | while read -r spec mnt type rest; do
  case $spec in /dev/*|UUID=*) ;; *) continue ;; esac
  if [ "$type" = swap ]; then fact fstab-swap "$spec"
  else fact fstab-mount "$spec $mnt $(findmnt -no SOURCE --mountpoint "$mnt")"; fi
done
fact swaps "$(swapon --show=NAME --noheadings | tr '\n' ' ')"
fact failed-units "$(systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
if ! ip route | grep -q '^default'; then
  for n in $(ls /sys/class/net); do
    [ "$n" = lo ] && continue
    ip link set "$n" up; dhclient -1 "$n"; break
  done
fi
start=$(date +%s)
{ /run/netroot-vm/netroot migrate --plan /run/netroot-vm/plan.json --yes 2>&1
  echo $? > /run/netroot-vm.rc; } | grep --line-buffered -v '"event":"bytes"'
echo "NETROOT-LIVE rc=$(cat /run/netroot-vm.rc) seconds=$(( $(date +%s) - start ))"
sync
iscsiadm -m node -U all || true
fact source-vgs "$(vgs --noheadings -o vg_name,lv_count | tr -s ' ' | tr '\n' ';')"
echo NETROOT-FACTS-END
systemctl --no-block poweroff
GUEST
}

# lvm_assert_home_copied IMAGE: on the migrated disk, the home LV's files
# are on the plan's /home partition (the fstab's /home UUID), and the root
# partition's /home is only the mount point.
lvm_assert_home_copied() {
  local img=$1 part mnt home_uuid="" found="" uuid
  mount_image_root "$img"
  home_uuid=$(awk '$2 == "/home" && $1 ~ /^UUID=/ {sub(/^UUID=/, "", $1); print $1}' "$IMG_ROOT/etc/fstab")
  expect "host: the root partition's /home is an empty mount point ($(ls -A "$IMG_ROOT/home" | tr '\n' ' '))" \
    test -z "$(ls -A "$IMG_ROOT/home")"
  unmount_image_root "$img"
  with_loop "$img"
  mnt=$(mktemp -d /var/tmp/netroot-vm-mnt.XXXXXX)
  defer "umount '$mnt' 2>/dev/null; rmdir '$mnt' 2>/dev/null; true"
  for part in "${LOOP}"p*; do
    [ "$(blkid -p -s TYPE -o value "$part" 2>/dev/null)" = ext4 ] || continue
    mount -o ro "$part" "$mnt"
    if [ -f "$mnt/lvmuser/marker" ]; then
      uuid=$(blkid -p -s UUID -o value "$part")
      found="$uuid $(cat "$mnt/lvmuser/marker")"
    fi
    umount "$mnt"
  done
  detach_loops "$img"
  expect "host: the home LV's files are on the fstab's /home partition UUID=${home_uuid:-none} (${found:-not found})" \
    test -n "$home_uuid" -a "$found" = "$home_uuid on the home logical volume"
}

# lvm_scenario TRANSPORT: the LVM source, running, migrated by netroot
# inside itself onto MATRIX_PARTS (/boot, swap, /home, / as plain
# partitions), then booted diskless from the result over TRANSPORT.
# iscsi: onto the host's tgtd LUN (10.0.2.2). aoe: the running source is on
# QEMU user networking, not on vblade's segment, so the plan's AoE target
# names the guest's blank disk /dev/vdc as its `device` (docs/plan.md: "the
# disk is already attached here … netroot then skips discovery"); the host
# exports that disk's file with vblade (`netroot server --export-device`).
lvm_scenario() {
  local transport=$1 img=$SCEN_OUT/disk.img host=vm-lvm-$1 iqn="" io=$SCEN_OUT/io serial rc=0 target
  local -a disk=()
  lvm_source
  truncate -s 4G "$img"
  mkdir -p "$io"
  install -m 0755 "$NETROOT" "$io/netroot"
  lvm_live_script >"$io/run.sh"
  if [ "$transport" = iscsi ]; then
    iqn=iqn.2024-01.org.netroot.vmtest:$host
    TGT_PORT=$(free_port)
    target=$(iscsi_target "$iqn")
  else
    target='{ "transport": "aoe", "shelf": 7, "slot": 1, "device": "/dev/vdc" }'
    disk=(-drive "file=$img,format=raw,if=virtio")
  fi
  PLAN_PARTS=$MATRIX_PARTS write_plan "$io/plan.json" "$target" '{ "type": "live" }' "$host"
  sed -i 's/"ssh_host_keys": false/"ssh_host_keys": true/' "$io/plan.json"
  grep -q '"ssh_host_keys": true' "$io/plan.json" || die "plan: could not ask for new ssh host keys"
  cp "$io/plan.json" "$SCEN_OUT/plan.json"
  truncate -s 256M "$SCEN_OUT/io.img"
  mkfs.ext4 -q -L NRVM-IO -d "$io" "$SCEN_OUT/io.img"
  if [ "$transport" = iscsi ]; then
    server_files "$SCEN_OUT/plan.json" --server-ip 10.0.2.2/24 --export-device "$img"
    tgt_export "$host"
  fi
  qemu_run live "$LIVE_TIMEOUT" - \
    -drive "file=$LVM_IMAGE,format=raw,if=virtio,snapshot=on" \
    -drive "file=$SCEN_OUT/io.img,format=raw,if=virtio,readonly=on" \
    "${disk[@]}" -netdev user,id=n0 -device "$GUEST_NIC" || rc=$?
  serial=$SCEN_OUT/live.serial
  assert_booted live "$rc"
  lvm_assert_source live
  grep -a 'NETROOT-LIVE rc=' "$serial" | tr -d '\r' | sed 's/^/    /' >&2 || true
  expect "live: netroot migrate ran inside the LVM source and succeeded" \
    grep -q 'NETROOT-LIVE rc=0 ' "$serial"
  grep -q 'NETROOT-LIVE rc=0 ' "$serial" || return 0
  if [ "$transport" = iscsi ]; then
    tgt_stop "$TGT_PID" "$TGT_CTL"
    lvm_assert_home_copied "$img"
    iscsi_boot boot "$SCEN_OUT/plan.json" "$host" bios --export-device "$img"
  else
    lvm_assert_home_copied "$img"
    lvm_aoe_boot boot "$SCEN_OUT/plan.json" "$host" "$img"
  fi
  serial=$SCEN_OUT/boot.serial
  matrix_assert_root boot "$transport" "${iqn:-}" "$img"
  expect "boot: the migrated fstab names no /dev/mapper device ($(fact fstab "$serial" | grep mapper || true))" \
    bash -c '[ -n "$1" ] && ! grep -q /dev/mapper <<<"$1"' _ "$(fact fstab "$serial")"
  expect "boot: the initramfs did not wait for the source's resume device ($(grep -a -m1 'resume device' "$serial" | tr -d '\r' || true))" \
    bash -c '! grep -qa "suspend/resume device" "$1"' _ "$serial"
  expect "boot: no LVM volume shows up ($(fact lsblk "$serial" | grep -E ' lvm | dm-' || true))" \
    bash -c '! grep -qE "(^dm-| lvm )" <<<"$1"' _ "$(fact lsblk "$serial")"
  matrix_assert_settled boot
  matrix_assert_stack boot ifupdown "$transport"
  matrix_assert_identity boot "$host"
}
scenario_lvm-iscsi() { lvm_scenario iscsi; }
scenario_lvm-aoe() { lvm_scenario aoe; }

# lvm_aoe_boot NAME PLAN HOST IMAGE: aoe_boot (vm-tests/run) with the disk
# the plan names inside the guest (/dev/vdc) exported from its file here.
lvm_aoe_boot() {
  local name=$1 plan=$2 host=$3 img=$4
  server_files "$plan" --interface tap0 --server-ip 10.77.0.1 \
    --subnet 10.77.0.0/24 --range 10.77.0.50-10.77.0.99 --dhcp-interface tap0 \
    --export-device "$img"
  netns_up
  vblade_export "$host"
  dnsmasq_up
  BOOT_RC=0
  qemu_run "$name" "$QEMU_TIMEOUT" "$NETNS" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
    -device "$GUEST_NIC" -boot n || BOOT_RC=$?
}

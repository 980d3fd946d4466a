# vm-tests source systems, built once into $CACHE and rebuilt when their
# recipe (this file, guest/*, the test rootfs) changes:
#   SRC_TREE   the test rootfs (tests/support/build-rootfs.sh) plus the facts
#              unit: the directory source netroot migrates from;
#   SRC_IMAGE  that tree on a GPT disk with GRUB, bootable from a local
#              virtio disk: the running system the live path migrates.
# Sourced by vm-tests/run after lib.sh; runs inside a private mount namespace.

# hand_image TREE IMAGE HOSTNAME MODE: put TREE on a 4 GiB GPT/BIOS image by
# hand (bios_grub + ext4 root by UUID, GRUB on serial). MODE "local" keeps
# the tree's initramfs; "iscsi" rebuilds it with open-iscsi's iBFT config
# (ISCSI_AUTO=true) — the plumbing check that does not need netroot.
hand_image() {
  local tree=$1 img=$2 host=$3 mode=$4 dev mnt uuid kver
  rm -f "$img"
  truncate -s 4G "$img"
  sfdisk -q "$img" <<'EOF'
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649
start=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOF
  with_loop "$img"
  dev=$LOOP
  uuid=$(cat /proc/sys/kernel/random/uuid)
  mkfs.ext4 -q -U "$uuid" -L root "${dev}p2"
  mnt=$(mktemp -d /var/tmp/netroot-vm-mnt.XXXXXX)
  mount "${dev}p2" "$mnt"
  defer "umount -R '$mnt' 2>/dev/null; rmdir '$mnt' 2>/dev/null; true"
  rsync -aHAXS --numeric-ids "$tree/" "$mnt/"
  rm -f "$mnt/.netroot-rootfs-complete" "$mnt/.netroot-vm-tree-complete"
  cat >"$mnt/etc/fstab" <<EOF
UUID=$uuid / ext4 errors=remount-ro 0 1
proc /proc proc defaults 0 0
tmpfs /tmp tmpfs defaults,nosuid 0 0
EOF
  echo "$host" >"$mnt/etc/hostname"
  kver=$(basename "$(ls "$mnt"/boot/vmlinuz-* | tail -1)")
  kver=${kver#vmlinuz-}
  if [ "$mode" = iscsi ]; then
    echo "ISCSI_AUTO=true" >"$mnt/etc/iscsi/iscsi.initramfs"
    mount --bind /dev "$mnt/dev"
    mount -t proc proc "$mnt/proc"
    mount -t sysfs sys "$mnt/sys"
    chroot "$mnt" update-initramfs -u -k "$kver" >&2
    umount "$mnt/sys" "$mnt/proc" "$mnt/dev"
  fi
  grub-install --target=i386-pc --boot-directory="$mnt/boot" \
    --modules="part_gpt ext2" "$dev" >&2
  cat >"$mnt/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "netroot vm-tests $host" {
  insmod part_gpt
  insmod ext2
  search --no-floppy --fs-uuid --set=root $uuid
  linux /boot/vmlinuz-$kver root=UUID=$uuid ro console=ttyS0,115200n8
  initrd /boot/initrd.img-$kver
}
EOF
  umount "$mnt"
  rmdir "$mnt"
  losetup -d "$dev"
}

# The guest NIC's name: QEMU puts it in PCI slot 8 ($GUEST_NIC in lib.sh).
# Here, not in lib.sh, so that a change rebuilds the source tree.
GUEST_IF=ens8

# Packages netroot runs on a live system that the test rootfs lacks (lvm2:
# the snapshot-lvm scenario's source volume).
LIVE_PACKAGES="rsync fdisk lvm2"

# install_facts_unit TREE: the unit that prints the facts and powers off
# (vm-tests/guest/), enabled, with the serial getty masked.
install_facts_unit() {
  local tree=$1
  install -m 0755 "$VM_DIR/guest/netroot-vm-facts" "$tree/usr/local/sbin/"
  install -m 0755 "$VM_DIR/guest/netroot-vm-outage" "$tree/usr/local/sbin/"
  install -m 0644 "$VM_DIR/guest/netroot-vm-facts.service" "$tree/etc/systemd/system/"
  mkdir -p "$tree/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/netroot-vm-facts.service \
    "$tree/etc/systemd/system/multi-user.target.wants/"
  # A getty on the serial console hangs it up and our facts get lost.
  ln -sf /dev/null "$tree/etc/systemd/system/serial-getty@ttyS0.service"
}

# build_sources: set SRC_TREE and SRC_IMAGE, building what is missing.
build_sources() {
  local rootfs key
  rootfs=$(bash "$REPO/tests/support/build-rootfs.sh")
  key=$({
    echo "$rootfs"
    cat "$VM_DIR/source.sh" "$VM_DIR"/guest/*
  } | sha256sum | cut -c1-12)
  SRC_TREE=$CACHE/tree-$key
  SRC_IMAGE=$CACHE/source-$key.img
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.build.lock"
  flock 8
  if [ ! -f "$SRC_TREE/.netroot-vm-tree-complete" ]; then
    log "building the source tree $SRC_TREE from $rootfs"
    if [ -d "$SRC_TREE" ]; then
      findmnt -rn -o TARGET | grep -q "^$SRC_TREE" && die "$SRC_TREE has mounts below it"
      rm -rf --one-file-system "$SRC_TREE"
    fi
    rsync -aHAXS --numeric-ids "$rootfs/" "$SRC_TREE/"
    rm -f "$SRC_TREE/.netroot-rootfs-complete"
    # What netroot needs on a running system that minbase lacks.
    cp -L /etc/resolv.conf "$SRC_TREE/etc/resolv.conf"
    mount --bind /dev "$SRC_TREE/dev"
    mount -t proc proc "$SRC_TREE/proc"
    defer "umount '$SRC_TREE/proc' '$SRC_TREE/dev' 2>/dev/null; true"
    chroot "$SRC_TREE" apt-get -qq update >&2
    DEBIAN_FRONTEND=noninteractive chroot "$SRC_TREE" \
      apt-get -qq install -y --no-install-recommends $LIVE_PACKAGES >&2
    chroot "$SRC_TREE" apt-get clean
    rm -rf "$SRC_TREE"/var/lib/apt/lists/*
    umount "$SRC_TREE/proc" "$SRC_TREE/dev"
    # The NIC as Debian's installer configures it: ifupdown brings it up with
    # DHCP, and its units would take it down at shutdown — under a network
    # root netroot's drop-ins must keep it up for the guest to power off.
    cat >>"$SRC_TREE/etc/network/interfaces" <<EOF

# The primary network interface
allow-hotplug $GUEST_IF
iface $GUEST_IF inet dhcp
EOF
    install_facts_unit "$SRC_TREE"
    touch "$SRC_TREE/.netroot-vm-tree-complete"
  fi
  if [ ! -f "$SRC_IMAGE.complete" ]; then
    log "building the bootable source image $SRC_IMAGE"
    hand_image "$SRC_TREE" "$SRC_IMAGE" netroot-src local
    touch "$SRC_IMAGE.complete"
  fi
  # Drop what older recipes of this tree left (tree-KEY, source-KEY.img),
  # not the matrix's trees (tree-SUITE-STACK-KEY, vm-tests/matrix.sh).
  local old x='[0-9a-f]'
  for old in "$CACHE"/tree-* "$CACHE"/source-*.img; do
    case $old in "$SRC_TREE" | "$SRC_IMAGE") continue ;; esac
    case ${old##*/} in tree-$x$x$x$x$x$x$x$x$x$x$x$x | source-$x$x$x$x$x$x$x$x$x$x$x$x.img) ;; *) continue ;; esac
    [ -e "$old" ] || continue
    if [ -d "$old" ]; then
      findmnt -rn -o TARGET | grep -q "^$old" && continue
      rm -rf --one-file-system "$old"
    else
      rm -f "$old" "$old.complete"
    fi
  done
  flock -u 8
}

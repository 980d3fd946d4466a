#!/usr/bin/env bash
# Build (once) a Debian bookworm root tree that the root-tier tests and the
# vm-tests migrate from. Rebuilt when this recipe changes.
#   usage: build-rootfs.sh [CACHE_DIR]   (default /var/cache/netroot-tests)
# Prints the tree's path on stdout.
set -euo pipefail
cache=${1:-${NETROOT_TEST_CACHE:-/var/cache/netroot-tests}}
suite=bookworm
mirror=${NETROOT_TEST_MIRROR:-http://deb.debian.org/debian}
include=linux-image-amd64,initramfs-tools,grub-pc-bin,grub-efi-amd64-bin,grub2-common,systemd-sysv,udev,kmod,ifupdown,isc-dhcp-client,iproute2,open-iscsi,aoetools,e2fsprogs,xfsprogs,dosfstools,openssh-server,acl,attr,libcap2-bin,procps
recipe_hash=$( { cat "$0"; echo "$suite $mirror $include"; } | sha256sum | cut -c1-16)
tree=$cache/$suite-$recipe_hash
if [ -f "$tree/.netroot-rootfs-complete" ]; then
  echo "$tree"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
if [ -f "$tree/.netroot-rootfs-complete" ]; then echo "$tree"; exit 0; fi
# A half-built tree from a killed run: nothing may be mounted below it.
if [ -d "$tree" ]; then
  if findmnt -rn -o TARGET | grep -q "^$tree"; then
    echo "build-rootfs: $tree has mounts below it; unmount them first" >&2; exit 1
  fi
  rm -rf --one-file-system "$tree"
fi
echo "build-rootfs: debootstrap $suite into $tree (a few minutes)" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$tree" "$mirror" >&2
# What a real installed system has that minbase lacks.
echo "netroot-src" > "$tree/etc/hostname"
cat > "$tree/etc/fstab" <<'FSTAB'
# /etc/fstab: static file system information.
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
/dev/sda1       /               ext4    errors=remount-ro 0     1
/dev/sda2       none            swap    sw              0       0
proc            /proc           proc    defaults        0       0
tmpfs           /tmp            tmpfs   defaults,nosuid 0       0
FSTAB
cat > "$tree/etc/network/interfaces" <<'IF'
auto lo
iface lo inet loopback
IF
echo "root:netroot" | chroot "$tree" chpasswd
# Files whose metadata a copy must keep: hard links, xattrs, ACLs, file
# capabilities, a sparse file, a device node, a FIFO.
f=$tree/root/netroot-fixtures
mkdir -p "$f"
echo "linked" > "$f/hardlink-a"; ln -f "$f/hardlink-a" "$f/hardlink-b"
echo "x" > "$f/xattr"; setfattr -n user.netroot -v kept "$f/xattr"
echo "acl" > "$f/acl"; setfacl -m u:nobody:r "$f/acl"
cp "$tree/usr/bin/true" "$f/cap-true"; setcap cap_net_raw+ep "$f/cap-true"
truncate -s 64M "$f/sparse"; echo "end" >> "$f/sparse"
mknod "$f/null-dev" c 1 3
mkfifo "$f/fifo"
apt_clean() { rm -f "$tree"/var/cache/apt/archives/*.deb; }
apt_clean
touch "$tree/.netroot-rootfs-complete"
echo "$tree"

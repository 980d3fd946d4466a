#!/usr/bin/env bash
# Benchmark: `netroot migrate` against the same work done by hand the way the
# recipes do it, and against `dd` of the same number of bytes (the device's
# limit). Same source tree, same kind of target (a fresh loop-backed image
# per run). Not a test: it prints times and ratios.
#
#   usage: sudo tests/bench/migrate.sh [SOURCE_TREE]
#   env:   NETROOT_BIN (default target/release/netroot, else target/debug/netroot)
#          NETROOT_BENCH_DIR (default /var/tmp/netroot-bench), NETROOT_BENCH_SIZE (4G),
#          NETROOT_BENCH_ROUNDS (2; the best round of each kind counts)
#
# Goals (issue #15): the copy step within 1.10x of plain rsync and 1.5x of dd;
# the whole migration at most 0.80x the hand-made procedure; the initramfs at
# most half the size of the one built by hand. tests/bench/run.sh runs this
# and tests/bench/boot.sh and prints every ratio in one table.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench: run as root (loop devices, mount, chroot)" >&2; exit 1; }
# Everything mounted here stays in a private mount namespace.
if [ -z "${NETROOT_BENCH_NS:-}" ]; then
  exec env NETROOT_BENCH_NS=1 unshare -m --propagation private "$0" "$@"
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$(bash "$repo/tests/support/build-rootfs.sh")}
src=${src%/}
if [ -n "${NETROOT_BIN:-}" ]; then netroot=$NETROOT_BIN
elif [ -x "$repo/target/release/netroot" ]; then netroot=$repo/target/release/netroot
else netroot=$repo/target/debug/netroot; fi
[ -x "$netroot" ] || { echo "bench: build netroot first (cargo build --release)" >&2; exit 1; }
work=${NETROOT_BENCH_DIR:-/var/tmp/netroot-bench}
size=${NETROOT_BENCH_SIZE:-4G}
rounds=${NETROOT_BENCH_ROUNDS:-2}
img=$work/disk.img
mnt=$work/mnt

cleanup() {
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" || true; done
  for l in $(losetup -j "$img" -O NAME -n 2>/dev/null); do losetup -d "$l" || true; done
}
trap cleanup EXIT
fresh() { cleanup; rm -rf --one-file-system "$work/state" "$work/wk" "$img"; mkdir -p "$work" "$mnt"; }
now() { date +%s.%N; }
el() { echo "$2 - $1" | bc; }
mkdir -p "$work"

cat > "$work/plan.json" <<EOF
{ "version": 1,
  "source": { "type": "directory", "path": "$src" },
  "target": { "transport": "iscsi", "portal": "127.0.0.1", "iqn": "iqn.2024-01.bench.netroot:disk",
              "lun": 1, "device": "$img", "size": "$size" },
  "layout": { "table": "gpt", "firmware": "bios",
              "partitions": [ { "mount": "/", "fs": "ext4", "size": "rest" } ] },
  "boot": { "profile": "debian" } }
EOF
nr() { "$netroot" migrate --plan "$work/plan.json" --yes --state-dir "$work/state" --work-dir "$work/wk" "$@" >>"$work/netroot.log" 2>&1; }

echo "bench: source $src ($(du -sh --apparent-size "$src" | cut -f1) apparent, $(du -sh "$src" | cut -f1) on disk, $(find "$src" -xdev | wc -l) entries)"
echo "bench: netroot $netroot; target a fresh $size image in $work per run; $(nproc) CPUs"
echo "bench: warming the page cache with the source (every run then reads it from memory)"
find "$src" -xdev -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true

# Does netroot do the whole migration yet (initramfs, bootloader)?
fresh
whole_args=()
if ! nr; then
  echo "bench: the whole plan does not run yet (see $work/netroot.log); comparing up to fstab"
  whole_args=(--stop-after fstab)
  full=0
else
  full=1
fi

# initrd_size: bytes of the initramfs on the image's root (partition 2).
initrd_size() {
  local l
  l=$(losetup -f -P --show "$img")
  for _ in $(seq 100); do [ -b "${l}p2" ] && break; partx -u "$l" 2>/dev/null || true; sleep 0.05; done
  mount -o ro "${l}p2" "$mnt"
  stat -c %s "$mnt"/boot/initrd.img-* 2>/dev/null | head -1
  umount "$mnt"; losetup -d "$l"
}
nr_initrd=0 hand_initrd=0

best() { printf '%s\n' "$@" | sort -g | head -1; }
declare -a t_nr_whole t_nr_copy t_hand_whole t_hand_rsync t_dd t_nr_initrd=() t_hand_initrd=()
bytes=0

for r in $(seq 1 "$rounds"); do
  # netroot, copy step alone: everything up to mount first, then time the copy run.
  fresh; nr --stop-after mount
  a=$(now); nr --stop-after copy; b=$(now)
  t_nr_copy+=("$(el "$a" "$b")")
  # netroot, initramfs step alone, on the same disk.
  if [ "$full" = 1 ]; then
    nr --stop-after identity
    a=$(now); nr --stop-after initramfs; b=$(now)
    t_nr_initrd+=("$(el "$a" "$b")")
  fi

  # netroot, whole.
  fresh
  a=$(now); nr "${whole_args[@]}"; b=$(now)
  t_nr_whole+=("$(el "$a" "$b")")
  [ "$full" = 1 ] && nr_initrd=$(initrd_size)

  # By hand, as the recipes do it.
  fresh
  a=$(now)
  truncate -s "$size" "$img"
  printf 'label: gpt\nsize=1MiB, type=21686148-6449-6E6F-744E-656564454649\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' | sfdisk -q "$img"
  loop=$(losetup -f -P --show "$img")
  for _ in $(seq 100); do [ -b "${loop}p2" ] && break; partx -u "$loop" 2>/dev/null || true; sleep 0.05; done
  mkfs.ext4 -q -F "${loop}p2"
  mount "${loop}p2" "$mnt"
  ra=$(now)
  rsync -aHAXx --numeric-ids "$src/" "$mnt/"
  sync -f "$mnt"
  rb=$(now)
  echo "UUID=$(blkid -o value -s UUID "${loop}p2") / ext4 errors=remount-ro,_netdev 0 1" > "$mnt/etc/fstab"
  if [ "$full" = 1 ]; then
    for d in dev proc sys run; do mount --bind "/$d" "$mnt/$d"; done
    ia=$(now)
    chroot "$mnt" update-initramfs -u -k all >/dev/null 2>&1
    t_hand_initrd+=("$(el "$ia" "$(now)")")
    chroot "$mnt" grub-install --target=i386-pc "$loop" >/dev/null 2>&1
    chroot "$mnt" grub-mkconfig -o /boot/grub/grub.cfg >/dev/null 2>&1
    for d in run sys proc dev; do umount "$mnt/$d"; done
    hand_initrd=$(stat -c %s "$mnt"/boot/initrd.img-* | head -1)
  fi
  bytes=$(df --output=used -B1 "$mnt" | tail -1)
  umount "$mnt"; losetup -d "$loop"
  b=$(now)
  t_hand_whole+=("$(el "$a" "$b")")
  t_hand_rsync+=("$(el "$ra" "$rb")")

  # dd of as many bytes as the copy put on the filesystem.
  fresh
  truncate -s "$size" "$img"
  loop=$(losetup -f --show "$img")
  a=$(now)
  dd if=/dev/zero of="$loop" bs=4M count=$((bytes / 4194304)) oflag=direct conv=fsync status=none
  b=$(now)
  losetup -d "$loop"
  t_dd+=("$(el "$a" "$b")")
  echo "bench: round $r: netroot copy ${t_nr_copy[-1]}s, netroot whole ${t_nr_whole[-1]}s, hand rsync ${t_hand_rsync[-1]}s, hand whole ${t_hand_whole[-1]}s, dd ${t_dd[-1]}s"
done
fresh

nc=$(best "${t_nr_copy[@]}"); nw=$(best "${t_nr_whole[@]}")
hr=$(best "${t_hand_rsync[@]}"); hw=$(best "${t_hand_whole[@]}"); dd_=$(best "${t_dd[@]}")
ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "best of $rounds rounds; $((bytes / 1048576)) MiB on the target filesystem"
[ "$full" = 1 ] || echo "(initramfs and bootloader not implemented yet: 'whole' = up to fstab, hand = sfdisk+mkfs+rsync+fstab)"
printf '  %-34s %8.2fs\n' "netroot migrate, copy step alone" "$nc" "plain rsync -aHAXx (+sync)" "$hr" \
  "netroot migrate, whole" "$nw" "by hand, whole" "$hw" "dd of the same bytes" "$dd_"
echo "  copy step / plain rsync:      $(ratio "$nc" "$hr")   (goal <= 1.10)"
echo "  whole netroot / by hand:      $(ratio "$nw" "$hw")   (goal <= 0.80)"
echo "  plain rsync / dd:             $(ratio "$hr" "$dd_")"
echo "  netroot copy step / dd:       $(ratio "$nc" "$dd_")   (goal <= 1.50)"
if [ "$full" = 1 ] && [ "$hand_initrd" -gt 0 ]; then
  echo "  initramfs netroot / by hand:  $(ratio "$nr_initrd" "$hand_initrd")   ($((nr_initrd / 1048576)) MiB / $((hand_initrd / 1048576)) MiB; goal <= 0.50)"
fi
# For tests/bench/run.sh: the best times (s) and the initramfs sizes (bytes).
echo "BENCH-MIGRATE copy=$nc rsync=$hr whole=$nw hand=$hw dd=$dd_ full=$full" \
  "initrd_netroot=$nr_initrd initrd_hand=$hand_initrd" \
  "initrd_netroot_s=$(best "${t_nr_initrd[@]:-0}") initrd_hand_s=$(best "${t_hand_initrd[@]:-0}")" \
  "bytes=$bytes entries=$(find "$src" -xdev | wc -l)"

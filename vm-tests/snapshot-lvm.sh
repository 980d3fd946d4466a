# vm-tests scenario snapshot-lvm: `source.snapshot` on an LVM logical volume.
# The host has no device-mapper, so this runs inside one guest: it boots the
# source image from its local disk with a blank third disk, makes a volume
# group there with a small root tree on an ext4 logical volume, and runs
# netroot (from the NRVM-IO disk) with a directory source on it and
# "snapshot": true, onto an image file. netroot's own test hook stops it
# right after it mounted the snapshot (NETROOT_TEST_STOP_AT=copy:3: lvcreate,
# the mount directory, the mount); the guest then changes the source and lets
# it go on. The copy must hold the tree as it was at the snapshot, and the
# snapshot must be gone afterwards. Sourced by vm-tests/run.

# The script the guest runs (facts script's run.sh role); prints facts.
snapshot_lvm_guest_script() {
  cat <<'GUEST'
#!/bin/sh
set -u
fact() { echo "NETROOT-FACT $1=$2"; }
lvnames() { lvs --noheadings -o lv_name vgsrc 2>/dev/null | tr -s ' \n' ' '; }
echo NETROOT-FACTS-BEGIN
pvcreate -q /dev/vdc && vgcreate -q vgsrc /dev/vdc && lvcreate -q -y -L 600M -n deb vgsrc
mkfs.ext4 -q /dev/vgsrc/deb
mkdir -p /srv/src && mount /dev/vgsrc/deb /srv/src
mkdir -p /srv/src/deb/etc /srv/src/deb/usr/bin
echo "ID=debian" > /srv/src/deb/etc/os-release
echo before > /srv/src/deb/etc/state
cp /bin/true /srv/src/deb/usr/bin/true
cp /run/netroot-vm/plan.json /tmp/plan.json
NETROOT_TEST_STOP_AT=copy:3 /run/netroot-vm/netroot migrate --plan /tmp/plan.json \
  --yes --stop-after copy --state-dir /var/tmp/nr-state --work-dir /run/nr-work \
  > /tmp/migrate.log 2>&1 &
pid=$!
i=0
while [ $i -lt 900 ]; do
  st=$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -c1)
  [ "$st" = T ] || [ -z "$st" ] && break
  sleep 1; i=$((i + 1))
done
fact snap-stopped "$st"
fact snap-during "$(lvnames)"
fact snap-mounted "$(findmnt -rn -o SOURCE,TARGET | grep netroot--snap | tr '\n' ' ')"
echo changed > /srv/src/deb/etc/state
echo x > /srv/src/deb/etc/new-during-copy
kill -CONT $pid
wait $pid
fact snap-rc "$?"
tail -n 15 /tmp/migrate.log | sed 's/^/migrate: /'
fact snap-after "$(lvnames)"
fact snap-left-mounted "$(findmnt -rn -o TARGET | grep -c netroot-snap)"
loop=$(losetup -f -P -r --show /var/tmp/t.img)
udevadm settle 2>/dev/null || sleep 2
mkdir -p /mnt/t && mount -o ro "${loop}p2" /mnt/t
fact snap-target-state "$(cat /mnt/t/etc/state 2>&1)"
fact snap-target-new "$(ls /mnt/t/etc/new-during-copy 2>&1)"
fact snap-target-true "$(ls -l /mnt/t/usr/bin/true 2>&1 | cut -c1-10)"
umount /mnt/t; losetup -d "$loop"
fact snap-source-state "$(cat /srv/src/deb/etc/state)"
echo NETROOT-FACTS-END
systemctl --no-block poweroff
GUEST
}

scenario_snapshot-lvm() {
  local io=$SCEN_OUT/io serial=$SCEN_OUT/snap.serial rc=0
  mkdir -p "$io"
  install -m 0755 "$NETROOT" "$io/netroot"
  snapshot_lvm_guest_script >"$io/run.sh"
  cat >"$io/plan.json" <<'PLAN'
{
  "version": 1,
  "source": { "type": "directory", "path": "/srv/src/deb", "snapshot": true },
  "target": { "transport": "iscsi", "portal": "127.0.0.1", "iqn": "iqn.2024-01.org.netroot.vmtest:snap",
              "lun": 1, "device": "/var/tmp/t.img", "size": "1G" },
  "layout": { "table": "gpt", "firmware": "bios",
              "partitions": [ { "mount": "/", "fs": "ext4", "size": "rest" } ] },
  "boot": { "profile": "debian" }
}
PLAN
  truncate -s 256M "$SCEN_OUT/io.img"
  mkfs.ext4 -q -L NRVM-IO -d "$io" "$SCEN_OUT/io.img"
  truncate -s 2G "$SCEN_OUT/pv.img"
  qemu_run snap "$QEMU_TIMEOUT" - \
    -drive "file=$SRC_IMAGE,format=raw,if=virtio,snapshot=on" \
    -drive "file=$SCEN_OUT/io.img,format=raw,if=virtio,readonly=on" \
    -drive "file=$SCEN_OUT/pv.img,format=raw,if=virtio" \
    -netdev user,id=n0 -device "$GUEST_NIC" || rc=$?
  assert_booted snap "$rc"
  expect "snap: netroot stopped itself after mounting the snapshot" \
    test "$(fact snap-stopped "$serial")" = T
  expect "snap: the snapshot volume existed during the copy ($(fact snap-during "$serial"))" \
    contains "$(fact snap-during "$serial")" "deb-netroot-snap"
  expect "snap: it was mounted read-only for the copy ($(fact snap-mounted "$serial"))" \
    contains "$(fact snap-mounted "$serial")" "deb--netroot--snap"
  expect "snap: netroot migrate succeeded (status $(fact snap-rc "$serial"))" \
    test "$(fact snap-rc "$serial")" = 0
  expect "snap: the snapshot was removed ($(fact snap-after "$serial"))" \
    bash -c '! grep -q netroot-snap <<<"$1" && grep -q deb <<<"$1"' _ "$(fact snap-after "$serial")"
  expect "snap: nothing left mounted" test "$(fact snap-left-mounted "$serial")" = 0
  expect "snap: the copy holds the file as it was at the snapshot" \
    test "$(fact snap-target-state "$serial")" = before
  expect "snap: a file made after the snapshot is not in the copy" \
    contains "$(fact snap-target-new "$serial")" "No such file"
  expect "snap: the tree was copied ($(fact snap-target-true "$serial"))" \
    matches "$(fact snap-target-true "$serial")" '^-rwx'
  expect "snap: the source kept its own later write" \
    test "$(fact snap-source-state "$serial")" = changed
}

# vm-tests with a real server: two QEMU guests on one virtual LAN (a bridge
# in a network namespace). The *server* guest boots its own Debian disk,
# runs `netroot server apply` with only the options docs/server.md tells
# users to pass, powers off, and boots again: the services must come back
# by themselves. Then a diskless *client* guest network-boots from nothing
# but what that server serves: DHCP → iPXE script over TFTP → sanboot →
# the migrated root (over iSCSI from tgt, or over AoE from vblade).
# Sourced by vm-tests/run after lib.sh and source.sh.

LAN_NET=10.88.0
SERVER_IP=$LAN_NET.1
SERVER_MAC=52:54:00:4e:53:01
# What `netroot server apply` installs, downloaded into the server image's
# apt cache so it installs offline (the guest has only the test LAN).
SERVER_PACKAGES="ipxe tgt vblade dnsmasq isc-dhcp-server tftpd-hpa targetcli-fb"

# build_server_image: SERVER_IMAGE, the source tree with the server
# packages' .debs in its apt cache (not installed: apply installs them) and
# a static address on the LAN NIC, bootable from a local disk.
build_server_image() {
  local key tree
  key=$({
    echo "$SRC_TREE $SERVER_PACKAGES $SERVER_IP"
    declare -f build_server_image
  } | sha256sum | cut -c1-12)
  tree=$CACHE/server-tree-$key
  SERVER_IMAGE=$CACHE/server-$key.img
  exec 9>"$CACHE/.server.lock"
  flock 9
  if [ ! -f "$SERVER_IMAGE.complete" ]; then
    log "building the server image $SERVER_IMAGE"
    if [ -d "$tree" ]; then
      findmnt -rn -o TARGET | grep -q "^$tree" && die "$tree has mounts below it"
      rm -rf --one-file-system "$tree"
    fi
    rsync -aHAXS --numeric-ids "$SRC_TREE/" "$tree/"
    rm -f "$tree/.netroot-vm-tree-complete"
    mount --bind /dev "$tree/dev"
    mount -t proc proc "$tree/proc"
    defer "umount '$tree/proc' '$tree/dev' 2>/dev/null; true"
    chroot "$tree" apt-get -qq update >&2
    DEBIAN_FRONTEND=noninteractive chroot "$tree" \
      apt-get -qq install -y --download-only --no-install-recommends $SERVER_PACKAGES >&2
    umount "$tree/proc" "$tree/dev"
    # The server's LAN address, static as on a real server.
    sed -i "s/^iface $GUEST_IF inet dhcp\$/iface $GUEST_IF inet static\n  address $SERVER_IP\/24/" \
      "$tree/etc/network/interfaces"
    grep -q "address $SERVER_IP/24" "$tree/etc/network/interfaces" || die "no static address in the server tree"
    # A server with a serial console, as its admin set it up: apply
    # installs ipxe, whose postinst runs update-grub; the menu it writes
    # must keep the serial console (QEMU here has no display at all).
    mkdir -p "$tree/etc/default/grub.d"
    cat >"$tree/etc/default/grub.d/netroot-vm.cfg" <<'EOG'
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"
GRUB_TIMEOUT=0
GRUB_DISABLE_OS_PROBER=true
EOG
    hand_image "$tree" "$SERVER_IMAGE" netroot-server local
    rm -rf --one-file-system "$tree"
    touch "$SERVER_IMAGE.complete"
  fi
  exec 9>&-
  local old
  for old in "$CACHE"/server-*.img; do
    [ "$old" = "$SERVER_IMAGE" ] || rm -f "$old" "$old.complete"
  done
}

# lan_up: NETNS with a bridge joining tap0 (the server) and tap1 (the
# client); no address on the host side: the server serves everything.
lan_up() {
  NETNS=netroot-lan-$$-$BASHPID
  ip netns add "$NETNS"
  defer "ip netns del '$NETNS'"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" link add br0 type bridge stp_state 0 forward_delay 0
  ip -n "$NETNS" link set br0 up
  local t
  for t in tap0 tap1; do
    ip -n "$NETNS" tuntap add dev "$t" mode tap
    ip -n "$NETNS" link set "$t" master br0
    ip -n "$NETNS" link set "$t" up
  done
}

# server_boot NAME: the server guest (its own disk, the migrated image as
# its second disk, the io disk with netroot, the plan and the run script)
# in the background. Sets SERVER_QEMU_PID.
server_boot() {
  local name=$1 serial=$SCEN_OUT/$1.serial
  : >"$serial"
  log "qemu $name (server guest), serial log $serial"
  ip netns exec "$NETNS" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 \
    -nodefaults -display none -monitor none -serial "file:$serial" -no-reboot \
    -drive "file=$SCEN_OUT/server.img,format=raw,if=virtio" \
    -drive "file=$SCEN_OUT/disk.img,format=raw,if=virtio" \
    -drive "file=$SCEN_OUT/io.img,format=raw,if=virtio,readonly=on" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
    -device "virtio-net-pci,netdev=n0,mac=$SERVER_MAC,addr=0x8" \
    >"$SCEN_OUT/$name.qemu.log" 2>&1 &
  SERVER_QEMU_PID=$!
  defer "stop_pid $SERVER_QEMU_PID"
}

# wait_serial FILE PATTERN SECONDS PID: until PATTERN shows in FILE; fails
# when PID exits first or time runs out.
wait_serial() {
  local i
  for ((i = 0; i < $3; i++)); do
    grep -qa "$2" "$1" && return 0
    kill -0 "$4" 2>/dev/null || { grep -qa "$2" "$1"; return; }
    sleep 1
  done
  return 1
}

# server_lan_scenario TRANSPORT HOST: migrate on this host onto an image,
# serve it from the server guest, boot the client from that server.
server_lan_scenario() {
  local transport=$1 host=$2 img=$SCEN_OUT/disk.img target
  local iqn=iqn.2024-01.org.netroot.vmtest:$host
  build_server_image
  if [ "$transport" = iscsi ]; then
    target="{ \"transport\": \"iscsi\", \"portal\": \"$SERVER_IP\", \"iqn\": \"$iqn\", \"lun\": 1, \"device\": \"$img\", \"size\": \"4G\" }"
  else
    target="{ \"transport\": \"aoe\", \"shelf\": 5, \"slot\": 2, \"device\": \"$img\", \"size\": \"4G\" }"
  fi
  write_plan "$SCEN_OUT/plan.json" "$target" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"

  # The options docs/server.md tells users to pass: the server's address
  # with its prefix, its NIC for AoE, and where the disk is on the server.
  local -a opts=(--server-ip "$SERVER_IP/24" --export-device /dev/vdb)
  [ "$transport" = aoe ] && opts+=(--interface "$GUEST_IF")
  rm -rf "$SCEN_OUT/srv"
  "$NETROOT" server --plan "$SCEN_OUT/plan.json" --out "$SCEN_OUT/srv" "${opts[@]}" \
    >"$SCEN_OUT/server.log" 2>&1 || die "netroot server failed: $(tail -3 "$SCEN_OUT/server.log")"

  # The io disk: netroot, the plan, and what the server guest runs.
  local io=$SCEN_OUT/io
  mkdir -p "$io"
  install -m 0755 "$NETROOT" "$io/netroot"
  cp "$SCEN_OUT/plan.json" "$io/plan.json"
  cp -r "$SCEN_OUT/srv" "$io/srv"
  cat >"$io/server-run.sh" <<EOS
#!/bin/sh
# First boot: netroot server apply, then power off. Second boot: the
# services must be running by themselves.
fact() { echo "NETROOT-FACT \$1=\$2"; }
if [ ! -e /var/lib/netroot-vm-applied ]; then
  echo NETROOT-SERVER-APPLY-BEGIN
  /run/netroot-vm/netroot server apply --plan /run/netroot-vm/plan.json ${opts[*]} 2>&1
  fact apply-rc \$?
  /run/netroot-vm/netroot server apply --plan /run/netroot-vm/plan.json ${opts[*]} 2>&1 | grep -v '^unchanged' | sed 's/^/again: /'
  for f in /etc/tgt/conf.d/netroot-$host.conf /etc/vblade.conf.d/netroot-$host.conf /etc/dnsmasq.d/netroot.conf /srv/tftp/netroot/$host.ipxe; do
    # Comments name the plan file, whose path differs here.
    [ -e "\$f" ] && fact installed "\$f \$(grep -v '^#' "\$f" | sha256sum | cut -c1-16)"
  done
  touch /var/lib/netroot-vm-applied
  sync
  echo NETROOT-SERVER-APPLIED
  systemctl poweroff
else
  state() { echo "\$(systemctl is-enabled "\$1" 2>&1)/\$(systemctl is-active "\$1" 2>&1)"; }
  fact active-tgt "\$(state tgt)"
  fact active-dnsmasq "\$(state dnsmasq)"
  # The instance escaped as systemd does ('-' is \\x2d).
  fact active-vblade "\$(state "vblade@\$(systemd-escape netroot-$host).service")"
  fact tgt-show "\$(tgtadm --lld iscsi --mode target --op show 2>&1 | grep -E 'Target|Backing store path|iqn' | tr '\n' ';')"
  echo NETROOT-SERVER-READY
  sleep 3000
fi
EOS
  truncate -s 256M "$SCEN_OUT/io.img"
  mkfs.ext4 -q -L NRVM-IO -d "$io" "$SCEN_OUT/io.img"
  cp --sparse=always "$SERVER_IMAGE" "$SCEN_OUT/server.img"

  lan_up
  # Boot 1: apply, then power off.
  server_boot server1
  local rc=0
  wait "$SERVER_QEMU_PID" || rc=$?
  local s1=$SCEN_OUT/server1.serial
  expect "server: first boot ran apply and powered off (QEMU status $rc)" grep -qa NETROOT-SERVER-APPLIED "$s1"
  expect "server: netroot server apply succeeded ($(fact apply-rc "$s1"))" test "$(fact apply-rc "$s1")" = 0
  expect "server: apply installed the packages (from the image's apt cache)" \
    bash -c 'tr -d "\r" <"$1" | grep -q "^installed "' _ "$s1"
  expect "server: a second apply changes nothing" \
    bash -c '! tr -d "\r" <"$1" | grep -E "^again: (would |)(installed|wrote|created|restarted|enabled|started)"' _ "$s1"
  local installed rel dest sum
  installed=$(fact installed "$s1")
  for rel in iscsi/netroot-$host.conf:/etc/tgt/conf.d/netroot-$host.conf \
    aoe/netroot-$host.conf:/etc/vblade.conf.d/netroot-$host.conf \
    dhcp/dnsmasq-netroot.conf:/etc/dnsmasq.d/netroot.conf \
    tftp/netroot/$host.ipxe:/srv/tftp/netroot/$host.ipxe; do
    dest=${rel#*:} rel=${rel%%:*}
    [ -f "$SCEN_OUT/srv/$rel" ] || continue
    sum=$(grep -v '^#' "$SCEN_OUT/srv/$rel" | sha256sum | cut -c1-16)
    expect "server: $dest is the $rel netroot server wrote on the host" \
      contains "$installed" "$dest $sum"
  done

  # Boot 2: the services come back by themselves.
  server_boot server2
  local s2=$SCEN_OUT/server2.serial
  if ! wait_serial "$s2" NETROOT-SERVER-READY 300 "$SERVER_QEMU_PID"; then
    expect "server: second boot came up" false
    return 0
  fi
  local units=(dnsmasq)
  [ "$transport" = iscsi ] && units+=(tgt) || units+=(vblade)
  local u
  for u in "${units[@]}"; do
    expect "server: $u is enabled and active after a reboot ($(fact "active-$u" "$s2"))" \
      test "$(fact "active-$u" "$s2")" = enabled/active
  done

  # The diskless client: nothing but the LAN.
  BOOT_RC=0
  qemu_run boot "$QEMU_TIMEOUT" "$NETNS" \
    -netdev tap,id=n0,ifname=tap1,script=no,downscript=no \
    -device "$GUEST_NIC" -boot n || BOOT_RC=$?
  stop_pid "$SERVER_QEMU_PID"
  assert_booted boot "$BOOT_RC"
  assert_migrated boot "$img" "$host"
  assert_waits_for_target boot
  if [ "$transport" = iscsi ]; then
    assert_iscsi_root boot "$iqn"
  else
    assert_aoe_root boot 5 2
  fi
}

scenario_server-iscsi() { server_lan_scenario iscsi vm-srv-iscsi; }
scenario_server-aoe() { server_lan_scenario aoe vm-srv-aoe; }

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
SERVER_PACKAGES="ipxe tgt vblade dnsmasq isc-dhcp-server tftpd-hpa targetcli-fb dbus"

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
# With LAN_DHCP=1 the LAN has a DHCP server of its own (addresses only, no
# boot information, at $LAN_NET.254), as an office network does: the
# netroot server then runs as proxy DHCP next to it.
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
  if [ "${LAN_DHCP:-0}" = 1 ]; then
    ip -n "$NETNS" addr add "$LAN_NET.254/24" dev br0
    ip netns exec "$NETNS" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
      --interface=br0 --bind-interfaces --log-dhcp --user=root --pid-file= \
      --dhcp-range="$LAN_NET.100,$LAN_NET.150,255.255.255.0,1h" \
      --dhcp-leasefile="$SCEN_OUT/lan-dhcp.leases" >"$SCEN_OUT/lan-dhcp.log" 2>&1 &
    defer "stop_pid $!"
  fi
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

# server_lan_scenario TRANSPORT HOST [lio]: migrate on this host onto an
# image, serve it from the server guest, boot the client from that server.
# "lio": the iSCSI export is LIO's (targetcli) with CHAP, and the LAN has a
# DHCP server of its own, so the netroot server is a proxy DHCP.
server_lan_scenario() {
  local transport=$1 host=$2 variant=${3:-} img=$SCEN_OUT/disk.img target chap=
  local iqn=iqn.2024-01.org.netroot.vmtest:$host
  build_server_image
  if [ "$variant" = lio ]; then
    # The secret where the plan says; the same file goes to the server.
    local secret=$SCEN_OUT/chap.secret
    (umask 077 && printf 'vm-lio-Secret-%s\n' "$(date +%N | cut -c1-2)" >"$secret")
    chap=", \"chap\": { \"username\": \"$host\", \"secret_file\": \"$secret\" }"
  fi
  if [ "$transport" = iscsi ]; then
    target="{ \"transport\": \"iscsi\", \"portal\": \"$SERVER_IP\", \"iqn\": \"$iqn\", \"lun\": 1, \"device\": \"$img\", \"size\": \"4G\"$chap }"
  else
    target="{ \"transport\": \"aoe\", \"shelf\": 5, \"slot\": 2, \"device\": \"$img\", \"size\": \"4G\" }"
  fi
  write_plan "$SCEN_OUT/plan.json" "$target" "$(dir_source)" "$host"
  migrate "$SCEN_OUT/plan.json"

  # The options docs/server.md tells users to pass. On the server itself
  # (`server apply`) only where the disk is: its address and NIC are read
  # from the machine. Generating on another host (here, to compare) also
  # takes the server's address with its prefix and its NIC.
  local -a opts=(--export-device /dev/vdb) apply_opts
  [ "$variant" = lio ] && opts+=(--dhcp-proxy)
  apply_opts=("${opts[@]}")
  [ "$variant" = lio ] && apply_opts+=(--iscsi-target lio)
  rm -rf "$SCEN_OUT/srv"
  "$NETROOT" server --plan "$SCEN_OUT/plan.json" --out "$SCEN_OUT/srv" \
    --server-ip "$SERVER_IP/24" --interface "$GUEST_IF" "${opts[@]}" \
    >"$SCEN_OUT/server.log" 2>&1 || die "netroot server failed: $(tail -3 "$SCEN_OUT/server.log")"
  # The initiator name the export admits (iPXE presents it).
  local initiator
  initiator=$(sed -n 's/^set initiator-iqn //p' "$SCEN_OUT/srv/tftp/netroot/$host.ipxe")

  # The io disk: netroot, the plan, and what the server guest runs.
  local io=$SCEN_OUT/io
  mkdir -p "$io"
  install -m 0755 "$NETROOT" "$io/netroot"
  cp "$SCEN_OUT/plan.json" "$io/plan.json"
  cp -r "$SCEN_OUT/srv" "$io/srv"
  [ -n "$chap" ] && install -m 0600 "$secret" "$io/chap.secret"
  cat >"$io/server-run.sh" <<EOS
#!/bin/sh
# First boot: netroot server apply, then power off. Second boot: the
# services must be running by themselves.
fact() { echo "NETROOT-FACT \$1=\$2"; }
if [ ! -e /var/lib/netroot-vm-applied ]; then
  echo NETROOT-SERVER-APPLY-BEGIN
  # The admin copies the plan's CHAP secret to the same path on the server.
  if [ -e /run/netroot-vm/chap.secret ]; then
    mkdir -p "$(dirname "${secret:-/x}")" && install -m 0600 /run/netroot-vm/chap.secret "${secret:-/x}"
  fi
  /run/netroot-vm/netroot server apply --plan /run/netroot-vm/plan.json ${apply_opts[*]} 2>&1
  fact apply-rc \$?
  /run/netroot-vm/netroot server apply --plan /run/netroot-vm/plan.json ${apply_opts[*]} 2>&1 | grep -v '^unchanged' | sed 's/^/again: /'
  for f in /etc/tgt/conf.d/netroot-$host.conf /etc/vblade.conf.d/netroot-$host.conf /etc/dnsmasq.d/netroot.conf /srv/tftp/netroot/$host.ipxe /etc/netroot/lio/targetcli-$host.sh; do
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
  if [ "$variant" = lio ]; then
    fact active-lio "\$(state rtslib-fb-targetctl)"
    fact lio-auth "\$(cat /sys/kernel/config/target/iscsi/$iqn/tpgt_1/attrib/authentication 2>&1)"
    # CHAP enforced: a login as the admitted initiator without CHAP and
    # with a wrong secret is refused, with the plan's secret admitted.
    echo "InitiatorName=$initiator" >/etc/iscsi/initiatorname.iscsi
    systemctl restart iscsid 2>/dev/null || systemctl start iscsid
    iscsiadm -m node -o new -T $iqn -p 127.0.0.1:3260 >/dev/null
    login() {
      iscsiadm -m node -T $iqn -p 127.0.0.1:3260 -o update -n node.session.auth.authmethod -v "\$1"
      iscsiadm -m node -T $iqn -p 127.0.0.1:3260 -o update -n node.session.auth.username -v $host
      iscsiadm -m node -T $iqn -p 127.0.0.1:3260 -o update -n node.session.auth.password -v "\$2"
      iscsiadm -m node -T $iqn -p 127.0.0.1:3260 --login >/dev/null 2>&1
      echo \$?
      iscsiadm -m node -T $iqn -p 127.0.0.1:3260 --logout >/dev/null 2>&1
    }
    fact login-none "\$(login None x)"
    fact login-wrong "\$(login CHAP wrong-secret-123)"
    fact login-right "\$(login CHAP "\$(head -n1 "${secret:-/x}")")"
    iscsiadm -m node -o delete -T $iqn >/dev/null 2>&1
  fi
  echo NETROOT-SERVER-READY
  sleep 3000
fi
EOS
  truncate -s 256M "$SCEN_OUT/io.img"
  mkfs.ext4 -q -L NRVM-IO -d "$io" "$SCEN_OUT/io.img"
  cp --sparse=always "$SERVER_IMAGE" "$SCEN_OUT/server.img"

  LAN_DHCP=$([ "$variant" = lio ] && echo 1 || echo 0) lan_up
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
    iscsi/targetcli-$host.sh:/etc/netroot/lio/targetcli-$host.sh \
    aoe/netroot-$host.conf:/etc/vblade.conf.d/netroot-$host.conf \
    dhcp/dnsmasq-netroot.conf:/etc/dnsmasq.d/netroot.conf \
    tftp/netroot/$host.ipxe:/srv/tftp/netroot/$host.ipxe; do
    dest=${rel#*:} rel=${rel%%:*}
    [ -f "$SCEN_OUT/srv/$rel" ] || continue
    # Only the chosen iSCSI target's file is installed.
    case "$variant:$rel" in
      lio:iscsi/netroot-*) expect "server: no tgt file with LIO ($dest)" bash -c '! grep -q "$1 " <<<"$2"' _ "$dest" "$installed"; continue ;;
      :iscsi/targetcli-*) continue ;;
    esac
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
  if [ "$variant" = lio ]; then
    units+=(lio)
    expect "server: LIO enforces CHAP ($(fact lio-auth "$s2"))" test "$(fact lio-auth "$s2")" = 1
    expect "server: a login without CHAP is refused ($(fact login-none "$s2"))" test "$(fact login-none "$s2")" = 24
    expect "server: a login with a wrong CHAP secret is refused ($(fact login-wrong "$s2"))" test "$(fact login-wrong "$s2")" = 24
    expect "server: a login with the plan's CHAP secret is admitted ($(fact login-right "$s2"))" test "$(fact login-right "$s2")" = 0
  elif [ "$transport" = iscsi ]; then
    units+=(tgt)
  else
    units+=(vblade)
  fi
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
  if [ "$variant" = lio ]; then
    expect "client: its address came from the LAN's own DHCP server" \
      grep -q "DHCPACK(br0) $LAN_NET\.1[0-5][0-9] $GUEST_MAC" "$SCEN_OUT/lan-dhcp.log"
  fi
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
scenario_server-lio() { server_lan_scenario iscsi vm-srv-lio lio; }

# vm-tests source-system matrix (issue #14): Debian 12 and 13 × ifupdown,
# NetworkManager and systemd-networkd, each migrated onto a /boot + swap +
# /home + / layout and booted diskless over iSCSI and over AoE. The default
# scenarios all migrate one bookworm/ifupdown tree; real sources differ in
# their release and in which network stack owns the boot NIC, and that is
# where a network root breaks (a stack taking the NIC down, a unit failing,
# boot never settling). Sourced by vm-tests/run after lib.sh and source.sh.

MATRIX_MIRROR=${NETROOT_TEST_MIRROR:-http://deb.debian.org/debian}
# What every matrix source has: a kernel, the boot tools, the transports'
# initiators (as in tests/support/build-rootfs.sh), ssh, and what netroot
# needs on a running system.
MATRIX_BASE_PACKAGES=linux-image-amd64,initramfs-tools,grub-pc-bin,grub-efi-amd64-bin,grub2-common,systemd-sysv,udev,kmod,iproute2,open-iscsi,aoetools,e2fsprogs,dosfstools,openssh-server,procps,rsync,fdisk

# matrix_stack_packages STACK: the packages of one network stack.
matrix_stack_packages() {
  case $1 in
  ifupdown) echo ifupdown,isc-dhcp-client ;;
  networkmanager) echo network-manager,dbus ;; # debootstrap resolves no virtual dependencies (dbus-system-bus)
  networkd) echo "" ;; # part of systemd (its own package from trixie on)
  *) die "unknown network stack $1 (ifupdown, networkmanager, networkd)" ;;
  esac
}

# matrix_rootfs SUITE STACK: a debootstrapped minbase tree of SUITE with
# STACK's packages, built once per recipe (matrix_rootfs_build and the
# package lists: the locking and caching around them are not part of the
# key) and parameters into $CACHE/rootfs-SUITE-STACK-KEY. Prints its path.
matrix_rootfs() {
  local suite=$1 stack=$2 include key dir old extra
  include=$MATRIX_BASE_PACKAGES
  extra=$(matrix_stack_packages "$stack")
  [ -n "$extra" ] && include=$include,$extra
  # bookworm's network-manager needs polkitd, which needs a logind that
  # debootstrap cannot pick for a virtual package (trixie's systemd has it).
  [ "$suite-$stack" = bookworm-networkmanager ] && include=$include,libpam-systemd
  key=$({
    declare -f matrix_rootfs_build matrix_stack_packages
    echo "$suite $stack $MATRIX_MIRROR $include"
  } | sha256sum | cut -c1-12)
  dir=$CACHE/rootfs-$suite-$stack-$key
  mkdir -p "$CACHE"
  exec 7>"$CACHE/.rootfs-$suite-$stack.lock"
  flock 7 || die "flock $CACHE/.rootfs-$suite-$stack.lock failed"
  if [ ! -f "$dir/.netroot-rootfs-complete" ]; then
    if [ -d "$dir" ]; then
      findmnt -rn -o TARGET | grep -q "^$dir" && die "$dir has mounts below it"
      rm -rf --one-file-system "$dir"
    fi
    log "debootstrap $suite ($stack) into $dir (3–6 minutes)"
    matrix_rootfs_build "$dir" "$suite" "$stack" "$include"
    touch "$dir/.netroot-rootfs-complete"
  fi
  # Drop older recipes of this variant only.
  for old in "$CACHE/rootfs-$suite-$stack"-*; do
    [ "$old" = "$dir" ] || [ ! -d "$old" ] && continue
    findmnt -rn -o TARGET | grep -q "^$old" && continue
    rm -rf --one-file-system "$old"
  done
  flock -u 7
  echo "$dir"
}

# matrix_rootfs_build DIR SUITE STACK INCLUDE: the recipe itself.
matrix_rootfs_build() {
  local dir=$1 suite=$2 stack=$3 include=$4
  debootstrap --variant=minbase --include="$include" "$suite" "$dir" "$MATRIX_MIRROR" \
    >"$CACHE/rootfs-$suite-$stack.log" 2>&1 ||
    die "debootstrap $suite failed: $(tail -3 "$CACHE/rootfs-$suite-$stack.log")"
  if [ "$stack" = networkd ] && [ ! -e "$dir/lib/systemd/systemd-networkd" ]; then
    # trixie split networkd out of the systemd package.
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    mount --bind /dev "$dir/dev"
    mount -t proc proc "$dir/proc"
    chroot "$dir" apt-get -qq update >&2
    DEBIAN_FRONTEND=noninteractive chroot "$dir" \
      apt-get -qq install -y --no-install-recommends systemd-networkd >&2
    umount "$dir/proc" "$dir/dev"
  fi
  # What an installed system has that minbase lacks.
  echo netroot-src >"$dir/etc/hostname"
  cat >"$dir/etc/fstab" <<'FSTAB'
# /etc/fstab: static file system information.
/dev/sda1       /               ext4    errors=remount-ro 0     1
/dev/sda2       none            swap    sw              0       0
proc            /proc           proc    defaults        0       0
tmpfs           /tmp            tmpfs   defaults,nosuid 0       0
FSTAB
  echo "root:netroot" | chroot "$dir" chpasswd
  rm -f "$dir"/var/cache/apt/archives/*.deb
}

# matrix_net_config TREE STACK: the boot NIC ($GUEST_IF) as each stack's
# own installer/image sets it up. ifupdown: Debian installer's DHCP stanza.
# NetworkManager: nothing (it manages the NIC with its automatic wired
# connection; no interfaces stanza). networkd: a DHCP .network for the
# wired NICs and the units enabled, as Debian's cloud images do.
matrix_net_config() {
  local tree=$1 stack=$2
  case $stack in
  ifupdown)
    cat >"$tree/etc/network/interfaces" <<EOT
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug $GUEST_IF
iface $GUEST_IF inet dhcp
EOT
    ;;
  networkmanager)
    [ -L "$tree/etc/systemd/system/multi-user.target.wants/NetworkManager.service" ] ||
      die "$tree: network-manager did not enable NetworkManager.service"
    ;;
  networkd)
    mkdir -p "$tree/etc/systemd/network"
    cat >"$tree/etc/systemd/network/50-dhcp.network" <<'EOT'
[Match]
Name=en*

[Network]
DHCP=yes
EOT
    chroot "$tree" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service >&2
    ;;
  esac
}

# matrix_tree SUITE STACK: set SRC_TREE to that variant's source tree (its
# rootfs plus the NIC configuration and the facts unit), built once per
# recipe into $CACHE/tree-SUITE-STACK-KEY. bookworm/ifupdown is the tree
# every other scenario migrates (build_sources), used as it is.
matrix_tree() {
  local suite=$1 stack=$2 rootfs key old
  [ "$suite-$stack" = bookworm-ifupdown ] && return 0
  rootfs=$(matrix_rootfs "$suite" "$stack")
  key=$({
    echo "$rootfs $GUEST_IF"
    declare -f matrix_tree matrix_net_config install_facts_unit
    cat "$VM_DIR"/guest/*
  } | sha256sum | cut -c1-12)
  SRC_TREE=$CACHE/tree-$suite-$stack-$key
  exec 6>"$CACHE/.tree-$suite-$stack.lock"
  flock 6
  if [ ! -f "$SRC_TREE/.netroot-vm-tree-complete" ]; then
    log "building the source tree $SRC_TREE from $rootfs"
    if [ -d "$SRC_TREE" ]; then
      findmnt -rn -o TARGET | grep -q "^$SRC_TREE" && die "$SRC_TREE has mounts below it"
      rm -rf --one-file-system "$SRC_TREE"
    fi
    rsync -aHAXS --numeric-ids "$rootfs/" "$SRC_TREE/"
    rm -f "$SRC_TREE/.netroot-rootfs-complete"
    matrix_net_config "$SRC_TREE" "$stack"
    install_facts_unit "$SRC_TREE"
    touch "$SRC_TREE/.netroot-vm-tree-complete"
  fi
  # Drop older recipes of this variant only.
  for old in "$CACHE/tree-$suite-$stack"-*; do
    [ "$old" = "$SRC_TREE" ] || [ ! -d "$old" ] && continue
    findmnt -rn -o TARGET | grep -q "^$old" && continue
    rm -rf --one-file-system "$old"
  done
  flock -u 6
  log "source tree for $suite/$stack: $SRC_TREE"
}

# /boot, swap, /home and / on the network disk.
MATRIX_PARTS='{ "mount": "/boot", "fs": "ext4", "size": "256M" }, { "fs": "swap", "size": "256M" }, { "mount": "/home", "fs": "ext4", "size": "256M" }, { "mount": "/", "fs": "ext4", "size": "rest" }'
NET_DISK_RE='^/dev/(etherd/e[0-9]+\.[0-9]+p|sd[a-z]+)[0-9]+$'

# matrix_scenario SUITE STACK TRANSPORT: migrate that source onto
# MATRIX_PARTS (machine-id, initiator name and ssh host keys regenerated),
# boot it diskless over TRANSPORT and assert from inside.
matrix_scenario() {
  local suite=$1 stack=$2 transport=$3 img=$SCEN_OUT/disk.img host target iqn
  host=vm-$suite-$stack-$transport
  matrix_tree "$suite" "$stack"
  if [ "$transport" = iscsi ]; then
    iqn=iqn.2024-01.org.netroot.vmtest:$host
    TGT_PORT=$(free_port)
    target=$(iscsi_target "$iqn" "$img")
  else
    target=$(aoe_target "$img")
  fi
  PLAN_PARTS=$MATRIX_PARTS write_plan "$SCEN_OUT/plan.json" "$target" "$(dir_source)" "$host"
  sed -i 's/"ssh_host_keys": false/"ssh_host_keys": true/' "$SCEN_OUT/plan.json"
  grep -q '"ssh_host_keys": true' "$SCEN_OUT/plan.json" || die "plan: could not ask for new ssh host keys"
  # NETROOT_VM_KERNEL_ARGS: extra kernel arguments for debugging a boot
  # (e.g. "systemd.log_level=debug systemd.log_target=console"), in the plan.
  if [ -n "${NETROOT_VM_KERNEL_ARGS:-}" ]; then
    local a args=""
    for a in $NETROOT_VM_KERNEL_ARGS; do args+="${args:+, }\"$a\""; done
    sed -i "s/\"boot\": { /\"boot\": { \"kernel_args\": [ $args ], /" "$SCEN_OUT/plan.json"
  fi
  migrate "$SCEN_OUT/plan.json"
  if [ "$transport" = iscsi ]; then
    iscsi_boot boot "$SCEN_OUT/plan.json" "$host" bios
  else
    aoe_boot boot "$SCEN_OUT/plan.json" "$host"
  fi
  matrix_assert_root boot "$transport" "${iqn:-}" "$img"
  matrix_assert_settled boot
  matrix_assert_stack boot "$stack" "$transport"
  matrix_assert_identity boot "$host"
}

# matrix_assert_root NAME TRANSPORT IQN IMAGE: NAME booted and powered off,
# waits for its target, / is on the TRANSPORT's disk (IQN for iscsi, e7.1
# for aoe) and every fstab entry is mounted from it.
matrix_assert_root() {
  local name=$1 transport=$2 iqn=$3 img=$4
  assert_booted "$name" "$BOOT_RC"
  assert_waits_for_target "$name"
  if [ "$transport" = iscsi ]; then
    assert_iscsi_root "$name" "$iqn"
  else
    assert_aoe_root "$name" 7 1
  fi
  matrix_assert_mounts "$name" "$img"
}

# matrix_assert_mounts NAME IMAGE: / is the image's root filesystem, every
# fstab entry of a disk is mounted from the network disk (/, /boot, /home),
# and every fstab swap is active on it.
matrix_assert_mounts() {
  local name=$1 serial=$SCEN_OUT/$1.serial uuid line spec mnt src n=0 swaps
  uuid=$(root_uuid "$2")
  expect "$name: / is mounted by UUID $uuid" test -n "$uuid" -a "$(fact root-uuid "$serial")" = "$uuid"
  while read -r spec mnt src; do
    [ -n "$spec" ] || continue
    n=$((n + 1))
    expect "$name: fstab $spec $mnt is mounted from the network disk (${src:-not mounted})" \
      matches "$src" "$NET_DISK_RE"
  done <<<"$(fact fstab-mount "$serial")"
  expect "$name: fstab mounts /, /boot and /home from the disk ($n entries)" test "$n" = 3
  for mnt in / /boot /home; do
    expect "$name: fstab has $mnt" bash -c 'grep -qE "^UUID=[^ ]+ $2 " <<<"$1"' _ "$(fact fstab-mount "$serial")" "$mnt"
  done
  swaps=$(fact swaps "$serial")
  n=$(fact fstab-swap "$serial" | grep -c . || true)
  expect "$name: fstab has one swap, active on the network disk ($n in fstab; active: $swaps)" \
    bash -c '[ "$1" = 1 ] && [ "$(wc -w <<<"$2")" = 1 ] && grep -qE "$3" <<<"${2// /}"' _ "$n" "$swaps" "$NET_DISK_RE"
  expect "$name: no job timed out waiting for a device" \
    bash -c '! grep -qa "Timed out waiting for device" "$1"' _ "$serial"
}

# matrix_assert_settled NAME: boot finished with nothing failed.
matrix_assert_settled() {
  local name=$1 serial=$SCEN_OUT/$1.serial
  expect "$name: systemctl is-system-running says running ($(fact system-running "$serial"); failed: $(fact settled-failed-units "$serial"); jobs: $(fact settled-jobs "$serial"))" \
    test "$(fact system-running "$serial")" = running
}

# matrix_assert_stack NAME STACK TRANSPORT: the source's network stack owns
# the NIC and no other stack is installed or enabled.
matrix_assert_stack() {
  local name=$1 stack=$2 transport=$3 serial=$SCEN_OUT/$1.serial ifs nm nd net
  ifs=$(fact pkg-ifupdown "$serial")
  nm=$(fact pkg-network-manager "$serial")
  nd=$(fact unit-systemd-networkd "$serial")
  net=$(fact unit-networking "$serial")
  expect "$name: $GUEST_IF has an IPv4 address ($(fact addresses "$serial"))" \
    matches "$(fact addresses "$serial")" "^$GUEST_IF UP [0-9]"
  case $stack in
  ifupdown)
    expect "$name: ifupdown is installed ($ifs) and has $GUEST_IF up" \
      bash -c '[ "$1" = ii ] && grep -q "$3=$3" <<<"$2"' _ "$ifs" "$(fact ifupdown "$serial")" "$GUEST_IF"
    ;;
  networkmanager)
    expect "$name: NetworkManager is enabled and active ($(fact unit-NetworkManager "$serial"))" \
      test "$(fact unit-NetworkManager "$serial")" = enabled/active
    # netroot's drop-ins (docs/boot.md): over iSCSI NM takes over the
    # configuration the initramfs got by DHCP and renews its lease (not
    # "connected (externally)": NM would run no DHCP client for it); over
    # AoE the initramfs configures no address and NM manages the NIC with
    # DHCP itself. Either way NM manages the NIC.
    expect "$name: NetworkManager manages $GUEST_IF ($(fact nm-devices "$serial"))" \
      matches "$(fact nm-devices "$serial")" "(^| )$GUEST_IF:connected( [^(]|$)"
    ;;
  networkd)
    expect "$name: systemd-networkd is enabled and active ($nd)" test "$nd" = enabled/active
    expect "$name: networkd has $GUEST_IF configured ($(fact networkd-link "$serial" | tr '\n' ' '))" \
      matches "$(fact networkd-link "$serial")" "^$GUEST_IF:routable:configured$"
    ;;
  esac
  [ "$stack" = ifupdown ] || expect "$name: ifupdown is not installed (${ifs:-none}; networking.service $net)" \
    bash -c '[ "$1" != ii ] && [ "$2" != ii ]' _ "$ifs" "$(fact pkg-isc-dhcp-client "$serial")"
  [ "$stack" = networkmanager ] || expect "$name: NetworkManager is not installed (${nm:-none})" \
    test "$nm" != ii
  [ "$stack" = networkd ] || expect "$name: systemd-networkd is neither enabled nor active ($nd)" \
    bash -c '! grep -qE "(^enabled|/active$)" <<<"$1"' _ "$nd"
}

# matrix_assert_identity NAME HOST: hostname from the plan; machine-id and
# ssh host key new (the plan regenerates both), not the source tree's.
matrix_assert_identity() {
  local name=$1 host=$2 serial=$SCEN_OUT/$1.serial id key src_id src_key
  id=$(fact machine-id "$serial")
  key=$(fact ssh-host-key "$serial")
  src_id=$(cat "$SRC_TREE/etc/machine-id" 2>/dev/null || true)
  src_key=$(ssh-keygen -lf "$SRC_TREE/etc/ssh/ssh_host_ed25519_key.pub" 2>/dev/null | awk '{print $2}')
  expect "$name: hostname is $host ($(fact hostname "$serial"))" test "$(fact hostname "$serial")" = "$host"
  expect "$name: machine-id is new ($id; the source's ${src_id:-empty})" \
    bash -c '[[ $1 =~ ^[0-9a-f]{32}$ ]] && [ "$1" != "$2" ]' _ "$id" "$src_id"
  expect "$name: the ssh host key is new ($key; the source's ${src_key:-none})" \
    bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$key" "$src_key"
}

# Scenarios SUITE-STACK-TRANSPORT (stack nm = NetworkManager), e.g.
# trixie-nm-aoe; MATRIX_SCENARIOS lists them all.
MATRIX_SCENARIOS=()
for _suite in bookworm trixie; do
  for _stack in ifupdown:ifupdown nm:networkmanager networkd:networkd; do
    for _tr in iscsi aoe; do
      eval "scenario_$_suite-${_stack%%:*}-$_tr() { matrix_scenario $_suite ${_stack#*:} $_tr; }"
      MATRIX_SCENARIOS+=("$_suite-${_stack%%:*}-$_tr")
    done
  done
done
unset _suite _stack _tr

# vm-tests helpers: serve a scenario's disk with the files `netroot server`
# generates from the plan (docs/server.md) instead of hand-written ones.
# Source after lib.sh; they use its defer, stop_pid, log, die, free_port and
# SCEN_OUT, NETNS, NETROOT, GUEST_MAC.
#
#   iSCSI (QEMU user networking, guests reach 127.0.0.1 as 10.0.2.2):
#     TGT_PORT=$(free_port)        # the plan's portal must be 10.0.2.2:$TGT_PORT
#     write the plan with "client": {"mac": …, "initiator_name": …}
#     gen_server PLAN
#     gen_tgt_export HOSTNAME      # tgtd loads iscsi/netroot-HOSTNAME.conf
#     qemu … -netdev "user,id=n0,tftp=$GEN_TFTP,bootfile=netroot/HOSTNAME.ipxe"
#   AoE (in a network namespace):
#     netns_up
#     gen_server PLAN --interface tap0 --dhcp-interface tap0 \
#       --subnet 10.77.0.0/24 --range 10.77.0.50-10.77.0.99 --server-ip 10.77.0.1
#     gen_vblade_export HOSTNAME; gen_dnsmasq_up
#     qemu in $NETNS with -netdev tap,id=n0,ifname=tap0,script=no,downscript=no

# gen_server PLAN [OPTIONS...]: `netroot server` into $SCEN_OUT/server, with
# the TFTP root there too. Sets GEN_DIR and GEN_TFTP.
gen_server() {
  local plan=$1
  shift
  GEN_DIR=$SCEN_OUT/server
  GEN_TFTP=$GEN_DIR/tftp
  rm -rf "$GEN_DIR"
  "$NETROOT" server --plan "$plan" --out "$GEN_DIR" --tftp-root "$GEN_TFTP" "$@" \
    >"$SCEN_OUT/server.log" 2>&1 || die "netroot server failed: $(tail -3 "$SCEN_OUT/server.log")"
  log "netroot server wrote $GEN_DIR (README.txt says what goes where)"
}

# gen_tgt_export HOSTNAME: tgtd on 127.0.0.1:$TGT_PORT loading the generated
# tgt config the way tgt.service does (tgt-admin -e).
gen_tgt_export() {
  local conf=$GEN_DIR/iscsi/netroot-$1.conf dir=$SCEN_OUT
  [ -f "$conf" ] || die "no generated tgt config $conf"
  local ctl=$((TGT_PORT - 10000))
  tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$TGT_PORT" >"$dir/tgtd.log" 2>&1 &
  local pid=$! i
  echo "$pid" >"$dir/tgtd.pid"
  defer "tgt_stop $pid $ctl"
  for ((i = 0; i < 100; i++)); do
    tgtadm -C "$ctl" --mode sys --op show >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "tgtd exited at start: $(tail -3 "$dir/tgtd.log")"
    sleep 0.1
  done
  # tgt-admin prints passwords with -v: keep its output out of the logs.
  tgt-admin -C "$ctl" -e -c "$conf" >/dev/null 2>&1 || die "tgt-admin rejected $conf"
  log "tgtd pid $pid exports $(grep -m1 '^<target' "$conf") on 127.0.0.1:$TGT_PORT"
}

# gen_vblade_export HOSTNAME: vblade in $NETNS from the generated
# /etc/vblade.conf.d file, run the way vblade@.service runs it.
gen_vblade_export() {
  local conf=$GEN_DIR/aoe/netroot-$1.conf
  [ -f "$conf" ] || die "no generated vblade config $conf"
  ip netns exec "$NETNS" sh -c '. "$1"; exec vblade $shelf $slot $netif $filename $options' \
    sh "$conf" >"$SCEN_OUT/vblade.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$SCEN_OUT/vblade.pid"
  defer "stop_pid $pid"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || die "vblade exited at start: $(tail -3 "$SCEN_OUT/vblade.log")"
  log "vblade pid $pid serves $conf in $NETNS"
}

# gen_dnsmasq_up: dnsmasq in $NETNS with the generated config; the extra
# flags keep it off the host's files and send router adverts (else iPXE
# waits ~13 s for IPv6).
gen_dnsmasq_up() {
  ip netns exec "$NETNS" dnsmasq --keep-in-foreground -C "$GEN_DIR/dhcp/dnsmasq-netroot.conf" \
    --no-resolv --no-hosts --port=0 --user=root \
    --dhcp-range=fd77::,ra-only --enable-ra \
    --dhcp-leasefile="$SCEN_OUT/dnsmasq.leases" --pid-file= \
    --log-dhcp --log-facility="$SCEN_OUT/dnsmasq.log" &
  local pid=$!
  echo "$pid" >"$SCEN_OUT/dnsmasq.pid"
  defer "stop_pid $pid"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || die "dnsmasq exited at start: $(tail -3 "$SCEN_OUT/dnsmasq.log")"
}

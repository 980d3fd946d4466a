#!/bin/sh
# Installed by netroot: bring the boot NIC up, load aoe restricted to it,
# and discover until /dev/etherd/eS.L appears (netroot.aoe_timeout, 120 s).
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

dev=$(getarg netroot.aoe=)
want_if=$(getarg netroot.aoe_if=)
timeout=$(getarg netroot.aoe_timeout=)
[ -n "$timeout" ] || timeout=120
[ -n "$dev" ] || exit 0

info "netroot: attaching AoE disk $dev"
ifaces=""
i=0
while [ -z "$ifaces" ]; do
    for n in /sys/class/net/*; do
        name="${n##*/}"
        [ "$name" = lo ] && continue
        [ -e "$n/device" ] || continue
        if [ -n "$want_if" ]; then
            mac=""
            read -r mac < "$n/address" || mac=""
            [ "$name" = "$want_if" ] || [ "$mac" = "$want_if" ] || continue
        fi
        ifaces="$ifaces $name"
    done
    [ -n "$ifaces" ] && break
    i=$((i + 1))
    if [ "$i" -gt 30 ]; then
        warn "netroot: no network interface ${want_if:-with a driver} appeared in 30 s; is the NIC driver in the initramfs?"
        exit 1
    fi
    sleep 1
done
for n in $ifaces; do
    ip link set "$n" up
done
set -- $ifaces
modprobe aoe aoe_iflist="$*"
# A discover every second (spanning tree may drop the first), a look for
# the disk every 0.1 s (it answers within milliseconds).
i=0
while [ ! -b "/dev/etherd/$dev" ]; do
    if [ "$i" -ge "$((timeout * 10))" ]; then
        warn "netroot: AoE disk $dev did not appear on$ifaces within $timeout s; is vblade exporting it to this MAC on this network?"
        exit 1
    fi
    if [ $((i % 10)) -eq 0 ] && [ -w /dev/etherd/discover ]; then
        aoe-discover 2>/dev/null || echo > /dev/etherd/discover
    fi
    sleep 0.1
    i=$((i + 1))
done
udevadm settle --timeout=10
exit 0

#!/bin/sh
# Installed by netroot: when the kernel command line names an AoE disk
# (netroot.aoe=eS.L), attach it once udev has settled, and keep the
# initqueue waiting until the disk exists.
aoe_dev=$(getarg netroot.aoe=)
if [ -n "$aoe_dev" ]; then
    /sbin/initqueue --onetime --settled --unique --name netroot-aoe /sbin/netroot-aoe.sh
    echo "[ -b /dev/etherd/$aoe_dev ]" > "$hookdir/initqueue/finished/netroot-aoe.sh"
fi

#!/bin/sh
# Installed by netroot (dracut pre-pivot hook of module netroot-aoe): start
# the AoE root's kicker (/usr/lib/netroot/aoe-kick, a static program this
# image carries; see profiles/files/aoe/aoe-kick.c in netroot) before
# switch_root, so the first reads of the real root's init cannot stall in
# the aoe driver. It runs from this image, in memory, for as long as the
# system runs (it needs nothing from the disk it keeps alive);
# netroot-aoe-kick.service runs a second one from the real root.
# Sourced by dracut: no exit.
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh
netroot_kick_dev=$(getarg netroot.aoe=)
if [ -n "$netroot_kick_dev" ] && [ -x /usr/lib/netroot/aoe-kick ]; then
    # systemd in the initramfs kills every process left when it switches
    # root, but those whose argv[0] starts with '@' (its rule for root
    # storage daemons); killed, the kicker left the switch unguarded and a
    # dracut AoE boot stalled there (vm-tests kernel-upgrade-dracut-aoe).
    # bash's exec -a gives it that name.
    /bin/bash -c 'exec -a @netroot-aoe-kick /usr/lib/netroot/aoe-kick --memory "$1" "/dev/etherd/$1"' \
        netroot-aoe-kick "$netroot_kick_dev" </dev/null >/dev/null 2>&1 &
fi
unset netroot_kick_dev

#!/bin/sh
# Installed by netroot (dracut pre-pivot hook of module netroot-aoe): start
# /usr/lib/netroot/aoe-kick inside the real root before switch_root, so the
# first reads of the real root's init cannot stall in the aoe driver (see
# that script). It keeps working once the initramfs is gone and stops when
# netroot-aoe-kick.service has taken over. Sourced by dracut: no exit.
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh
netroot_kick_dev=$(getarg netroot.aoe=)
if [ -n "$netroot_kick_dev" ] && [ -x "$NEWROOT/usr/lib/netroot/aoe-kick" ]; then
    chroot "$NEWROOT" /usr/lib/netroot/aoe-kick --warm "$netroot_kick_dev" \
        </dev/null >/dev/null 2>&1 &
    # systemd in the initramfs kills every process left when it switches
    # root, but those whose argv[0] starts with '@' (its rule for root
    # storage daemons); killed, the loop left the switch unguarded and a
    # dracut AoE boot stalled there (vm-tests kernel-upgrade-dracut-aoe).
    # bash's exec -a gives the loop's shell that name.
    chroot "$NEWROOT" /bin/bash -c 'exec -a @netroot-aoe-kick /bin/sh /usr/lib/netroot/aoe-kick "$1"' \
        netroot-aoe-kick "$netroot_kick_dev" </dev/null >/dev/null 2>&1 &
fi
unset netroot_kick_dev

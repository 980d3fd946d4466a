#!/bin/bash
# Installed by netroot: dracut module netroot-aoe. Attaches the AoE root
# disk named on the kernel command line (netroot.aoe=eSHELF.SLOT).
# Only included when asked for: dracut --add netroot-aoe.

check() {
    require_binaries ip aoe-discover || return 1
    return 255
}

depends() {
    echo udev-rules
    return 0
}

installkernel() {
    instmods aoe
}

install() {
    inst_multiple ip aoe-discover aoe-stat
    # The kicker the pre-pivot hook starts (static: nothing else to copy).
    inst_simple /usr/lib/netroot/aoe-kick
    # The NIC gets the name the booted system configures (ens8, not eth0)
    # here or never: udev names it from the .link files, and the real
    # root's udev cannot rename a link that is up for the AoE disk.
    inst_multiple -o "${systemdnetwork}/99-default.link"
    inst_multiple -o "${systemdnetworkconfdir}"/*.link
    inst_hook cmdline 90 "$moddir/netroot-aoe-cmdline.sh"
    inst_hook pre-pivot 90 "$moddir/netroot-aoe-kick.sh"
    inst_script "$moddir/netroot-aoe.sh" /sbin/netroot-aoe.sh
    inst_simple "$moddir/61-netroot-etherd.rules" /etc/udev/rules.d/61-netroot-etherd.rules
}

#!/bin/bash
# Installed by netroot: dracut module netroot-iscsi, added next to dracut's
# own iscsi module for an iSCSI root (dracut --add netroot-iscsi).
# Debian's iscsid.service runs /lib/open-iscsi/startup-checks.sh before
# iscsid; dracut's iscsi module copies the unit but not that script, so in
# the initramfs every start of iscsid fails and the root never logs in.
# dracut's own iscsi scripts write the initiator name that script would
# check, so the initramfs' unit drops that step.

check() {
    return 255
}

depends() {
    echo iscsi
    return 0
}

install() {
    local d="$initdir$systemdsystemunitdir/iscsid.service.d"
    mkdir -p "$d"
    printf '%s\n' '# netroot: Debian startup checks are not in the initramfs' \
        '[Service]' 'ExecStartPre=' > "$d/netroot-iscsid.conf"
}

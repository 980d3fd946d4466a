#!/bin/sh
# Why: the wizard-aoe vm-test needs a person's console on the running source
# guest without changing what netroot ships or the cached source image. The
# facts script runs this from the NRVM-IO disk (its run.sh role) instead of
# the facts: it installs netroot from that disk as an admin would, makes the
# disk writable for the wizard's --out directory, and starts an autologin
# root getty on the second serial port (ttyS1, a socket on the host that
# vm-tests/console.py types into). The harness powers the guest off from
# that console. Output goes to ttyS0 (the serial log).
fact() { echo "NETROOT-FACT $1=$2"; }
fact root-source "$(findmnt -no SOURCE /)"
mount -o remount,rw /run/netroot-vm
# SysRq from the harness's QEMU monitor (a stalled disk: sendkey alt-sysrq-w).
echo 1 > /proc/sys/kernel/sysrq
install -m 0755 /run/netroot-vm/netroot /usr/local/sbin/netroot
d=/run/systemd/system/serial-getty@ttyS1.service.d
mkdir -p "$d"
cat > "$d/autologin.conf" <<'EOC'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200 %I $TERM
EOC
systemctl daemon-reload
systemctl start serial-getty@ttyS1.service
fact console "$(systemctl is-active serial-getty@ttyS1.service)"
echo NETROOT-CONSOLE-READY

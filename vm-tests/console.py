#!/usr/bin/env python3
"""Why: the wizard-aoe vm-test drives `netroot wizard` on the running guest
the way a person at its serial console would (an expect-like script over
QEMU's unix-socket serial port), using only what docs/wizard.md tells users.

usage: console.py SOCKET LOG QEMU-PID AOE-ID MAC

Logs in through the autologin getty, sets the terminal size, types
`netroot wizard --out /run/netroot-vm/wizard`, presses Enter at every
question except "Where should it go?" (the AoE target) and picks the AoE
target the wizard discovers (AOE-ID) with the boot NIC MAC shown, types
the confirmation, waits for "The migration is complete.", then types
`poweroff`. Exit 0 when all of that happened; otherwise 1, after a
`poweroff` attempt and, failing that, SIGTERM to QEMU so the scenario ends.
Everything the console showed is appended to LOG.
"""

import os
import re
import signal
import socket
import sys
import threading
import time

ANSI = re.compile(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][A-Za-z0-9]|[=>78])")

# Seconds a screen may take to appear (TCG guests on a loaded host are slow;
# these are hang guards, not speed assertions).
PROMPT_LIMIT = 600
RUN_LIMIT = 3000


class Console:
    def __init__(self, path, log):
        self.sock = self._connect(path)
        self.log = open(log, "ab")
        self.raw = b""
        self.lock = threading.Lock()
        self.pos = 0
        self.closed = False
        threading.Thread(target=self._reader, daemon=True).start()

    @staticmethod
    def _connect(path):
        for _ in range(600):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                return s
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"console.py: no console socket at {path}")

    def _reader(self):
        # Read all the time: a console nobody reads stalls the guest's writes.
        while True:
            try:
                b = self.sock.recv(65536)
            except OSError:
                b = b""
            if not b:
                self.closed = True
                return
            self.log.write(b)
            self.log.flush()
            with self.lock:
                self.raw += b

    def text(self):
        with self.lock:
            raw = self.raw
        return ANSI.sub(b"", raw).replace(b"\r", b"").decode("utf-8", "replace")

    def wait(self, what, limit=PROMPT_LIMIT):
        """Wait until `what` (a regex) shows after what was already
        matched; returns the text from the old position to the match end."""
        t0 = time.time()
        rx = re.compile(what)
        while True:
            t = self.text()
            m = rx.search(t, self.pos)
            if m:
                seen = t[self.pos : m.end()]
                self.pos = m.end()
                return seen
            if self.closed or time.time() - t0 > limit:
                tail = t[-1500:]
                raise RuntimeError(f"waited {int(time.time() - t0)} s for {what!r}; the console shows:\n{tail}")
            time.sleep(0.2)

    def send(self, s):
        self.sock.sendall(s.encode())
        time.sleep(0.3)

    def line(self, s):
        self.send(s + "\r")

    def ask(self, prompt):
        """Wait until the question `prompt` is asked (dialoguer: `? PROMPT`)."""
        print(f"console.py: question: {prompt}", flush=True)
        return self.wait(r"\? " + re.escape(prompt))


def main():
    sock, log, qemu_pid, aoe_id, mac = sys.argv[1:6]
    c = Console(sock, log)
    try:
        drive(c, aoe_id, mac)
        return 0
    except RuntimeError as e:
        print(f"console.py: {e}", file=sys.stderr, flush=True)
        try:
            c.line("")
            c.send("\x03")
            c.line("poweroff")
            c.wait(r"reboot: Power down|Power-Off|$^", limit=120)
        except (RuntimeError, OSError):
            pass
        try:
            os.kill(int(qemu_pid), signal.SIGTERM)
        except OSError:
            pass
        return 1


def drive(c, aoe_id, mac):
    c.line("")
    c.wait(r"root@[^ ]*:~# ")
    # A serial line has no size; tell the terminal one, as people do.
    c.line("stty rows 50 cols 160; export TERM=vt220")
    c.wait(r"root@[^ ]*:~# ")
    c.line("netroot wizard --out /run/netroot-vm/wizard")
    first = c.ask("What should be copied?")
    print(first[-1200:], flush=True)
    c.line("")
    c.ask("Where should it go?")
    # Select the AoE target: press Up until the marked line (❯) is its.
    for _ in range(4):
        time.sleep(2)
        t = c.text()[c.pos :]
        marked = t[t.rfind("❯") :].split("\n")[0]
        if "an AoE target" in marked:
            break
        c.send("\x1b[A")
    else:
        raise RuntimeError(f"could not select the AoE target:\n{c.text()[-800:]}")
    c.line("")
    start = c.pos
    c.ask("AoE target")
    time.sleep(2)
    if aoe_id not in c.text()[start:]:
        raise RuntimeError(f"the wizard did not discover {aoe_id}:\n{c.text()[-800:]}")
    c.line("")
    for p in [
        "Interface AoE runs on",
        "Partition layout",
        "Root filesystem",
        "Hostname of the migrated system",
    ]:
        c.ask(p)
        c.line("")
    c.ask("Boot interface")
    time.sleep(1)
    if mac not in c.text()[c.pos :]:
        raise RuntimeError(f"the boot interface offered is not {mac}:\n{c.text()[-800:]}")
    c.line("")
    c.ask(f"Type {aoe_id} to go on")
    c.line(aoe_id)
    done = c.wait(r"The migration is complete\.|resume with:|Aborted", limit=RUN_LIMIT)
    if "The migration is complete." not in done:
        raise RuntimeError(f"the wizard did not complete:\n{c.text()[-2000:]}")
    c.wait(r"root@[^ ]*:~# ", limit=PROMPT_LIMIT)
    print("console.py: the wizard completed; powering off", flush=True)
    c.line("poweroff")


if __name__ == "__main__":
    sys.exit(main())

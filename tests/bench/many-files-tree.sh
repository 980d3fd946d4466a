#!/usr/bin/env bash
# A tree of 200,000+ small entries shaped like a real system's small files,
# for the copier bench (issue #15.3): rsync's cost is per entry, so a tree of
# big files (the test rootfs) alone hides it.
#
#   usage: tests/bench/many-files-tree.sh [DIR]   (default /var/tmp/netroot-bench/many-files)
#
# Deterministic (a fixed seed), idempotent: a stamp file in DIR says the tree
# is complete and it is reused. Prints nothing but errors. The tree is a
# directory source (it has etc/os-release), so `netroot migrate` can copy it.
set -euo pipefail
dir=${1:-/var/tmp/netroot-bench/many-files}
dir=${dir%/}
stamp=$dir/.netroot-many-files-v2
[ -e "$stamp" ] && exit 0
if [ -e "$dir" ]; then
  rm -rf --one-file-system "$dir"
fi
mkdir -p "$dir"
python3 - "$dir" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(15003)
# Sizes: mostly 0.5-16 KB (config, scripts, headers, .py, locale files), a
# few empty, some 16-64 KB, a rare 1-4 MB one: about 1.3 GB in all.
def size():
    r = rnd.random()
    if r < 0.04:
        return 0
    if r < 0.955:
        return int(rnd.lognormvariate(8.2, 0.9)) % 16384 + 512
    if r < 0.9995:
        return rnd.randint(16 << 10, 64 << 10)
    return rnd.randint(1 << 20, 4 << 20)
words = ["lib", "share", "doc", "python3", "site-packages", "include", "locale", "man",
         "perl5", "modules", "icons", "zoneinfo", "firmware", "terminfo", "node_modules"]
blob = bytes(rnd.getrandbits(8) for _ in range(1 << 16)) * 128   # 8 MiB of noise
entries = 0
files = []
os.makedirs(os.path.join(root, "etc"), exist_ok=True)
with open(os.path.join(root, "etc/os-release"), "w") as f:
    f.write('ID=debian\nVERSION_ID=12\nPRETTY_NAME="netroot many-files bench tree"\n')
top = 0
while entries < 205000:
    base = os.path.join(root, "usr", rnd.choice(words), f"pkg{top:04d}")
    top += 1
    for d in range(rnd.randint(1, 12)):
        sub = os.path.join(base, *(f"{rnd.choice(words)}{rnd.randint(0, 9)}" for _ in range(rnd.randint(0, 3))), f"d{d}")
        os.makedirs(sub, exist_ok=True)
        entries += 1
        for i in range(rnd.randint(2, 40)):
            p = os.path.join(sub, f"f{i:03d}.{rnd.choice(['py', 'h', 'conf', 'mo', 'txt', 'so.1', 'gz'])}")
            n = size()
            off = rnd.randint(0, len(blob) - n - 1)
            with open(p, "wb") as f:
                f.write(blob[off:off + n])
            os.chmod(p, rnd.choice([0o644, 0o644, 0o644, 0o755, 0o600]))
            files.append(p)
            entries += 1
        # Some symlinks (relative, as packages ship them) and hard links.
        if files and rnd.random() < 0.5:
            os.symlink(os.path.relpath(rnd.choice(files), sub), os.path.join(sub, "link"))
            entries += 1
        if files and rnd.random() < 0.15:
            os.link(rnd.choice(files), os.path.join(sub, "hardlink"))
            entries += 1
PY
touch "$stamp"

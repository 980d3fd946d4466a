//! Builds the one program netroot installs into a migrated system besides
//! scripts: /usr/lib/netroot/aoe-kick (profiles/files/aoe/aoe-kick.c), the
//! AoE root's kicker. Why a program: it must never call lseek(2) on the disk
//! and must read with O_DIRECT, which no shell tool does (see that file).
//! Why static: it runs unchanged from the initramfs and from the target,
//! whatever its libc, and needs no library from the disk it keeps alive.
//!
//! The C compiler is the one Rust already links with (`cc`, or `$CC`); a
//! static libc (Debian: libc6-dev) is needed. Why not the `cc` crate: it
//! builds libraries to link into this binary, not a separate executable.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "profiles/files/aoe/aoe-kick.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("aoe-kick");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args(["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("running the C compiler `{cc}` to build {src}: {e}"));
    assert!(
        status.success(),
        "`{cc} -static … {src}` failed ({status}): netroot needs a C compiler with a static libc \
         (Debian: apt-get install gcc libc6-dev)"
    );
}

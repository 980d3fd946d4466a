//! Per-distro knowledge, as data in profiles/.

/// Profile names a plan may name (besides "auto").
pub fn known_names() -> Vec<&'static str> {
    vec!["debian", "ubuntu", "debian-dracut", "fedora"]
}

pub fn is_known_name(n: &str) -> bool {
    known_names().contains(&n)
}

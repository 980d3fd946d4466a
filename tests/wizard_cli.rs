//! The wizard without a terminal refuses and points to `--plan`.

mod common;

#[test]
fn wizard_without_a_terminal_refuses() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let (code, stdout, stderr) = common::netroot(&["wizard", "--out", out.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("netroot wizard needs a terminal")
            && stderr.contains("netroot migrate --plan FILE"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written, not even a log");
}

#[test]
fn bare_netroot_without_a_terminal_prints_help() {
    let (code, stdout, _) = common::netroot(&[], &[]);
    assert_eq!(code, 2);
    assert!(stdout.contains("Usage"), "{stdout}");
}

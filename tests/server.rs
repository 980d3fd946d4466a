//! `netroot server`: the generated files' contents, each checked by its own
//! tool (dhcpd -t, dnsmasq --test, a tgtd on 127.0.0.1 loading the tgt
//! config, vblade in a network namespace), several plans, and `apply`.

mod common;
mod server_support;

use common::{netroot, require_root};
use server_support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[test]
fn generated_files_golden_content() {
    let f = Fixture::new("srv-golden");
    f.generate(&["--subnet", "192.0.2.0/24"]);

    // AoE: vblade's Debian config, restricted to the client's MAC.
    let vb = f.read("out/aoe/netroot-mbr-client.conf");
    for l in [
        "shelf=0\n",
        "slot=1\n",
        "netif=veth0\n",
        &format!("filename={}\n", f.p("aoe.img")),
        "options='-m 52:54:00:ab:cd:ef'\n",
    ] {
        assert!(vb.contains(l), "vblade conf lacks {l:?}:\n{vb}");
    }
    let run = f.read("out/aoe/run-vblade-mbr-client.sh");
    assert!(
        run.contains(&format!(
            "exec vblade -m 52:54:00:ab:cd:ef 0 1 veth0 {}",
            f.p("aoe.img")
        )),
        "{run}"
    );

    // iSCSI: tgt block with LUN 1, ACL by IQN and address, CHAP; 0600.
    let tgt = f.read("out/iscsi/netroot-iscsi-client.conf");
    assert!(
        tgt.contains("<target iqn.2024-01.org.example:iscsi-client>\n"),
        "{tgt}"
    );
    assert!(
        tgt.contains(&format!(
            "    <backing-store {}>\n        lun 1\n    </backing-store>\n",
            f.p("iscsi.img")
        )),
        "{tgt}"
    );
    assert!(tgt.contains("    initiator-name iqn.2024-01.org.example:client50\n"));
    // tgt admits an address OR a name match: the sentinel address keeps
    // tgt-admin from adding ALL, so only the name is admitted.
    assert!(tgt.contains("    initiator-address 0.0.0.0/32\n"), "{tgt}");
    assert!(!tgt.contains("192.0.2.50"), "{tgt}");
    assert!(tgt.contains(&format!("    incominguser iscsi-client {SECRET}\n")));
    assert!(tgt.contains(&format!("    outgoinguser tgt-srv {TSECRET}\n")));
    assert_eq!(f.mode("out/iscsi/netroot-iscsi-client.conf"), 0o600);

    // The helper scripts read the secret at run time and never hold it.
    for s in [
        "out/iscsi/tgtadm-iscsi-client.sh",
        "out/iscsi/targetcli-iscsi-client.sh",
    ] {
        let t = f.read(s);
        assert!(
            !t.contains(SECRET) && !t.contains(TSECRET),
            "{s} holds a secret"
        );
        assert!(
            t.contains(&format!("\"$(head -n1 {})\"", f.p("chap.secret"))),
            "{t}"
        );
    }
    let tc = f.read("out/iscsi/targetcli-iscsi-client.sh");
    assert!(
        tc.contains("/tpg1/luns create /backstores/fileio/netroot-iscsi-client lun=1\n"),
        "{tc}"
    );
    assert!(
        tc.contains("/tpg1/acls create iqn.2024-01.org.example:client50\n"),
        "{tc}"
    );

    // dhcpd: one host each; iPXE gets the script, the firmware gets iPXE.
    let d = f.read("out/dhcp/dhcpd-netroot.conf");
    assert!(
        d.contains("subnet 192.0.2.0 netmask 255.255.255.0 {"),
        "{d}"
    );
    assert!(d.contains("host iscsi-client {\n    hardware ethernet 52:54:00:00:00:50;\n    fixed-address 192.0.2.50;\n    next-server 127.0.0.1;\n"), "{d}");
    assert!(
        d.contains("    if exists user-class and option user-class = \"iPXE\" {"),
        "{d}"
    );
    assert!(d.contains("        filename \"netroot/iscsi-client.ipxe\";"));
    assert!(d.contains("        filename \"ipxe.efi\";"));
    assert!(
        d.contains("host mbr-client {\n    hardware ethernet 52:54:00:ab:cd:ef;\n"),
        "{d}"
    );
    assert!(d.contains("        filename \"netroot/mbr-client.ipxe\";"));
    // The iPXE branch never names an iPXE binary (no loop).
    for block in d.split("if exists user-class").skip(1) {
        let ipxe_branch = block.split("\n    }").next().unwrap();
        assert!(
            !ipxe_branch.contains(".kpxe") && !ipxe_branch.contains(".efi"),
            "{ipxe_branch}"
        );
    }

    // dnsmasq: the same decisions by tags.
    let m = f.read("out/dhcp/dnsmasq-netroot.conf");
    for l in [
        "dhcp-userclass=set:ipxe,iPXE\n",
        "dhcp-host=52:54:00:00:00:50,set:netroot-iscsi-client,192.0.2.50,iscsi-client\n",
        "dhcp-boot=tag:netroot-iscsi-client,tag:!ipxe,tag:!efi64,undionly.kpxe\n",
        "dhcp-boot=tag:netroot-iscsi-client,tag:!ipxe,tag:efi64,ipxe.efi\n",
        "dhcp-boot=tag:netroot-iscsi-client,tag:ipxe,netroot/iscsi-client.ipxe\n",
        "dhcp-host=52:54:00:ab:cd:ef,set:netroot-mbr-client,mbr-client\n",
        "dhcp-boot=tag:netroot-mbr-client,tag:!ipxe,undionly.kpxe\n",
        "dhcp-range=192.0.2.0,static,255.255.255.0,12h\n",
        "enable-tftp\ntftp-root=/srv/tftp\n",
    ] {
        assert!(m.contains(l), "dnsmasq conf lacks {l:?}:\n{m}");
    }

    // iPXE scripts: initiator name, CHAP, the URI with tgt's LUN 1, retries.
    let s = f.read("out/tftp/netroot/iscsi-client.ipxe");
    assert!(s.starts_with("#!ipxe\n"));
    assert!(s.contains("set initiator-iqn iqn.2024-01.org.example:client50\n"));
    assert!(s.contains(&format!(
        "set username iscsi-client\nset password {SECRET}\n"
    )));
    assert!(s.contains(&format!(
        "set reverse-username tgt-srv\nset reverse-password {TSECRET}\n"
    )));
    let port = tgt_port();
    assert!(
        s.contains(&format!(
            "set netroot-uri iscsi:127.0.0.1::{port}:1:iqn.2024-01.org.example:iscsi-client\n"
        )),
        "{s}"
    );
    assert!(s.contains(":netroot_retry\n") && s.contains("goto netroot_retry\n"));
    assert!(s.contains("iseq ${netroot-try} 5 && goto netroot_failed ||\n"));
    assert!(s.contains("echo netroot: could not boot iscsi-client"));
    assert_eq!(f.mode("out/tftp/netroot/iscsi-client.ipxe"), 0o600);
    let a = f.read("out/tftp/netroot/mbr-client.ipxe");
    assert!(a.contains("set netroot-uri aoe:e0.1\n"), "{a}");
    assert!(!a.contains("initiator-iqn"));
    assert_eq!(f.mode("out/tftp/netroot/mbr-client.ipxe"), 0o644);

    // TFTP binaries from Debian's ipxe package, for the firmware the plans need.
    for b in ["undionly.kpxe", "ipxe.efi"] {
        assert_eq!(
            std::fs::read(f.dir.join("out/tftp").join(b)).unwrap(),
            std::fs::read(Path::new("/usr/lib/ipxe").join(b)).unwrap()
        );
    }

    // README: install first, then where each file goes; no secret.
    let r = f.read("out/README.txt");
    let order = [
        "1. Install the packages",
        "2. Export the disks",
        "3. The TFTP tree",
        "4. DHCP",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|h| r.find(h).unwrap_or_else(|| panic!("README lacks {h}")))
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "README sections out of order"
    );
    assert!(r.contains("apt-get install ipxe vblade tgt"));
    assert!(r.contains("/etc/vblade.conf.d/netroot-mbr-client.conf"));
    assert!(r.contains("/etc/tgt/conf.d/netroot-iscsi-client.conf"));
    assert!(r.contains("include \"/etc/dhcp/netroot.conf\";"));
    assert!(r.contains("/srv/tftp/netroot/iscsi-client.ipxe"));
    assert!(!r.contains(SECRET) && !r.contains(TSECRET));
}

#[test]
fn dry_run_shows_every_file_and_never_a_secret() {
    let f = Fixture::new("srv-dry");
    let out = f.generate(&["--dry-run"]);
    assert!(!f.dir.join("out").exists(), "dry run wrote files");
    for p in [
        "out/aoe/netroot-mbr-client.conf",
        "out/iscsi/netroot-iscsi-client.conf",
        "out/iscsi/tgtadm-iscsi-client.sh",
        "out/iscsi/targetcli-iscsi-client.sh",
        "out/dhcp/dhcpd-netroot.conf",
        "out/dhcp/dnsmasq-netroot.conf",
        "out/tftp/netroot/iscsi-client.ipxe",
        "out/tftp/netroot/mbr-client.ipxe",
        "out/README.txt",
    ] {
        assert!(
            out.contains(&format!("would write {}", f.p(p))),
            "dry run lacks {p}:\n{out}"
        );
    }
    assert!(
        out.contains("would run: install -D -m 0644 /usr/lib/ipxe/undionly.kpxe"),
        "{out}"
    );
    assert!(
        !out.contains(SECRET) && !out.contains(TSECRET),
        "secret in dry-run output"
    );
    assert!(out.contains("incominguser iscsi-client ***"), "{out}");
    assert!(out.contains("set password ***"), "{out}");
}

#[test]
fn dhcpd_accepts_generated_config() {
    let f = Fixture::new("srv-dhcpd");
    f.generate(&[
        "--subnet",
        "192.0.2.0/24",
        "--range",
        "192.0.2.100-192.0.2.150",
    ]);
    let conf = f.p("out/dhcp/dhcpd-netroot.conf");
    let out = Command::new("dhcpd")
        .args(["-t", "-cf", &conf])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dhcpd -t rejects {conf}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn root_path_mode_refuses_chap_and_passes_dhcpd() {
    let f = Fixture::new("srv-rootpath");
    let (i, a, o) = (f.p("iscsi.json"), f.p("aoe.json"), f.p("out"));
    let (code, _, err) = netroot(
        &[
            "server",
            "--plan",
            &i,
            "--out",
            &o,
            "--boot-method",
            "root-path",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("CHAP needs the iPXE script"), "{err}");
    let (code, out, err) = netroot(
        &[
            "server",
            "--plan",
            &a,
            "--out",
            &o,
            "--boot-method",
            "root-path",
            "--interface",
            "eth1",
            "--server-ip",
            "192.0.2.1",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let d = f.read("out/dhcp/dhcpd-netroot.conf");
    assert!(
        d.contains("        filename \"\";\n        option root-path \"aoe:e0.1\";"),
        "{d}"
    );
    assert!(
        !f.dir.join("out/tftp/netroot").exists(),
        "no scripts in root-path mode"
    );
    let st = Command::new("dhcpd")
        .args(["-t", "-cf", &f.p("out/dhcp/dhcpd-netroot.conf")])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = Command::new("dnsmasq")
        .args(["--test", "-C", &f.p("out/dhcp/dnsmasq-netroot.conf")])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // iSCSI without CHAP: root-path plus option 203 (the initiator name).
    let plain = f.read("iscsi.json");
    let start = plain.find(",\n    \"chap\"").expect("chap in fixture");
    let end = plain[start..].find("}\n  },").unwrap() + start + 1;
    std::fs::write(
        f.dir.join("plain.json"),
        format!("{}{}", &plain[..start], &plain[end..]),
    )
    .unwrap();
    let (code, out, err) = netroot(
        &[
            "server",
            "--plan",
            &f.p("plain.json"),
            "--out",
            &f.p("out2"),
            "--boot-method",
            "root-path",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let d = f.read("out2/dhcp/dhcpd-netroot.conf");
    assert!(
        d.contains("option netroot-initiator-iqn code 203 = string;"),
        "{d}"
    );
    assert!(
        d.contains("        option netroot-initiator-iqn \"iqn.2024-01.org.example:client50\";"),
        "{d}"
    );
    let m = f.read("out2/dhcp/dnsmasq-netroot.conf");
    assert!(
        m.contains("tag:ipxe,203,\"iqn.2024-01.org.example:client50\""),
        "{m}"
    );
    for (prog, flags, file) in [
        ("dhcpd", ["-t", "-cf"], "out2/dhcp/dhcpd-netroot.conf"),
        (
            "dnsmasq",
            ["--test", "-C"],
            "out2/dhcp/dnsmasq-netroot.conf",
        ),
    ] {
        let st = Command::new(prog)
            .args(flags)
            .arg(f.p(file))
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{prog}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
}

#[test]
fn dnsmasq_accepts_generated_config() {
    let f = Fixture::new("srv-dnsmasq");
    for extra in [
        &["--subnet", "192.0.2.0/24"][..],
        &[
            "--subnet",
            "192.0.2.0/24",
            "--range",
            "192.0.2.100-192.0.2.150",
            "--dhcp-interface",
            "veth0",
            "--tftp-server",
            "192.0.2.9",
        ][..],
    ] {
        f.generate(extra);
        let conf = f.p("out/dhcp/dnsmasq-netroot.conf");
        let out = Command::new("dnsmasq")
            .args(["--test", "-C", &conf])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dnsmasq --test rejects {conf}:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            f.read("out/dhcp/dnsmasq-netroot.conf")
        );
    }
    let m = f.read("out/dhcp/dnsmasq-netroot.conf");
    assert!(
        m.contains(
            "dhcp-boot=tag:netroot-mbr-client,tag:ipxe,netroot/mbr-client.ipxe,,192.0.2.9\n"
        ),
        "{m}"
    );
    assert!(
        !m.contains("enable-tftp"),
        "TFTP elsewhere: dnsmasq must not serve it\n{m}"
    );
}

#[test]
fn several_plans_one_dhcp_config_one_export_each() {
    let f = Fixture::new("srv-many");
    let d = f.p("");
    // A third client: AoE e0.2.
    std::fs::write(
        f.dir.join("aoe2.json"),
        f.read("aoe.json")
            .replace("\"slot\": 1", "\"slot\": 2")
            .replace("52:54:00:AB:CD:EF", "52:54:00:AB:CD:F0")
            .replace("mbr-client", "mbr-client2")
            .replace(&format!("{d}aoe.img"), &format!("{d}aoe2.img")),
    )
    .unwrap();
    f.generate(&["--plan", &f.p("aoe2.json")]);
    let dh = f.read("out/dhcp/dhcpd-netroot.conf");
    let dm = f.read("out/dhcp/dnsmasq-netroot.conf");
    for (n, mac) in [
        ("iscsi-client", "52:54:00:00:00:50"),
        ("mbr-client", "52:54:00:ab:cd:ef"),
        ("mbr-client2", "52:54:00:ab:cd:f0"),
    ] {
        assert_eq!(dh.matches(&format!("host {n} {{")).count(), 1, "{dh}");
        assert!(dh.contains(&format!("hardware ethernet {mac};")));
        assert!(
            dm.contains(&format!("dhcp-host={mac},set:netroot-{n},")),
            "{dm}"
        );
    }
    assert!(f
        .read("out/aoe/netroot-mbr-client2.conf")
        .contains("slot=2\n"));
    assert!(f.dir.join("out/aoe/netroot-mbr-client.conf").exists());
    assert!(f.dir.join("out/iscsi/netroot-iscsi-client.conf").exists());
    let st = Command::new("dhcpd")
        .args(["-t", "-cf", &f.p("out/dhcp/dhcpd-netroot.conf")])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // The same plan twice is refused: one MAC, one export each.
    let (code, _, err) = netroot(
        &[
            "server",
            "--plan",
            &f.p("aoe.json"),
            "--plan",
            &f.p("aoe.json"),
            "--out",
            &f.p("o2"),
            "--interface",
            "eth0",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("used by two plans"), "{err}");
}

#[test]
fn clear_errors_for_missing_server_facts() {
    let f = Fixture::new("srv-errors");
    let (a, o) = (f.p("aoe.json"), f.p("out"));
    let (code, _, err) = netroot(&["server", "--plan", &a, "--out", &o], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--interface IF"), "{err}");
    let (code, _, err) = netroot(&["server", "--plan", &a, "--interface", "eth0"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--out DIR is required"), "{err}");
    std::fs::write(
        f.dir.join("nomac.json"),
        f.read("aoe.json")
            .replace(r#""mac": "52:54:00:AB:CD:EF""#, ""),
    )
    .unwrap();
    let (code, _, err) = netroot(
        &[
            "server",
            "--plan",
            &f.p("nomac.json"),
            "--out",
            &o,
            "--interface",
            "eth0",
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("client.mac is missing"), "{err}");
    assert!(err.contains("nomac.json"), "{err}");
    std::fs::write(f.dir.join("chap.secret"), "short\n").unwrap();
    let (code, _, err) = netroot(&["server", "--plan", &f.p("iscsi.json"), "--out", &o], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("12 to 16"), "{err}");
    assert!(!err.contains("short"), "secret echoed: {err}");
}

#[test]
fn tgtd_loads_generated_config_and_tgtadm_script() {
    if !require_root() {
        return;
    }
    let f = Fixture::new("srv-tgt");
    f.generate(&[]);
    let image = f.p("iscsi.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let tgtd = Tgtd::start(tgt_port());

    // targets.conf, loaded the way tgt.service does (tgt-admin -e).
    let out = Command::new("tgt-admin")
        .args([
            "-C",
            &tgtd.control,
            "-e",
            "-c",
            &f.p("out/iscsi/netroot-iscsi-client.conf"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tgt-admin failed: {}",
        String::from_utf8_lossy(&out.stderr).replace(SECRET, "***")
    );
    check_tgt_target(&tgtd.show(), &image);
    check_tgt_acl_by_login();

    // The tgtadm script builds the same target.
    tgtd.delete_all();
    assert!(!tgtd.show().contains("Target 1"));
    let out = Command::new("sh")
        .arg(f.p("out/iscsi/tgtadm-iscsi-client.sh"))
        .env("TGT_CONTROL_PORT", &tgtd.control)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tgtadm script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_tgt_target(&tgtd.show(), &image);
}

#[test]
fn vblade_accepts_generated_arguments() {
    if !require_root() {
        return;
    }
    let f = Fixture::new("srv-vblade");
    f.generate(&[]);
    let image = f.p("aoe.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let ns = format!("nrsrv{}", std::process::id());
    let ip = |args: &[&str]| {
        let st = Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    ip(&["netns", "add", &ns]);
    struct DelNs(String);
    impl Drop for DelNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _guard = DelNs(ns.clone());
    ip(&[
        "-n", &ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    ip(&["-n", &ns, "link", "set", "veth0", "up"]);
    ip(&["-n", &ns, "link", "set", "veth1", "up"]);

    // The Debian config, expanded the way vblade@.service's ExecStart does:
    // vblade $shelf $slot $netif $filename $options
    let conf = f.read("out/aoe/netroot-mbr-client.conf");
    let var = |k: &str| {
        conf.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {conf}"))
            .trim_matches('\'')
            .to_string()
    };
    let mut argv: Vec<String> = vec![var("shelf"), var("slot"), var("netif"), var("filename")];
    argv.extend(var("options").split_whitespace().map(String::from));
    for (what, cmd) in [
        ("vblade@.service form", argv.clone()),
        (
            "run-vblade script",
            vec!["sh".into(), f.p("out/aoe/run-vblade-mbr-client.sh")],
        ),
    ] {
        let (prog, args) = if cmd[0] == "sh" {
            ("sh".to_string(), cmd[1..].to_vec())
        } else {
            ("vblade".to_string(), cmd)
        };
        let log = f.dir.join("vblade.log");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, &prog])
            .args(&args)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // vblade prints its export line once it serves; it exits at once on bad arguments.
        let mut seen = String::new();
        for _ in 0..50 {
            seen = std::fs::read_to_string(&log).unwrap_or_default();
            if seen.contains("e0.1") || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        assert!(
            alive && seen.contains("e0.1, 32768 sectors"),
            "{what}: vblade did not serve: {seen} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn apply_dry_run_lists_everything() {
    let f = Fixture::new("srv-apply-dry");
    let (i, a) = (f.p("iscsi.json"), f.p("aoe.json"));
    let (code, out, err) = netroot(
        &[
            "server",
            "apply",
            "--plan",
            &i,
            "--plan",
            &a,
            "--interface",
            "eth1",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "would write /etc/vblade.conf.d/netroot-mbr-client.conf",
        "would write /etc/tgt/conf.d/netroot-iscsi-client.conf (mode 0600)",
        "would write /etc/dnsmasq.d/netroot.conf",
        "would write /srv/tftp/netroot/iscsi-client.ipxe (mode 0600)",
        "would write /srv/tftp/netroot/mbr-client.ipxe",
        "would run: install -D -m 0644 /usr/lib/ipxe/undionly.kpxe /srv/tftp/undionly.kpxe",
        "would run: chown dnsmasq /srv/tftp/netroot/iscsi-client.ipxe",
        "vblade@netroot-mbr-client.service",
        "tgt.service",
        "dnsmasq.service",
    ] {
        assert!(out.contains(want), "apply --dry-run lacks {want:?}:\n{out}");
    }
    assert!(
        !out.contains(SECRET) && !out.contains(TSECRET),
        "secret in apply dry run"
    );
    assert!(!Path::new("/etc/tgt/conf.d/netroot-iscsi-client.conf").exists());
}

#[test]
fn apply_into_a_root_is_idempotent() {
    let f = Fixture::new("srv-apply-root");
    let root = f.dir.join("root");
    let r = root.display().to_string();
    std::fs::create_dir_all(root.join("etc/dhcp")).unwrap();
    std::fs::write(root.join("etc/dhcp/dhcpd.conf"), "# site config\n").unwrap();
    let (i, a) = (f.p("iscsi.json"), f.p("aoe.json"));
    let args = [
        "server",
        "apply",
        "--plan",
        &i,
        "--plan",
        &a,
        "--interface",
        "eth1",
        "--root",
        &r,
        "--dhcp",
        "isc",
    ];
    let (code, out, err) = netroot(&args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let at = |p: &str| -> PathBuf { root.join(p) };
    assert!(
        std::fs::read_to_string(at("etc/tgt/conf.d/netroot-iscsi-client.conf"))
            .unwrap()
            .contains("lun 1")
    );
    assert_eq!(
        std::fs::metadata(at("etc/tgt/conf.d/netroot-iscsi-client.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(at("etc/vblade.conf.d/netroot-mbr-client.conf").exists());
    assert!(at("etc/dhcp/netroot.conf").exists());
    assert!(
        !at("etc/dnsmasq.d/netroot.conf").exists(),
        "isc chosen: no dnsmasq file"
    );
    assert!(at("srv/tftp/undionly.kpxe").exists() && at("srv/tftp/ipxe.efi").exists());
    assert!(at("srv/tftp/netroot/iscsi-client.ipxe").exists());
    let dconf = std::fs::read_to_string(at("etc/dhcp/dhcpd.conf")).unwrap();
    assert!(
        dconf.starts_with("# site config\n")
            && dconf.contains("include \"/etc/dhcp/netroot.conf\";"),
        "{dconf}"
    );
    assert!(out.contains("skipped   services"), "{out}");
    assert!(!out.contains(SECRET));

    // Again: nothing to do.
    let (code, out2, err) = netroot(&args, &[]);
    assert_eq!(code, 0, "{out2}{err}");
    assert!(
        !out2.contains("wrote"),
        "second apply wrote something:\n{out2}"
    );
    assert!(out2.contains("unchanged"), "{out2}");
    assert_eq!(
        std::fs::read_to_string(at("etc/dhcp/dhcpd.conf")).unwrap(),
        dconf
    );
}

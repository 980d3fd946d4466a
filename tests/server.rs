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
    assert!(d.contains("host iscsi-client {\n    hardware ethernet 52:54:00:00:00:50;\n    fixed-address 192.0.2.50;\n    next-server 192.0.2.1;\n"), "{d}");
    // The plan's portal is loopback: no client could reach it.
    assert!(!d.contains("127.0.0.1"), "{d}");
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
        // The AoE client has no fixed address: it needs a range (without one
        // dnsmasq answers nobody and `--test` still passes).
        "dhcp-range=192.0.2.128,192.0.2.254,255.255.255.0,12h\n",
        // DHCP and TFTP only, no DNS server on port 53.
        "port=0\n",
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
            "set netroot-uri iscsi:192.0.2.1::{port}:1:iqn.2024-01.org.example:iscsi-client\n"
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
            "192.0.2.1/24",
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
            "--server-ip",
            "192.0.2.1/24",
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
    // tgt admits an address OR a name: a bound address (ALL, or the
    // client's) next to the name would let any initiator from there in.
    let script = f.read("out/iscsi/tgtadm-iscsi-client.sh");
    assert!(
        !script.contains("--initiator-address"),
        "tgtadm script binds an address next to the name:\n{script}"
    );
    check_tgt_acl_by_login();
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
            "--server-ip",
            "192.0.2.1/24",
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
        // The disks the clients migrate onto, sparse, of the plans' target.size.
        "would create",
        "iscsi.img (1073741824 bytes, sparse)",
        "would run: install -D -m 0644 /usr/lib/ipxe/undionly.kpxe /srv/tftp/undionly.kpxe",
        "would run: chown dnsmasq /srv/tftp/netroot/iscsi-client.ipxe",
        // The instance escaped as systemd-escape does: unescaped, %I would
        // name /etc/vblade.conf.d/netroot/mbr/client.conf.
        "vblade@netroot\\x2dmbr\\x2dclient.service",
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

/// On the server itself only the plan is needed: run in a network
/// namespace whose one NIC has 192.0.2.1/24 (as a server on the clients'
/// LAN), `server apply` with no --server-ip and no --interface takes the
/// address, prefix and NIC from `ip addr`, says so, and generates with
/// them; with LIO it installs and runs the targetcli script instead of
/// tgt's file; with --dhcp-proxy dnsmasq hands out no address.
#[test]
fn apply_reads_the_servers_address_and_sets_up_lio_behind_a_proxy() {
    if !require_root() {
        return;
    }
    let f = Fixture::new("srv-apply-detect");
    let (i, a) = (f.p("iscsi.json"), f.p("aoe.json"));
    let lan = DhcpLan::new("det", "52:54:00:ab:cd:ef");
    let bin = common::netroot_bin().display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "netns",
            "exec",
            &lan.ns,
            &bin,
            "server",
            "apply",
            "--plan",
            &i,
            "--plan",
            &a,
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        let o = Command::new("ip").args(&args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["--iscsi-target", "lio", "--dhcp-proxy"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("detected  server address 192.0.2.1/24, NIC srv"),
        "{out}"
    );
    for want in [
        "would write /etc/netroot/lio/targetcli-iscsi-client.sh (mode 0700)",
        "would run: sh -e /etc/netroot/lio/targetcli-iscsi-client.sh",
        "would install",
        "targetcli-fb",
        "rtslib-fb-targetctl.service",
        // vblade serves AoE on the NIC found, not on the client's.
        "netif=srv",
        "dhcp-range=192.0.2.0,proxy,255.255.255.0",
    ] {
        assert!(out.contains(want), "apply --dry-run lacks {want:?}:\n{out}");
    }
    assert!(
        !out.contains("/etc/tgt/conf.d/"),
        "a tgt file with LIO:\n{out}"
    );
    assert!(!out.contains(SECRET), "secret in apply dry run");
    // A second address and no hint: refused, both listed, nothing done.
    lan.ip(&[
        "-n",
        &lan.ns,
        "addr",
        "add",
        "198.51.100.1/24",
        "dev",
        "cli",
    ]);
    let (code, out, err) = run(&[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("srv 192.0.2.1/24") && err.contains("cli 198.51.100.1/24"),
        "{err}"
    );
    assert!(
        err.contains("--server-ip") && err.contains("--interface"),
        "{err}"
    );
    // The option picks one (the other is outside the plans' subnet: said).
    let (code, out, err) = run(&["--interface", "srv"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("detected  server address 192.0.2.1/24 (by --interface"),
        "{out}"
    );
    let (code, _, err) = run(&["--interface", "cli"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("192.0.2.50 is outside the DHCP subnet 198.51.100.0/24"),
        "{err}"
    );
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
        "--server-ip",
        "192.0.2.1/24",
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

/// A network namespace with a veth pair: the server end (`srv`,
/// 192.0.2.1/24) and the client end (`cli`, the client's MAC, no address).
struct DhcpLan {
    ns: String,
}

impl DhcpLan {
    fn new(tag: &str, client_mac: &str) -> DhcpLan {
        let ns = format!("nr{tag}{}", std::process::id());
        let lan = DhcpLan { ns };
        lan.ip(&["netns", "add", &lan.ns]);
        for args in [
            &["link", "add", "srv", "type", "veth", "peer", "name", "cli"][..],
            &["link", "set", "cli", "address", client_mac],
            &["addr", "add", "192.0.2.1/24", "dev", "srv"],
            &["link", "set", "srv", "up"],
            &["link", "set", "cli", "up"],
            &["link", "set", "lo", "up"],
        ] {
            let mut a = vec!["-n", lan.ns.as_str()];
            a.extend_from_slice(args);
            lan.ip(&a);
        }
        lan
    }
    fn ip(&self, args: &[&str]) {
        let st = Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    }
    /// Ask for a lease on `cli` as a DHCP client would (busybox udhcpc),
    /// optionally with iPXE's user class; returns (address, boot file).
    fn lease(&self, dir: &Path, ipxe: bool) -> (String, String) {
        let script = dir.join("udhcpc.sh");
        let got = dir.join(format!("lease-{ipxe}"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip $boot_file\" > {}\nexit 0\n",
                got.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut args = vec![
            "netns", "exec", &self.ns, "busybox", "udhcpc", "-i", "cli", "-n", "-q", "-f", "-t",
            "8", "-T", "1", "-A", "1", "-s",
        ];
        let s = script.display().to_string();
        args.push(&s);
        if ipxe {
            // Option 77, user class "iPXE", as iPXE sends it.
            args.extend(["-x", "0x4d:69505845"]);
        }
        let out = Command::new("ip").args(&args).output().unwrap();
        let line = std::fs::read_to_string(&got).unwrap_or_else(|_| {
            panic!(
                "no DHCP lease: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let mut w = line.split_whitespace();
        (
            w.next().unwrap_or_default().to_string(),
            w.next().unwrap_or_default().to_string(),
        )
    }
}

impl Drop for DhcpLan {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// A child process killed (by its PID) on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The generated DHCP files answer a client that only has its MAC: an
/// address from the default range, the iPXE binary for the firmware and
/// the script for iPXE — with only `--server-ip ADDR/PREFIX` given. (A
/// dnsmasq file without `dhcp-range` passes `dnsmasq --test` and answers
/// nobody; this asks it for a lease.)
#[test]
fn generated_dhcp_answers_the_client() {
    if !require_root() {
        return;
    }
    let f = Fixture::new("srv-lease");
    let a = f.p("aoe.json");
    let o = f.p("out");
    let (code, out, err) = netroot(
        &[
            "server",
            "--plan",
            &a,
            "--out",
            &o,
            "--interface",
            "srv",
            "--server-ip",
            "192.0.2.1/24",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");

    // dnsmasq, as Debian's dnsmasq.service would read the snippet.
    let lan = DhcpLan::new("dm", "52:54:00:ab:cd:ef");
    let tftp = f.p("out/tftp");
    let dm = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lan.ns,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            &format!("--conf-file={}", f.p("out/dhcp/dnsmasq-netroot.conf")),
            &format!("--tftp-root={tftp}"),
            &format!("--dhcp-leasefile={}", f.p("dnsmasq.leases")),
            "--pid-file",
            "--user=root",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dm = Killed(dm);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (addr, file) = lan.lease(&f.dir.path, false);
    assert!(
        addr.starts_with("192.0.2.")
            && addr.rsplit('.').next().unwrap().parse::<u8>().unwrap() >= 128,
        "dnsmasq: address {addr:?} outside the default range"
    );
    assert_eq!(file, "undionly.kpxe", "dnsmasq: firmware's boot file");
    let (_, file) = lan.lease(&f.dir.path, true);
    assert_eq!(file, "netroot/mbr-client.ipxe", "dnsmasq: iPXE's boot file");
    drop(dm);
    drop(lan);

    // ISC dhcpd with the snippet as its whole configuration.
    let lan = DhcpLan::new("isc", "52:54:00:ab:cd:ef");
    let leases = f.dir.join("dhcpd.leases");
    std::fs::write(&leases, "").unwrap();
    let isc = Command::new("ip")
        .args(["netns", "exec", &lan.ns, "dhcpd", "-4", "-f", "-q", "-cf"])
        .arg(f.p("out/dhcp/dhcpd-netroot.conf"))
        .arg("-lf")
        .arg(&leases)
        .args(["-pf", &f.p("dhcpd.pid"), "srv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _isc = Killed(isc);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (addr, file) = lan.lease(&f.dir.path, false);
    assert!(addr.starts_with("192.0.2."), "dhcpd: address {addr:?}");
    assert_eq!(file, "undionly.kpxe", "dhcpd: firmware's boot file");
    let (_, file) = lan.lease(&f.dir.path, true);
    assert_eq!(file, "netroot/mbr-client.ipxe", "dhcpd: iPXE's boot file");
}

/// `netroot server` on every shipped example, with only what
/// docs/server.md tells a user to pass (`--server-ip ADDR/PREFIX`, and
/// `--interface` for AoE): every file set serves somebody and admits only
/// the client.
#[test]
fn shipped_examples_serve_with_the_documented_options() {
    if !require_root() {
        return;
    }
    // iscsi-uefi.json uses CHAP from /etc/netroot/chap.secret, created the
    // way docs/server.md says; removed again if this test made it.
    let secret = Path::new("/etc/netroot/chap.secret");
    struct RmSecret(bool);
    impl Drop for RmSecret {
        fn drop(&mut self) {
            if self.0 {
                let _ = std::fs::remove_file("/etc/netroot/chap.secret");
            }
        }
    }
    let _rm = RmSecret(!secret.exists());
    if !secret.exists() {
        let st = Command::new("sh")
            .args([
                "-c",
                "install -d -m 0700 /etc/netroot && (umask 077; head -c 12 /dev/urandom | base64 > /etc/netroot/chap.secret)",
            ])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = common::Scratch::new("srv-examples");
    let mut seen = 0;
    for e in std::fs::read_dir(repo.join("docs/examples")).unwrap() {
        let plan = e.unwrap().path();
        let name = plan.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&plan).unwrap();
        let aoe = text.contains("\"aoe\"");
        // A copy whose image file (where the example has one) is this test's
        // own: a demo run on this machine must not make the dry run below
        // find a finished disk.
        let own = scratch.join(&format!("{name}.json"));
        let disk = scratch.join(&format!("{name}.img")).display().to_string();
        let text = match text.split("\"device\": \"").nth(1) {
            Some(d) => text.replace(d.split('"').next().unwrap(), &disk),
            None => text,
        };
        std::fs::write(&own, &text).unwrap();
        let plan = own;
        let out = scratch.join(&name);
        let (p, o) = (plan.display().to_string(), out.display().to_string());
        let mut args = vec![
            "server",
            "--plan",
            &p,
            "--out",
            &o,
            "--server-ip",
            "192.0.2.1/24",
        ];
        if aoe {
            args.extend(["--interface", "eth1"]);
        }
        let (code, stdout, err) = netroot(&args, &[]);
        assert_eq!(code, 0, "{name}: {stdout}{err}");
        seen += 1;
        let read = |rel: &str| std::fs::read_to_string(out.join(rel)).unwrap();
        let dm = read("dhcp/dnsmasq-netroot.conf");
        assert!(
            dm.contains("\ndhcp-range=") && dm.contains("\nport=0\n"),
            "{name}:\n{dm}"
        );
        let dh = read("dhcp/dhcpd-netroot.conf");
        assert!(dh.contains("    next-server 192.0.2.1;\n"), "{name}:\n{dh}");
        assert!(
            dh.contains("subnet 192.0.2.0 netmask 255.255.255.0 {"),
            "{name}:\n{dh}"
        );
        for rel in ["dhcp/dhcpd-netroot.conf", "dhcp/dnsmasq-netroot.conf"] {
            assert!(
                !read(rel).contains("127.0.0.1"),
                "{name}: {rel} names loopback"
            );
        }
        for s in std::fs::read_dir(out.join("tftp/netroot")).unwrap() {
            let t = std::fs::read_to_string(s.unwrap().path()).unwrap();
            assert!(
                !t.contains("127.0.0.1"),
                "{name}: iPXE script names loopback:\n{t}"
            );
        }
        for (tool, args) in [
            ("dnsmasq", vec!["--test", "-C"]),
            ("dhcpd", vec!["-t", "-cf"]),
        ] {
            let rel = if tool == "dnsmasq" {
                "dhcp/dnsmasq-netroot.conf"
            } else {
                "dhcp/dhcpd-netroot.conf"
            };
            let st = Command::new(tool)
                .args(&args)
                .arg(out.join(rel))
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "{name}: {tool} rejects {rel}: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
        if aoe {
            let conf = std::fs::read_dir(out.join("aoe"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.extension().is_some_and(|x| x == "conf")
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("netroot-"))
                        && !p.to_string_lossy().contains(".service.d-")
                })
                .unwrap();
            let c = std::fs::read_to_string(conf).unwrap();
            let dropin = std::fs::read_dir(out.join("aoe"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains(".service.d-"))
                .expect("a vblade@ drop-in");
            let d = std::fs::read_to_string(dropin).unwrap();
            assert!(
                d.contains("After=sys-subsystem-net-devices-eth1.device"),
                "{name}: vblade waits for the server's NIC:\n{d}"
            );
            assert!(
                c.contains("netif=eth1\n"),
                "{name}: vblade on the server's NIC:\n{c}"
            );
            assert!(
                c.contains("filename=/srv/netroot/"),
                "{name}: default export path:\n{c}"
            );
        } else {
            let host = text
                .split("\"hostname\": \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap();
            let tgt = read(&format!("iscsi/netroot-{host}.conf"));
            let want = match text.split("\"initiator_name\": \"").nth(1) {
                Some(r) => r.split('"').next().unwrap().to_string(),
                // No name in the plan: the one the migration gives the
                // migrated system (its dry run shows the file). The dry run
                // reads a fresh state dir and a disk that does not exist yet,
                // so a demo run on this machine cannot make it say "done".
                None => {
                    let state = scratch.join(&format!("{name}-state"));
                    let state = state.display().to_string();
                    let (_, dry, _) = netroot(
                        &["migrate", "--plan", &p, "--dry-run", "--state-dir", &state],
                        &[],
                    );
                    dry.lines()
                        .find_map(|l| l.trim().strip_prefix("InitiatorName="))
                        .unwrap_or_else(|| {
                            panic!("{name}: no InitiatorName in the dry run:\n{dry}")
                        })
                        .to_string()
                }
            };
            assert!(
                tgt.contains(&format!("    initiator-name {want}\n")),
                "{name}:\n{tgt}"
            );
            let sh = read(&format!("iscsi/tgtadm-{host}.sh"));
            assert!(!sh.contains("--initiator-address"), "{name}:\n{sh}");
            let ipxe = read(&format!("tftp/netroot/{host}.ipxe"));
            assert!(
                ipxe.contains(&format!("set initiator-iqn {want}\n")),
                "{name}:\n{ipxe}"
            );
        }
    }
    assert_eq!(seen, 5, "the shipped examples");
}

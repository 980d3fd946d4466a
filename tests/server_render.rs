//! Every server file rendered for a matrix of clients and options, through
//! the library API (no plan files, no root). It proves each template
//! renders for every combination (undefined variables are errors), pins a
//! few lines per file, and with NETROOT_RENDER_DUMP=DIR writes every file
//! so two builds' output can be compared byte for byte (`diff -r`).

use netroot::plan::Firmware;
use netroot::server::model::ChapSecrets;
use netroot::server::{
    generate, BootMethod, ClientSpec, EfiBinary, ExportSpec, GeneratedFile, IscsiExport,
    ServerOptions, Subnet,
};
use std::net::Ipv4Addr;

fn aoe(name: &str, mac: &str, fw: Firmware, ip: Option<Ipv4Addr>, slot: u8) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        plan_file: format!("/plans/{name}.json").into(),
        mac: mac.into(),
        ip,
        ip_subnet: ip.map(|_| Subnet::parse("192.0.2.0/24").unwrap()),
        firmware: fw,
        backing: format!("/srv/aoe/{name}.img").into(),
        backing_size: None,
        export: ExportSpec::Aoe {
            shelf: 3,
            slot,
            interface: "enp1s0".into(),
        },
    }
}

struct Iscsi {
    port: u16,
    lun: u32,
    initiator: bool,
    chap: u8,
    ip: Option<Ipv4Addr>,
    dev: bool,
}

fn iscsi(name: &str, mac: &str, fw: Firmware, o: Iscsi) -> ClientSpec {
    let chap = match o.chap {
        0 => None,
        n => Some(ChapSecrets {
            username: format!("{name}-user"),
            secret: format!("Secret-{name}-01"),
            secret_file: format!("/etc/netroot/{name} chap.secret").into(),
            target: (n > 1).then(|| {
                (
                    "tgt-srv".to_string(),
                    format!("Target-{name}-02"),
                    format!("/etc/netroot/{name}'t.secret").into(),
                )
            }),
        }),
    };
    ClientSpec {
        name: name.into(),
        plan_file: format!("/plans/{name}.json").into(),
        mac: mac.into(),
        ip: o.ip,
        ip_subnet: o.ip.map(|_| Subnet::parse("192.0.2.0/24").unwrap()),
        firmware: fw,
        backing_size: None,
        backing: if o.dev {
            format!("/dev/vg0/{name}").into()
        } else {
            format!("/srv/iscsi/{name}.img").into()
        },
        export: ExportSpec::Iscsi(IscsiExport {
            host: "192.0.2.1".into(),
            ipv4: Some(std::net::Ipv4Addr::new(192, 0, 2, 1)),
            port: o.port,
            iqn: format!("iqn.2024-01.org.example:{name}"),
            lun: o.lun,
            initiator: o
                .initiator
                .then(|| format!("iqn.2024-01.org.example:init-{name}")),
            chap,
        }),
    }
}

fn clients(with_chap: bool) -> Vec<ClientSpec> {
    let ip = |n| Some(Ipv4Addr::new(192, 0, 2, n));
    let mut v = vec![
        aoe("aoe-bios", "52:54:00:00:00:01", Firmware::Bios, ip(11), 1),
        aoe("aoe-uefi", "52:54:00:00:00:02", Firmware::Uefi, None, 2),
        iscsi(
            "plain",
            "52:54:00:00:00:03",
            Firmware::Both,
            Iscsi {
                port: 3260,
                lun: 1,
                initiator: false,
                chap: 0,
                ip: None,
                dev: false,
            },
        ),
        iscsi(
            "by-addr",
            "52:54:00:00:00:04",
            Firmware::Uefi,
            Iscsi {
                port: 3261,
                lun: 10,
                initiator: false,
                chap: 0,
                ip: ip(14),
                dev: true,
            },
        ),
        iscsi(
            "named",
            "52:54:00:00:00:05",
            Firmware::Bios,
            Iscsi {
                port: 3260,
                lun: 2,
                initiator: true,
                chap: 0,
                ip: ip(15),
                dev: false,
            },
        ),
    ];
    if with_chap {
        v.push(iscsi(
            "chap1",
            "52:54:00:00:00:06",
            Firmware::Both,
            Iscsi {
                port: 3260,
                lun: 1,
                initiator: true,
                chap: 1,
                ip: None,
                dev: true,
            },
        ));
        v.push(iscsi(
            "chap2",
            "52:54:00:00:00:07",
            Firmware::Uefi,
            Iscsi {
                port: 3262,
                lun: 3,
                initiator: true,
                chap: 2,
                ip: ip(17),
                dev: false,
            },
        ));
    }
    v
}

/// (name, clients, options) for every case.
fn cases() -> Vec<(String, Vec<ClientSpec>, ServerOptions)> {
    let sn = Subnet::parse("192.0.2.0/24").unwrap();
    let mut out = Vec::new();
    // What docs/server.md tells users to pass at least: the server's
    // address with its prefix (next-server, the DHCP subnet).
    let base = ServerOptions {
        server_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
        server_subnet: Some(sn),
        ..Default::default()
    };
    let variants: Vec<(&str, bool, ServerOptions)> = vec![
        ("default", true, base.clone()),
        (
            "server-ip-snponly",
            true,
            ServerOptions {
                server_ip: Some(Ipv4Addr::new(192, 0, 2, 2)),
                efi_binary: EfiBinary::Snponly,
                retries: 0,
                ..base.clone()
            },
        ),
        (
            "remote-tftp-subnet-range",
            true,
            ServerOptions {
                tftp_server: Some(Ipv4Addr::new(192, 0, 2, 3)),
                subnet: Some(sn),
                range: Some((Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 150))),
                dhcp_interface: Some("br0".into()),
                tftp_root: "/var/lib/tftp".into(),
                ipxe_dir: "/opt/ipxe".into(),
                retries: 3,
                ..Default::default()
            },
        ),
        (
            "dhcp-proxy",
            true,
            ServerOptions {
                dhcp_proxy: true,
                dhcp_interface: Some("eth1".into()),
                ..base.clone()
            },
        ),
        (
            "root-path-subnet",
            false,
            ServerOptions {
                subnet: Some(sn),
                boot_method: BootMethod::RootPath,
                allow_any_initiator: true,
                ..base.clone()
            },
        ),
    ];
    for (name, chap, opts) in variants {
        out.push((name.to_string(), clients(chap), opts.clone()));
        // each client alone, too: the "any" flags of the README and dhcpd
        for c in clients(chap) {
            out.push((format!("{name}-{}", c.name), vec![c], opts.clone()));
        }
    }
    // AoE only, the server's address and nothing else.
    out.push((
        "aoe-only".into(),
        clients(false)
            .into_iter()
            .filter(|c| matches!(c.export, ExportSpec::Aoe { .. }))
            .collect(),
        ServerOptions {
            interface: Some("eth9".into()),
            ..base
        },
    ));
    out
}

fn text<'a>(files: &'a [GeneratedFile], rel: &str) -> &'a str {
    files
        .iter()
        .find(|f| f.rel_path == rel)
        .unwrap_or_else(|| panic!("no {rel}"))
        .text_contents()
        .unwrap()
}

#[test]
fn every_case_renders_and_dumps() {
    let dump = std::env::var_os("NETROOT_RENDER_DUMP").map(std::path::PathBuf::from);
    for (name, cl, opts) in cases() {
        let files = generate(&cl, &opts).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(text(&files, "README.txt").starts_with("netroot server files\n"));
        if let Some(d) = &dump {
            for f in &files {
                let p = d.join(&name).join(&f.rel_path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                let body = match f.text_contents() {
                    Some(t) => t.to_string(),
                    None => format!("{f:?}"),
                };
                let meta = format!(
                    "{:04o} {:?} {:?} {}\n",
                    f.mode, f.install_to, f.secrets, f.what
                );
                std::fs::write(&p, body).unwrap();
                std::fs::write(p.with_extension("meta"), meta).unwrap();
            }
        }
    }
}

#[test]
fn pinned_lines() {
    let (_, cl, opts) = cases().into_iter().next().unwrap();
    let files = generate(&cl, &opts).unwrap();
    let tgtadm = text(&files, "iscsi/tgtadm-chap2.sh");
    assert!(
        tgtadm.contains("--password \"$(head -n1 '/etc/netroot/chap2'\\''t.secret')\"\n"),
        "{tgtadm}"
    );
    assert!(tgtadm.contains("--password \"$(head -n1 '/etc/netroot/chap2 chap.secret')\"\n"));
    let lio = text(&files, "iscsi/targetcli-by-addr.sh");
    assert!(
        lio.contains(
            "targetcli /backstores/block create name=netroot-by-addr dev=/dev/vg0/by-addr\n"
        ),
        "{lio}"
    );
    assert!(lio.contains(
        "targetcli /iscsi/iqn.2024-01.org.example:by-addr/tpg1/portals create 0.0.0.0 3261\n"
    ));
    let ipxe = text(&files, "tftp/netroot/chap2.ipxe");
    assert!(
        ipxe.contains("set reverse-password Target-chap2-02\n"),
        "{ipxe}"
    );
    assert!(ipxe.contains("iseq ${netroot-try} 5 && goto netroot_failed ||\n"));
    let run = text(&files, "aoe/run-vblade-aoe-bios.sh");
    assert!(
        run.ends_with("exec vblade -m 52:54:00:00:00:01 3 1 enp1s0 /srv/aoe/aoe-bios.img\n"),
        "{run}"
    );
    let dnsmasq = text(&files, "dhcp/dnsmasq-netroot.conf");
    assert!(
        dnsmasq.contains("dhcp-boot=tag:netroot-plain,tag:!ipxe,tag:!efi64,undionly.kpxe\n"),
        "{dnsmasq}"
    );
}

/// Proxy DHCP: no address of its own is handed out (a proxy range, tags
/// by MAC instead of host entries), PXE answers switched on, and every
/// boot file carries the server's address (iPXE ignores a proxy answer
/// without one). dnsmasq itself accepts the file.
#[test]
fn proxy_dhcp_hands_out_no_address_and_names_the_boot_server() {
    let (_, cl, opts) = cases()
        .into_iter()
        .find(|(n, _, _)| n == "dhcp-proxy")
        .unwrap();
    let files = generate(&cl, &opts).unwrap();
    let d = text(&files, "dhcp/dnsmasq-netroot.conf");
    assert!(
        d.contains("dhcp-range=192.0.2.0,proxy,255.255.255.0\n"),
        "{d}"
    );
    assert!(d.contains("pxe-prompt=\"netroot\",0\n"), "{d}");
    assert!(!d.contains("dhcp-host="), "{d}");
    assert!(d.contains("dhcp-mac=set:netroot-plain,"), "{d}");
    for l in d.lines().filter(|l| l.starts_with("dhcp-boot=")) {
        assert!(l.ends_with(",,192.0.2.1"), "{l}");
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("dnsmasq.conf");
    std::fs::write(&conf, d).unwrap();
    if let Ok(o) = std::process::Command::new("dnsmasq")
        .arg("--test")
        .arg("-C")
        .arg(&conf)
        .output()
    {
        assert!(
            o.status.success(),
            "dnsmasq --test: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A range or root-path boot cannot go with a proxy.
    let mut bad = opts.clone();
    bad.range = Some((Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 150)));
    let e = generate(&cl, &bad).unwrap_err().to_string();
    assert!(e.contains("--range and --dhcp-proxy"), "{e}");
    let mut bad = opts;
    bad.boot_method = BootMethod::RootPath;
    let plain: Vec<ClientSpec> = clients(false)
        .into_iter()
        .filter(|c| c.name == "plain")
        .collect();
    let e = generate(&plain, &bad).unwrap_err().to_string();
    assert!(e.contains("root-path and --dhcp-proxy"), "{e}");
}

/// Names the plan checks accept (no blanks, quotes, `$`, `#`, `;`,
/// braces) may still hold characters the shell treats specially: the
/// scripts quote every user string.
#[test]
fn scripts_quote_every_user_string() {
    let mut c = iscsi(
        "odd",
        "52:54:00:00:00:09",
        Firmware::Uefi,
        Iscsi {
            port: 3260,
            lun: 1,
            initiator: true,
            chap: 2,
            ip: None,
            dev: false,
        },
    );
    if let ExportSpec::Iscsi(i) = &mut c.export {
        i.iqn = "iqn.2024-01.org.example:a&b|c".into();
        i.initiator = Some("iqn.2024-01.org.example:x>y".into());
        let ch = i.chap.as_mut().unwrap();
        ch.username = "u`id`".into();
        ch.target.as_mut().unwrap().0 = "t(1)".into();
    }
    let opts = ServerOptions {
        subnet: Some(Subnet::parse("192.0.2.0/24").unwrap()),
        ..Default::default()
    };
    let files = generate(&[c], &opts).unwrap();
    let tgtadm = text(&files, "iscsi/tgtadm-odd.sh");
    for want in [
        "--targetname 'iqn.2024-01.org.example:a&b|c'\n",
        "--initiator-name 'iqn.2024-01.org.example:x>y'\n",
        "--op new --user 'u`id`' --password",
        "--op bind --tid \"$TID\" --user 'u`id`'\n",
        "--op new --user 't(1)' --password",
        "--user 't(1)' --outgoing\n",
    ] {
        assert!(tgtadm.contains(want), "{want:?} in {tgtadm}");
    }
    let lio = text(&files, "iscsi/targetcli-odd.sh");
    for want in [
        "targetcli /iscsi create 'iqn.2024-01.org.example:a&b|c'\n",
        "targetcli '/iscsi/iqn.2024-01.org.example:a&b|c/tpg1'/acls/'iqn.2024-01.org.example:x>y' set auth userid='u`id`' password=",
        "mutual_userid='t(1)' mutual_password=",
    ] {
        assert!(lio.contains(want), "{want:?} in {lio}");
    }
}

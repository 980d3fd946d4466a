//! Tests of the typed plan values: what each parser accepts, its canonical
//! text, and the one CHAP secret reader.

use super::*;

fn portal(s: &str) -> Result<String, String> {
    s.parse::<Portal>().map(|p| p.to_string())
}

#[test]
fn portals_accepted_and_normalised() {
    assert_eq!(portal("1.2.3.4").unwrap(), "1.2.3.4:3260");
    assert_eq!(portal("1.2.3.4:3261").unwrap(), "1.2.3.4:3261");
    assert_eq!(portal("[fd00::1]:3260").unwrap(), "[fd00::1]:3260");
    assert_eq!(portal("fd00::1").unwrap(), "[fd00::1]:3260");
    assert_eq!(portal("host.example:3260").unwrap(), "host.example:3260");
    let p: Portal = "[fd00::1]:99".parse().unwrap();
    assert_eq!(p.port(), 99);
    assert_eq!(p.host(), &PortalHost::V6("fd00::1".parse().unwrap()));
    assert_eq!(p.host().addr(), "fd00::1");
}

#[test]
fn portals_rejected() {
    for bad in [
        "",
        "999.1.1.1:3260",
        "1.2.3.4:0",
        "1.2.3.4:99999",
        "h:x",
        ":3260",
        "[fd00::1",
        "[fd00::1]x",
        "a b",
        "h\"x",
        "fd00::zz",
    ] {
        let e = portal(bad).unwrap_err();
        assert!(e.contains("is not a portal"), "{bad}: {e}");
    }
}

/// The assertions of transport::iscsi's former `normalize_portal` test.
#[test]
fn iscsiadm_form() {
    assert_eq!(portal("10.0.2.2").unwrap(), "10.0.2.2:3260");
    assert_eq!(portal("10.0.2.2:3261").unwrap(), "10.0.2.2:3261");
    assert_eq!(portal("[fd00::1]").unwrap(), "[fd00::1]:3260");
    assert_eq!(portal("[fd00::1]:99").unwrap(), "[fd00::1]:99");
    assert_eq!(portal("fd00::1").unwrap(), "[fd00::1]:3260");
    assert_eq!(portal("san.example").unwrap(), "san.example:3260");
    for bad in ["", "h:x", ":3260", "[fd00::1", "h:99999"] {
        assert!(portal(bad).is_err(), "{bad}");
    }
}

#[test]
fn macs() {
    let m: Mac = "52-54-00-AB-CD-EF".parse().unwrap();
    assert_eq!(m.as_str(), "52:54:00:ab:cd:ef");
    assert_eq!(m.octets(), [0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
    // The compact and dotted forms the server always read.
    assert_eq!(
        "525400123456".parse::<Mac>().unwrap().as_str(),
        "52:54:00:12:34:56"
    );
    assert_eq!(
        "5254.0012.3456".parse::<Mac>().unwrap().as_str(),
        "52:54:00:12:34:56"
    );
    for bad in [
        "52:54:00:12:34",
        "zz:54:00:12:34:56",
        "52:54-00:12:34:56",
        "",
    ] {
        assert!(bad.parse::<Mac>().is_err(), "{bad}");
    }
}

#[test]
fn interfaces() {
    assert!(matches!("ens3".parse(), Ok(Interface::Name(_))));
    assert!(matches!("52:54:00:12:34:56".parse(), Ok(Interface::Mac(_))));
    for bad in ["a/b", "this-name-is-too-long", "", "e\"th0", "eth$0", "a b"] {
        let e = bad.parse::<Interface>().unwrap_err();
        assert!(e.contains("interface name or MAC"), "{bad}: {e}");
    }
}

#[test]
fn cidrs() {
    let c: Cidr = "192.0.2.10/24".parse().unwrap();
    assert_eq!(c.prefix(), 24);
    assert_eq!(c.netmask(), Some("255.255.255.0".parse().unwrap()));
    assert_eq!(c.to_string(), "192.0.2.10/24");
    let c: Cidr = "fd00::5/64".parse().unwrap();
    assert_eq!(c.netmask(), None);
    assert_eq!(
        "10.0.0.1/0".parse::<Cidr>().unwrap().netmask().unwrap(),
        Ipv4Addr::UNSPECIFIED
    );
    for bad in [
        "10.0.0.1",
        "10.0.0.1/33",
        "fd00::1/129",
        "10.0.0.1/",
        "x/24",
        "10.0.0.1/+8",
    ] {
        let e = bad.parse::<Cidr>().unwrap_err();
        assert!(e.contains("ADDRESS/PREFIX"), "{bad}: {e}");
    }
}

#[test]
fn iqns() {
    for ok in [
        "iqn.2024-01.org.example:c1",
        "iqn.2024-01.org.example",
        "eui.0123456789abcdef",
        "naa.0123456789ABCDEF",
    ] {
        assert!(ok.parse::<Iqn>().is_ok(), "{ok}");
    }
    for bad in [
        "iqn.2024.example",
        "IQN.2024-01.org.example:X",
        "iqn.2024-01.org.example:A",
        "iqn.2024-01.org.example:a\"b",
        "iqn.2024-01.org.example:a;b",
        "iqn.2024-01.org.example:a$b",
        "iqn.2024-01.org.example:a b",
        "client1",
        "eui.0123",
    ] {
        let e = bad.parse::<Iqn>().unwrap_err();
        assert!(e.contains("iSCSI name"), "{bad}: {e}");
    }
}

#[test]
fn hostnames() {
    assert!("client1".parse::<Hostname>().is_ok());
    assert!("a.b-c.example".parse::<Hostname>().is_ok());
    for bad in ["bad_host!", "", "-a", "a..b", "a'b"] {
        assert!(bad.parse::<Hostname>().is_err(), "{bad}");
    }
}

#[test]
fn serde_goes_through_the_parser() {
    let p: Portal = serde_json::from_str("\"fd00::1\"").unwrap();
    assert_eq!(serde_json::to_string(&p).unwrap(), "\"[fd00::1]:3260\"");
    let e = serde_json::from_str::<Portal>("\"999.1.1.1:3260\"").unwrap_err();
    assert!(e.to_string().contains("is not a portal"), "{e}");
    let s: SecretFile = serde_json::from_str("\"/etc/s\"").unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"/etc/s\"");
    assert!(serde_json::from_str::<SecretFile>("\"s.txt\"").is_err());
}

#[test]
fn secret_files() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("s");
    let sf: SecretFile = f.to_str().unwrap().parse().unwrap();
    // The assertions of transport::iscsi's former reader test.
    std::fs::write(&f, "abcdefghijkl\n").unwrap();
    assert_eq!(sf.read("x").unwrap(), "abcdefghijkl");
    std::fs::write(&f, "\n").unwrap();
    let e = sf.read("target.chap.secret_file").unwrap_err().to_string();
    assert!(
        e.contains("target.chap.secret_file") && e.contains("is empty"),
        "{e}"
    );
    // The assertions of the server's reader test.
    std::fs::write(&f, "short\n").unwrap();
    let e = sf.read("x").unwrap_err().to_string();
    assert!(e.contains("12 to 16") && !e.contains("short"), "{e}");
    std::fs::write(&f, "has a blank 1234\n").unwrap();
    let e = sf.read("x").unwrap_err().to_string();
    assert!(!e.contains("blank 1234"), "{e}");
    std::fs::write(&f, "Sup3r-Secret-42\n").unwrap();
    assert_eq!(sf.read("x").unwrap(), "Sup3r-Secret-42");
    std::fs::write(&f, "Sup3r-Secret-42\r\n").unwrap();
    assert_eq!(sf.read("x").unwrap(), "Sup3r-Secret-42");
    // What the initramfs's netroot=iscsi:USER:SECRET@ argument cannot hold.
    for bad in [
        "secret:secret1",
        "secret@secret1",
        "secret'secret1",
        "two\nlines12345",
    ] {
        std::fs::write(&f, format!("{bad}\n")).unwrap();
        let e = sf.read("target.chap.secret_file").unwrap_err().to_string();
        assert!(
            e.contains("target.chap.secret_file") && !e.contains(bad),
            "{e}"
        );
    }
    let missing: SecretFile = t.path().join("none").to_str().unwrap().parse().unwrap();
    let e = missing
        .read("target.chap.target_secret_file")
        .unwrap_err()
        .to_string();
    assert!(e.contains("target.chap.target_secret_file"), "{e}");
    let dir: SecretFile = t.path().to_str().unwrap().parse().unwrap();
    let e = dir.read("f").unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
}

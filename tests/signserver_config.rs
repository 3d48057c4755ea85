//! `[signserver]` keys: defaults, and every bad value refused with one line naming the file,
//! the line and the key; the worker refuses TLS files it cannot use, naming them.

use ppsd::config::{parse, SignServerSection};
use ppsd::publish::signserver::worker::SignServerPublisher;

fn err(text: &str) -> String {
    parse("ppsd.toml", text).unwrap_err().to_string()
}

const ON: &str = "[signserver]\nendpoint = \"http://localhost:8080/signserver/process\"\n";

#[test]
fn defaults_follow_timemonitor() {
    let s = parse("ppsd.toml", "").unwrap().signserver;
    assert_eq!(s.endpoint, "", "off unless configured");
    assert_eq!(s.worker_name, "StatusPropertiesWorker");
    assert_eq!(s.insync_property, "TIMESOURCE0_INSYNC");
    assert_eq!(s.leap_property, "LEAPSECOND");
    assert_eq!(
        (
            s.interval_ms,
            s.status_expire_ms,
            s.leap_expire_ms,
            s.timeout_ms
        ),
        (250, 900, 60_000, 400)
    );
    assert!(s.ca_file.is_none() && s.client_cert.is_none() && s.client_key.is_none());
    let on = parse("ppsd.toml", ON).unwrap().signserver;
    assert_eq!(on.endpoint, "http://localhost:8080/signserver/process");
}

#[test]
fn bad_values_name_file_line_and_key() {
    let cases = [
        ("endpoint = \"localhost:8080\"\n", "signserver.endpoint", 2),
        ("endpoint = \"http:///x\"\n", "signserver.endpoint", 2),
        ("endpoint = \"http://a b/\"\n", "signserver.endpoint", 2),
    ];
    for (body, key, line) in cases {
        let e = err(&format!("[signserver]\n{body}"));
        assert!(e.starts_with(&format!("ppsd.toml:{line}: {key}: ")), "{e}");
    }
    let cases = [
        ("worker_name = \"\"\n", "signserver.worker_name"),
        ("worker_name = \"a\\nb\"\n", "signserver.worker_name"),
        (
            "insync_property = \"TIME SOURCE\"\n",
            "signserver.insync_property",
        ),
        ("leap_property = \"LEAP=1\"\n", "signserver.leap_property"),
        (
            "leap_property = \"TIMESOURCE0_INSYNC\"\n",
            "signserver.leap_property",
        ),
        ("interval_ms = 10\n", "signserver.interval_ms"),
        ("status_expire_ms = 50\n", "signserver.status_expire_ms"),
        ("leap_expire_ms = 100\n", "signserver.leap_expire_ms"),
        ("timeout_ms = 0\n", "signserver.timeout_ms"),
        ("timeout_ms = 900\n", "signserver.timeout_ms"),
        ("interval_ms = 900\n", "signserver.interval_ms"),
        ("ca_file = \"/etc/ca.pem\"\n", "signserver.ca_file"),
        ("client_cert = \"/etc/c.pem\"\n", "signserver.client_cert"),
    ];
    for (body, key) in cases {
        let e = err(&format!("{ON}{body}"));
        assert!(
            e.starts_with(&format!("ppsd.toml:3: {key}: ")),
            "{body}: {e}"
        );
    }
    let https = "[signserver]\nendpoint = \"https://tsa.example:8443/signserver/process\"\n";
    let e = err(&format!("{https}client_cert = \"/c.pem\"\n"));
    assert!(
        e.starts_with("ppsd.toml:3: signserver.client_cert: "),
        "{e}"
    );
    let e = err(&format!("{https}client_key = \"/k.pem\"\n"));
    assert!(e.starts_with("ppsd.toml:3: signserver.client_key: "), "{e}");
    let ok = format!(
        "{https}ca_file = \"/ca.pem\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\n"
    );
    parse("ppsd.toml", &ok).unwrap();
}

#[test]
fn unusable_tls_files_are_named() {
    let dir = std::env::temp_dir().join(format!("ppsd-ss-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let base = SignServerSection {
        endpoint: "https://127.0.0.1:1/signserver/process".into(),
        ..SignServerSection::default()
    };
    let missing = SignServerSection {
        ca_file: Some(dir.join("missing.pem")),
        ..base.clone()
    };
    let e = SignServerPublisher::start(&missing).err().expect("refused");
    assert!(
        e.starts_with("signserver.ca_file ") && e.contains("missing.pem"),
        "{e}"
    );
    let none = SignServerSection {
        ca_file: Some(empty.clone()),
        ..base.clone()
    };
    let e = SignServerPublisher::start(&none).err().expect("refused");
    assert!(
        e.contains("empty.pem") && e.contains("no certificate"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

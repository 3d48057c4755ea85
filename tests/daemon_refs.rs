//! The daemon's reference glue (`ppsd::daemon::refs`) against a real chronyd on loopback: an
//! NTP source and an NTS source (key exchange on its worker thread, then an authenticated
//! query) both yield time-of-day samples through the same non-blocking service calls the clock
//! loop makes, registered with a mio poller.
//!
//! chronyd runs as a server only (`-x`: it never touches the clock), on free loopback ports,
//! with a certificate made for the test. The host clock is only read.

mod ref_util;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use ppsd::config::{ReferenceKind, ReferenceSection};
use ppsd::daemon::refs::{RefOutcome, References};
use ref_util::{free_tcp_port, free_udp_port, require_binary, test_pki, ServerGuard, TempDir};

#[test]
fn ntp_and_nts_sources_yield_samples_without_blocking_the_loop() {
    let chronyd = require_binary("chronyd", "chrony");
    let dir = TempDir::new("ppsd-daemon-refs");
    let pki = test_pki(dir.path(), "nts");
    let ntp_port = free_udp_port();
    let ke_port = free_tcp_port();
    let d = dir.path().display();
    let conf = format!(
        "port {ntp_port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 1\n\
         ntsport {ke_port}\nntsprocesses 0\nntsserverkey {key}\nntsservercert {cert}\n\
         cmdport 0\nbindcmdaddress /\npidfile {d}/chronyd.pid\n",
        key = pki.key.display(),
        cert = pki.cert.display(),
    );
    let conf_path = dir.path().join("chrony.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(chronyd);
    cmd.args(["-x", "-4", "-d", "-f"]).arg(&conf_path);
    let mut server = ServerGuard::spawn("chronyd", cmd, dir.path().join("chronyd.log"));

    let sources = [
        ReferenceSection {
            kind: ReferenceKind::Ntp,
            address: SocketAddr::from(([127, 0, 0, 1], ntp_port)).to_string(),
            interval_s: 1,
            timeout_ms: 500,
            ..ReferenceSection::default()
        },
        ReferenceSection {
            kind: ReferenceKind::Nts,
            address: format!("127.0.0.1:{ke_port}"),
            interval_s: 1,
            timeout_ms: 500,
            ca_file: Some(pki.ca.clone()),
            ..ReferenceSection::default()
        },
    ];
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    let mut refs = References::new(&sources, Instant::now());
    let mut out = Vec::new();
    let (mut ntp, mut nts, mut problems) = (0, 0, Vec::new());
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end && (ntp < 2 || nts < 2) {
        server.assert_running();
        let wait = refs
            .next_due()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(100));
        poll.poll(&mut events, Some(wait)).unwrap();
        refs.service(Instant::now(), poll.registry(), &mut out);
        for o in out.drain(..) {
            match o {
                RefOutcome::Sample(s, name) => {
                    assert!(s.offset_ns.abs() < 10_000_000, "{name}: {} ns", s.offset_ns);
                    if name.starts_with("ntp:") {
                        ntp += 1;
                    } else if name.starts_with("nts:") {
                        nts += 1;
                    }
                }
                RefOutcome::Problem(p) => problems.push(p),
            }
        }
    }
    assert!(
        ntp >= 2 && nts >= 2,
        "ntp {ntp}, nts {nts}, problems {problems:?}\n{}",
        server.log()
    );
}

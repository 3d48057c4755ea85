//! ppsd's NTP and NTS clients against a real chronyd on loopback.
//!
//! chronyd runs as a server only: `-x` (it never touches the clock), `-4`, bound to
//! 127.0.0.1 on free non-default ports, `local stratum 1`, NTS-KE with a self-signed
//! certificate made for the test, and its own config, pid and key files in a temporary
//! directory. A guard stops it when the test ends, also on failure. The host clock is only
//! read. Offsets are measured between chronyd's view of CLOCK_REALTIME and ours, so they
//! must be tiny (< 10 ms); the figures are printed for the record.

mod ref_util;

use ppsd::reference::drive;
use ppsd::reference::ntp::NtpQuery;
use ppsd::reference::nts::ke::{key_exchange, spawn_key_exchange, KeConfig};
use ppsd::reference::nts::COOKIE_JAR_SIZE;
use ppsd::reference::{LeapIndicator, RefErrorKind, SourceKind, TodSample};
use ref_util::{test_pki, wait_for, Chrony, TempDir};
use std::time::Duration;

impl Chrony {
    /// Waits (up to 10 s) for chronyd to answer NTP as a synchronised server.
    fn wait_synchronised(&mut self) -> TodSample {
        let mut last = None;
        let got = wait_for(Duration::from_secs(10), || {
            self.server.assert_running();
            match drive::run(&mut NtpQuery::start(self.ntp, Duration::from_millis(500)).unwrap()) {
                Ok(s) => Some(s),
                Err(e) => {
                    last = Some(e.to_string());
                    None
                }
            }
        });
        got.unwrap_or_else(|| panic!("chronyd never answered: {last:?}\n{}", self.server.log()))
    }

    fn ke_config(&self) -> KeConfig {
        let mut cfg = KeConfig::new("127.0.0.1", self.ke_port);
        cfg.ca_file = Some(self.ca.clone());
        cfg
    }
}

fn assert_consistent_with_host(s: &TodSample) {
    assert!(
        s.offset_ns.abs() < 10_000_000,
        "offset {} ns against chronyd on this host",
        s.offset_ns
    );
    let delay = s.delay_ns.expect("network sample has a delay");
    assert!(
        (0..100_000_000).contains(&delay),
        "delay {delay} ns on loopback"
    );
    assert_eq!(
        s.leap,
        LeapIndicator::NoWarning,
        "no leap second is pending"
    );
    assert_eq!(s.stratum, 1, "local stratum 1");
}

#[test]
fn ntp_query_against_chronyd() {
    let mut chrony = Chrony::start();
    chrony.wait_synchronised();
    let s = drive::run(&mut NtpQuery::start(chrony.ntp, Duration::from_secs(2)).unwrap()).unwrap();
    assert_consistent_with_host(&s);
    assert_eq!(s.kind, SourceKind::Ntp);
    assert!(!s.authenticated, "plain NTP is never authenticated");
    println!(
        "chronyd NTP: offset {} ns, delay {} ns, stratum {}, refid {}, leap {:?}",
        s.offset_ns,
        s.delay_ns.unwrap(),
        s.stratum,
        s.reference_id,
        s.leap
    );
}

#[test]
fn nts_key_exchange_and_authenticated_queries_against_chronyd() {
    let mut chrony = Chrony::start();
    chrony.wait_synchronised();
    // As the daemon will: NTS-KE on a worker thread, the result collected with a bound.
    let mut session = spawn_key_exchange(chrony.ke_config())
        .recv_timeout(Duration::from_secs(10))
        .expect("NTS-KE worker answers within its timeout")
        .unwrap_or_else(|e| panic!("{e}\n{}", chrony.server.log()));
    // chronyd serves NTP on a non-default port, so NTS-KE must have negotiated it.
    assert_eq!(
        session.ntp_server(),
        chrony.ntp,
        "negotiated NTP server and port"
    );
    assert_eq!(session.cookies_left(), COOKIE_JAR_SIZE);
    for round in 0..3 {
        let answer = drive::run(&mut session.query(Duration::from_secs(2)).unwrap())
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", chrony.server.log()));
        assert!(
            !answer.cookies.is_empty(),
            "a verified reply carries fresh cookies"
        );
        let s = session.accept(answer);
        assert_eq!(
            session.cookies_left(),
            COOKIE_JAR_SIZE,
            "jar refilled after round {round}"
        );
        assert!(s.authenticated);
        assert_eq!(s.kind, SourceKind::Nts);
        assert_consistent_with_host(&s);
        println!(
            "chronyd NTS round {round}: offset {} ns, delay {} ns, stratum {}, refid {}, leap {:?}",
            s.offset_ns,
            s.delay_ns.unwrap(),
            s.stratum,
            s.reference_id,
            s.leap
        );
    }
}

#[test]
fn nts_ke_with_untrusted_certificate_is_refused() {
    let mut chrony = Chrony::start();
    chrony.wait_synchronised();
    // The system trust store does not hold the test's self-signed certificate.
    let mut cfg = chrony.ke_config();
    cfg.ca_file = None;
    let err = key_exchange(&cfg).unwrap_err();
    assert!(matches!(err.kind, RefErrorKind::Tls(_)), "{err}");
    let text = err.to_string();
    let want = format!(
        "nts:127.0.0.1:{}: TLS: server certificate refused: not signed by a trusted CA",
        chrony.ke_port
    );
    assert!(text.starts_with(&want), "{text}");
    assert!(!text.contains('\n'));
    println!("untrusted certificate: {text}");
    // A CA file holding a different certificate is refused too.
    let other = TempDir::new("ppsd-ref-other-ca");
    cfg.ca_file = Some(test_pki(other.path(), "other").ca);
    let err = key_exchange(&cfg).unwrap_err();
    assert!(matches!(err.kind, RefErrorKind::Tls(_)), "{err}");
}

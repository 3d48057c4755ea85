//! The SignServer client over HTTPS: a rustls server written here on 127.0.0.1, requiring a
//! client certificate from the test CA (`tests/data/signserver/`, made with openssl for these
//! tests only), receives the updates of a [`SignServerPublisher`] configured with that CA
//! and the client certificate. Without the client certificate, or trusting another CA, the
//! update fails and the report state says FAILED_TO_REPORT.
//!
//! Loopback only; every wait bounded; no clock is written (the state's times are made up).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ppsd::config::SignServerSection;
use ppsd::engine::{LeapState, Stamp, SyncState, TrustState};
use ppsd::publish::signserver::worker::SignServerPublisher;
use ppsd::publish::timemonitor::ReportState;
use ppsd::sys::clock::ClockId;
use ppsd::time::Timestamp;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/signserver")
        .join(name)
}

/// One request the server read: (client presented a certificate, body).
type Seen = Arc<Mutex<Vec<(bool, String)>>>;

/// An HTTPS server requiring client certificates from the test CA; returns its port.
fn serve(seen: Seen, stop: Arc<AtomicBool>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(data("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let chain: Vec<_> = CertificateDer::pem_file_iter(data("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(data("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            let Ok((tcp, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let (config, seen, stop) = (Arc::clone(&config), Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                tcp.set_nonblocking(false).unwrap();
                tcp.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let opened = Instant::now();
                while !stop.load(Ordering::Relaxed) && opened.elapsed() < Duration::from_secs(30) {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let body =
                                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                            buf.drain(..end + 4 + len);
                            let client =
                                tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
                            seen.lock().unwrap().push((client, body));
                            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                            if tls.write_all(reply).and_then(|()| tls.flush()).is_err() {
                                return;
                            }
                            continue;
                        }
                    }
                    match tls.read(&mut chunk) {
                        Ok(0) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    port
}

/// Starts a publisher with `section`, hands it one INSYNC state, and waits (≤ 10 s) for its
/// first result.
fn report_of(section: &SignServerSection) -> ReportState {
    let p = SignServerPublisher::start(section).expect("publisher");
    let mono = ClockId::Monotonic.now().as_ns();
    let at = Stamp {
        mono_ns: mono,
        real: Timestamp::new(1_767_268_800, 0),
    };
    let ts = TrustState {
        state: SyncState::InSync,
        leap: LeapState::None,
        bound_ns: 1_000,
        updated_mono_ns: mono,
        valid_until_mono_ns: mono + 60_000_000_000,
        ..TrustState::default()
    };
    p.publish(
        &ts,
        LeapState::None,
        at,
        mono,
        &"1767268800000,INSYNC,REPORTED,NONE,00000000,0,0,0,0",
    );
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = p.report(ClockId::Monotonic.now().as_ns()) {
            if r.attempts >= 1 {
                return r.state;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no attempt within 10 s");
}

#[test]
fn https_with_ca_and_client_certificate() {
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let port = serve(Arc::clone(&seen), Arc::clone(&stop));
    let base = SignServerSection {
        endpoint: format!("https://127.0.0.1:{port}/signserver/process"),
        ca_file: Some(data("ca.pem")),
        client_cert: Some(data("client.pem")),
        client_key: Some(data("client.key")),
        ..SignServerSection::default()
    };

    assert_eq!(report_of(&base), ReportState::Reported);
    let got = seen.lock().unwrap().clone();
    assert!(!got.is_empty());
    assert!(
        got.iter().all(|(client, _)| *client),
        "the client certificate was presented"
    );
    assert!(
        got[0].1.starts_with(
            "workerName=StatusPropertiesWorker&data=TIMESOURCE0_INSYNC.VALUE%3Dtrue%0A"
        ),
        "{}",
        got[0].1
    );

    // The server requires a client certificate: without one, no update gets through.
    let before = seen.lock().unwrap().len();
    let anonymous = SignServerSection {
        client_cert: None,
        client_key: None,
        ..base.clone()
    };
    assert_eq!(report_of(&anonymous), ReportState::FailedToReport);
    // Trusting another CA, the client refuses the server.
    let other = SignServerSection {
        ca_file: Some(data("other-ca.pem")),
        ..base.clone()
    };
    assert_eq!(report_of(&other), ReportState::FailedToReport);
    let after = seen.lock().unwrap().len();
    // The first publisher may have landed one more update before it was dropped.
    assert!(
        after <= before + 1,
        "{before} -> {after}: no update without the right TLS"
    );
    stop.store(true, Ordering::Relaxed);
}

//! The daemon's reference glue (`ppsd::daemon::refs`) against a real chronyd on loopback: an
//! NTP source and an NTS source (key exchange on its worker thread, then an authenticated
//! query) both yield time-of-day samples through the same non-blocking service calls the clock
//! loop makes, registered with a mio poller.
//!
//! chronyd runs as a server only (`-x`: it never touches the clock), on free loopback ports,
//! with a certificate made for the test. The host clock is only read.

mod ref_util;

use std::time::{Duration, Instant};

use ppsd::config::{ReferenceKind, ReferenceSection};
use ppsd::daemon::refs::{RefOutcome, References};
use ref_util::Chrony;

#[test]
fn ntp_and_nts_sources_yield_samples_without_blocking_the_loop() {
    let mut chrony = Chrony::start();
    let (ntp_addr, ke_port, server) = (chrony.ntp, chrony.ke_port, &mut chrony.server);

    let sources = [
        ReferenceSection {
            kind: ReferenceKind::Ntp,
            address: ntp_addr.to_string(),
            interval_s: 1,
            timeout_ms: 500,
            ..ReferenceSection::default()
        },
        ReferenceSection {
            kind: ReferenceKind::Nts,
            address: format!("127.0.0.1:{ke_port}"),
            interval_s: 1,
            timeout_ms: 500,
            ca_file: Some(chrony.ca.clone()),
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

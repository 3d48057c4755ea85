//! The SignServer client thread on its own, fed states by the test as the loop would: an
//! update goes out at once on a change of state (not at the next interval); a slow answer
//! gives REPORTED_BUT_EXPIRE_TIME_SHORT; any answer but 200 (204, a redirect) is
//! FAILED_TO_REPORT; a clean stop sends `false`. Loopback only; no clock is written.

mod signserver_util;

use std::time::{Duration, Instant};

use ppsd::config::SignServerSection;
use ppsd::engine::{LeapState, Stamp, SyncState, TrustState};
use ppsd::publish::signserver::worker::{Report, SignServerPublisher};
use ppsd::publish::timemonitor::ReportState;
use ppsd::sys::clock::ClockId;
use ppsd::time::Timestamp;
use signserver_util::{Mode, Server};

fn section(server: &Server, interval_ms: i64, timeout_ms: i64) -> SignServerSection {
    SignServerSection {
        endpoint: format!("http://127.0.0.1:{}/signserver/process", server.port),
        interval_ms,
        timeout_ms,
        ..SignServerSection::default()
    }
}

/// Hands `p` a state `state`, valid for 60 s, as published now.
fn publish(p: &SignServerPublisher, state: SyncState) {
    let mono = ClockId::Monotonic.now().as_ns();
    let at = Stamp {
        mono_ns: mono,
        real: Timestamp::new(1_767_268_800, 0),
    };
    let ts = TrustState {
        state,
        leap: LeapState::None,
        updated_mono_ns: mono,
        valid_until_mono_ns: mono + 60_000_000_000,
        ..TrustState::default()
    };
    let line = format!(
        "1767268800000,{},REPORTED,NONE,00000000,0,0,0,0",
        state.as_str()
    );
    p.publish(&ts, LeapState::None, at, mono, &line);
}

fn wait_report(p: &SignServerPublisher, attempts: u64) -> Report {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = p
            .report(ClockId::Monotonic.now().as_ns())
            .filter(|r| r.attempts >= attempts)
        {
            return r;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("fewer than {attempts} attempts within 10 s");
}

fn value_of(body: &[u8]) -> &'static str {
    let s = String::from_utf8_lossy(body);
    if s.contains("TIMESOURCE0_INSYNC.VALUE%3Dtrue") {
        "true"
    } else if s.contains("TIMESOURCE0_INSYNC.VALUE%3Dfalse") {
        "false"
    } else {
        panic!("no value in {s}")
    }
}

#[test]
fn a_change_goes_out_at_once_and_a_stop_sends_false() {
    let server = Server::start(Mode::Ok);
    // A 5 s interval: anything sooner than that was sent because the state changed.
    let p = SignServerPublisher::start(&section(&server, 5_000, 400)).unwrap();
    publish(&p, SyncState::InSync);
    assert_eq!(wait_report(&p, 1).state, ReportState::Reported);
    let changed = Instant::now();
    publish(&p, SyncState::OutOfSync);
    let r = wait_report(&p, 2);
    let took = changed.elapsed();
    assert_eq!(r.state, ReportState::Reported);
    assert!(
        took < Duration::from_secs(2),
        "the change went out after {took:?}"
    );
    // The same state again is not a change: nothing more until the interval.
    publish(&p, SyncState::OutOfSync);
    std::thread::sleep(Duration::from_millis(300));
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "one update per change");
    assert_eq!(value_of(&posts[0].body), "true");
    assert_eq!(value_of(&posts[1].body), "false");
    publish(&p, SyncState::InSync);
    wait_report(&p, 3);
    drop(p);
    let posts = server.posts();
    assert_eq!(posts.len(), 4, "the stop sent one last update");
    assert_eq!(value_of(&posts[3].body), "false");
}

#[test]
fn slow_answers_are_short_and_other_statuses_fail() {
    // Half the 900 ms expiry is 450 ms: a 600 ms answer leaves too little of it.
    let slow = Server::start(Mode::Slow(600));
    let p = SignServerPublisher::start(&section(&slow, 250, 800)).unwrap();
    publish(&p, SyncState::InSync);
    let r = wait_report(&p, 1);
    assert_eq!(r.state, ReportState::ReportedButExpireTimeShort, "{r:?}");
    assert!(r.took_ns >= 600_000_000, "{r:?}");
    drop(p);
    // A quick answer is REPORTED.
    let quick = Server::start(Mode::Slow(0));
    let p = SignServerPublisher::start(&section(&quick, 250, 800)).unwrap();
    publish(&p, SyncState::InSync);
    assert_eq!(wait_report(&p, 1).state, ReportState::Reported);
    drop(p);
    for code in [204, 302, 404] {
        let server = Server::start(Mode::Status(code));
        let p = SignServerPublisher::start(&section(&server, 250, 400)).unwrap();
        publish(&p, SyncState::InSync);
        let r = wait_report(&p, 2);
        assert_eq!(r.state, ReportState::FailedToReport, "{code}: {r:?}");
        assert_eq!(r.failures, r.attempts, "{code}");
        assert!(!server.posts().is_empty());
    }
}

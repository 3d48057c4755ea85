//! The clock side of the sys layer on the real kernel, read-only: clock_gettime, an adjtimex
//! read (modes 0), PHC open errors and the clock-change watch. Nothing here writes a clock.

use ppsd::io::{ClockState, DisciplinedClock};
use ppsd::sys::clock::{ClockId, PhcClock};
use ppsd::sys::timex::{SystemClock, TICK_RANGE_US};
use ppsd::sys::watch::{ClockWatch, ClockWatchEvent};

#[test]
fn adjtimex_read_returns_a_consistent_snapshot() {
    let mut clock = SystemClock::new();
    let before = ClockId::Realtime.now();
    let snap = clock
        .read()
        .expect("adjtimex with modes 0 needs no privilege");
    let after = clock.now().unwrap();
    // The snapshot's time was taken between the two reads (µs resolution without STA_NANO).
    assert!(
        snap.time.diff_ns(before) >= -1_000,
        "{:?} before {before:?}",
        snap.time
    );
    assert!(
        after.diff_ns(snap.time) >= -1_000,
        "{:?} after {after:?}",
        snap.time
    );
    assert!(
        TICK_RANGE_US.contains(&snap.tick_us),
        "tick {}",
        snap.tick_us
    );
    assert!(snap.maxerror_us >= 0 && snap.esterror_us >= 0);
    assert!(snap.freq.0.abs() <= ppsd::io::ScaledPpm::MAX.0);
    // TIME_ERROR must come with a reason the kernel reports in the status word.
    if snap.state == ClockState::Error {
        assert!(snap
            .status
            .intersects(ppsd::io::ClockStatus::UNSYNC | ppsd::io::ClockStatus::CLOCKERR));
    }
}

#[test]
fn tai_is_realtime_plus_the_kernel_tai_offset() {
    let mut clock = SystemClock::new();
    let tai_offset_ns = i64::from(clock.read().unwrap().tai_s) * 1_000_000_000;
    let real = ClockId::Realtime.now();
    let tai = ClockId::Tai.now();
    let skew = tai.diff_ns(real) - tai_offset_ns;
    assert!(skew.abs() < 100_000_000, "TAI - REALTIME - tai = {skew} ns");
}

#[test]
fn phc_open_rejects_what_is_not_a_ptp_clock() {
    let e = PhcClock::open("/dev/nonexistent-ptp").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/nonexistent-ptp: open: No such file or directory (os error 2)"
    );
    let e = PhcClock::open("/dev/null").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/null: clock_gettime: not a PTP clock device (EINVAL: Invalid argument)"
    );
    let e = PhcClock::open("/").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/: open: not a PTP clock device: a directory"
    );
}

#[test]
fn clock_watch_is_created_quiet_with_an_fd() {
    let watch = ClockWatch::new().unwrap();
    assert_eq!(watch.check().unwrap(), ClockWatchEvent::Quiet);
    assert_eq!(watch.check().unwrap(), ClockWatchEvent::Quiet);
    use std::os::unix::io::AsRawFd;
    assert!(watch.as_raw_fd() > 2, "a real fd for the event loop");
}

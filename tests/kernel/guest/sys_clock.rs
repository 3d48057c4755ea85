//! `kernel-guest sys`, clock half: `ppsd::sys::timex` writes and `ppsd::sys::watch` on the
//! guest's real kernel. The guest's CLOCK_REALTIME is its own, so this writes it freely; the
//! host's clock is never reached (the guest marker check in `main.rs` keeps it so).
//!
//! Verified here and nowhere else: frequency, tick, maximum and estimated error, TAI offset
//! and status written through adjtimex read back as written; a frequency write changes the
//! clock's rate against CLOCK_MONOTONIC_RAW by that much; the leap state machine enters
//! TIME_INS / TIME_DEL at the next second and reports TIME_ERROR under STA_UNSYNC; an
//! `ADJ_SETOFFSET` step, positive and negative, moves the clock by exactly that; and the
//! clock-change timerfd stays quiet through all those slews and writes but reports each step,
//! whether ppsd's own, another process's settimeofday(2), or busybox `date -s`
//! (clock_settime(2)).

use crate::report::{ensure, us, Report};
use ppsd::io::{ClockState, ClockStatus, ClockWrite, DisciplinedClock, ScaledPpm};
use ppsd::sys::clock::ClockId;
use ppsd::sys::timex::SystemClock;
use ppsd::sys::watch::{ClockWatch, ClockWatchEvent};
use ppsd::time::NANOS_PER_SEC;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs the clock checks; `settod` is the settimeofday(2) helper.
pub fn run(r: &mut Report, settod: &Path) {
    let mut clock = SystemClock::new();
    let watch = match ClockWatch::new() {
        Ok(w) => w,
        Err(e) => return r.check("watch.quiet", Err(e.to_string())),
    };
    r.check("watch.quiet", expect_watch(&watch, ClockWatchEvent::Quiet));
    match clock.read() {
        Ok(s) => r.note(&format!("guest clock at start: {s:?}")),
        Err(e) => return r.check("clock.read", Err(e.to_string())),
    }
    r.check("clock.freq", freq(&mut clock));
    r.check("clock.freq_effect", freq_effect(&mut clock));
    r.check("clock.tick", tick(&mut clock));
    r.check("clock.errors", errors(&mut clock));
    r.check("clock.tai", tai(&mut clock));
    r.check(
        "clock.status_ins",
        leap_status(&mut clock, ClockStatus::INS, ClockState::Ins),
    );
    r.check(
        "clock.status_del",
        leap_status(&mut clock, ClockStatus::DEL, ClockState::Del),
    );
    r.check("clock.status_unsync", unsync(&mut clock));
    r.check(
        "watch.quiet_after_writes",
        expect_watch(&watch, ClockWatchEvent::Quiet)
            .map(|d| format!("{d} after frequency, tick, error, TAI and status writes")),
    );
    for (name, delta_ns) in [
        ("clock.step", 2_500_000_000),
        ("clock.step_negative", -1_250_000_000),
    ] {
        r.check(name, step(&mut clock, delta_ns));
        r.check(&name.replace("clock.", "watch."), watch_fired(&watch));
    }
    r.check(
        "clock.settimeofday",
        foreign(settod, &["3000".to_owned()], 3 * NANOS_PER_SEC, 20_000_000),
    );
    r.check("watch.settimeofday", watch_fired(&watch));
    let to = ClockId::Realtime.now().sec() + 100;
    r.check(
        "clock.date_s",
        foreign(
            Path::new("date"),
            &["-s".to_owned(), format!("@{to}")],
            100 * NANOS_PER_SEC,
            NANOS_PER_SEC,
        ),
    );
    r.check("watch.clock_settime", watch_fired(&watch));
}

fn expect_watch(watch: &ClockWatch, want: ClockWatchEvent) -> Result<String, String> {
    match watch.check() {
        Ok(got) if got == want => Ok(format!("watch reports {got:?}")),
        Ok(got) => Err(format!("watch reports {got:?}, want {want:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The watch must report the change once, then be quiet again (re-armed).
fn watch_fired(watch: &ClockWatch) -> Result<String, String> {
    expect_watch(watch, ClockWatchEvent::ClockChanged)?;
    expect_watch(watch, ClockWatchEvent::Quiet)?;
    Ok("ECANCELED seen once, then quiet (re-armed)".into())
}

fn write(clock: &mut SystemClock, w: ClockWrite) -> Result<ppsd::io::ClockSnapshot, String> {
    clock.write(&w).map_err(|e| e.to_string())
}

fn freq(clock: &mut SystemClock) -> Result<String, String> {
    let mut seen = Vec::new();
    for want in [
        ScaledPpm(819_200),
        ScaledPpm::from_ppb(-123_456.0),
        ScaledPpm(0),
    ] {
        let after = write(
            clock,
            ClockWrite {
                freq: Some(want),
                ..ClockWrite::default()
            },
        )?;
        let read = clock.read().map_err(|e| e.to_string())?;
        ensure(after.freq == want && read.freq == want, || {
            format!(
                "wrote {want:?}, call returned {:?}, read {:?}",
                after.freq, read.freq
            )
        })?;
        seen.push(format!("{:.3} ppm", want.to_ppb() / 1_000.0));
    }
    Ok(format!("read back exactly: {}", seen.join(", ")))
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC_RAW in ns, from the read pair with the smallest gap.
fn rt_minus_raw() -> (i64, i64) {
    (0..8)
        .map(|_| {
            let raw0 = ClockId::MonotonicRaw.now().as_ns();
            let rt = ClockId::Realtime.now().as_ns();
            let raw1 = ClockId::MonotonicRaw.now().as_ns();
            (raw1 - raw0, rt - raw0 - (raw1 - raw0) / 2)
        })
        .min()
        .map_or((0, 0), |(gap, d)| (d, gap))
}

fn freq_effect(clock: &mut SystemClock) -> Result<String, String> {
    const PPM: i64 = 400;
    write(
        clock,
        ClockWrite {
            freq: Some(ScaledPpm(PPM << 16)),
            ..ClockWrite::default()
        },
    )?;
    let (d0, gap0) = rt_minus_raw();
    let raw0 = ClockId::MonotonicRaw.now().as_ns();
    std::thread::sleep(Duration::from_secs(2));
    let (d1, gap1) = rt_minus_raw();
    let span = ClockId::MonotonicRaw.now().as_ns() - raw0;
    write(
        clock,
        ClockWrite {
            freq: Some(ScaledPpm(0)),
            ..ClockWrite::default()
        },
    )?;
    let ppm = (d1 - d0) as f64 / span as f64 * 1e6;
    ensure((ppm - PPM as f64).abs() <= 40.0, || {
        format!(
            "rate {ppm:.1} ppm against the raw clock with +{PPM} ppm set (read gaps {} / {})",
            us(gap0),
            us(gap1)
        )
    })?;
    Ok(format!(
        "+{PPM} ppm set: realtime ran {ppm:+.1} ppm against the raw clock over {:.1} s",
        span as f64 / 1e9
    ))
}

fn tick(clock: &mut SystemClock) -> Result<String, String> {
    for want in [10_001, 10_000] {
        let after = write(
            clock,
            ClockWrite {
                tick_us: Some(want),
                ..ClockWrite::default()
            },
        )?;
        ensure(after.tick_us == want, || {
            format!("tick {want} read back {}", after.tick_us)
        })?;
    }
    Ok("tick 10001 then 10000 µs read back".into())
}

fn errors(clock: &mut SystemClock) -> Result<String, String> {
    let w = ClockWrite {
        maxerror_us: Some(1_234),
        esterror_us: Some(56),
        ..ClockWrite::default()
    };
    write(clock, w)?;
    let s = clock.read().map_err(|e| e.to_string())?;
    // The kernel adds 500 µs to maxerror each second; the read follows the write at once.
    ensure(
        s.esterror_us == 56 && (1_234..=2_234).contains(&s.maxerror_us),
        || {
            format!(
                "maxerror {} µs, esterror {} µs after writing 1234 / 56",
                s.maxerror_us, s.esterror_us
            )
        },
    )?;
    Ok(format!(
        "maxerror {} µs, esterror {} µs",
        s.maxerror_us, s.esterror_us
    ))
}

fn tai(clock: &mut SystemClock) -> Result<String, String> {
    write(
        clock,
        ClockWrite {
            tai_s: Some(37),
            ..ClockWrite::default()
        },
    )?;
    let s = clock.read().map_err(|e| e.to_string())?;
    let skew = ClockId::Tai.now().diff_ns(ClockId::Realtime.now()) - 37 * NANOS_PER_SEC;
    ensure(s.tai_s == 37 && skew.abs() < 10_000_000, || {
        format!(
            "tai {} s read back, CLOCK_TAI − CLOCK_REALTIME − 37 s = {}",
            s.tai_s,
            us(skew)
        )
    })?;
    Ok(format!(
        "tai 37 s read back; CLOCK_TAI − CLOCK_REALTIME = 37 s {:+.1} µs",
        skew as f64 / 1e3
    ))
}

/// Sets a leap bit with STA_UNSYNC clear and waits (up to 5 s) for the kernel's state machine
/// to enter `want` at a second boundary (two boundaries from TIME_INS to TIME_DEL: back to
/// TIME_OK first). Waits out the last 10 s of a UTC day first, so no
/// leap second is really applied.
fn leap_status(
    clock: &mut SystemClock,
    bit: ClockStatus,
    want: ClockState,
) -> Result<String, String> {
    let into_day = ClockId::Realtime.now().sec().rem_euclid(86_400);
    if into_day >= 86_390 {
        std::thread::sleep(Duration::from_secs((86_402 - into_day) as u64));
    }
    let w = ClockWrite {
        status: Some(bit),
        maxerror_us: Some(1_000),
        ..ClockWrite::default()
    };
    let first = write(clock, w)?;
    for tenth in 1..=50 {
        std::thread::sleep(Duration::from_millis(100));
        let s = clock.read().map_err(|e| e.to_string())?;
        if s.state == want {
            ensure(
                s.status.contains(bit) && !s.status.contains(ClockStatus::UNSYNC),
                || format!("state {want:?} with status {:?}", s.status),
            )?;
            return Ok(format!(
                "state {:?} at the write, {want:?} {} ms later",
                first.state,
                tenth * 100
            ));
        }
    }
    Err(format!(
        "state never became {want:?} within 3 s of setting {bit:?}"
    ))
}

fn unsync(clock: &mut SystemClock) -> Result<String, String> {
    let s = write(
        clock,
        ClockWrite {
            status: Some(ClockStatus::UNSYNC),
            ..ClockWrite::default()
        },
    )?;
    ensure(
        s.state == ClockState::Error
            && s.status.contains(ClockStatus::UNSYNC)
            && !s.status.intersects(ClockStatus::INS | ClockStatus::DEL),
        || {
            format!(
                "after writing STA_UNSYNC: state {:?}, status {:?}",
                s.state, s.status
            )
        },
    )?;
    Ok("STA_UNSYNC set, leap bits cleared: adjtimex returns TIME_ERROR".into())
}

fn step(clock: &mut SystemClock, delta_ns: i64) -> Result<String, String> {
    let (d0, _) = rt_minus_raw();
    clock.step(delta_ns).map_err(|e| e.to_string())?;
    let (d1, _) = rt_minus_raw();
    let error = d1 - d0 - delta_ns;
    ensure(error.abs() <= 2_000_000, || {
        format!("stepped {delta_ns} ns, clock moved {} ns", d1 - d0)
    })?;
    Ok(format!(
        "ADJ_SETOFFSET {delta_ns:+} ns moved the clock by that, error {:+.1} µs",
        error as f64 / 1e3
    ))
}

/// Runs `program args` (another process setting the clock) and checks the clock moved by
/// `delta_ns` within `tolerance_ns`.
fn foreign(
    program: &Path,
    args: &[String],
    delta_ns: i64,
    tolerance_ns: i64,
) -> Result<String, String> {
    let (d0, _) = rt_minus_raw();
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let (d1, _) = rt_minus_raw();
    let shown = format!("{} {}", program.display(), args.join(" "));
    ensure(out.status.success(), || {
        format!(
            "`{shown}` failed: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let moved = d1 - d0;
    ensure((moved - delta_ns).abs() <= tolerance_ns, || {
        format!("`{shown}` moved the clock {moved} ns")
    })?;
    Ok(format!(
        "`{shown}` moved the clock {:+.3} s",
        moved as f64 / 1e9
    ))
}

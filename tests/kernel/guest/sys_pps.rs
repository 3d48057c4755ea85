//! `kernel-guest sys`, PPS half: `ppsd::sys::pps` on the guest's real `/dev/pps0`
//! (`pps_parport`), with pulses fired in-process through the parallel port so every event's
//! cause and time are known.
//!
//! What only a real kernel can show: `PPS_FETCH` with timeout 0 returns the latest event at
//! once, new or not; with a timeout, or none, it waits for the next event and returns it, or
//! fails with a timeout after waiting; `PPS_SETPARAMS` offsets (positive and negative) are read
//! back and applied by the kernel to the timestamps; `PPS_KC_BIND` answers as the kernel's
//! configuration says. Nothing here runs without the guest marker (see `main.rs`); it leaves
//! the device's settings as it found them (plus the mode bits the kernel adds, see
//! [`restore`]).

use crate::port::{Fired, ParallelPort};
use crate::report::{ensure, us, Report};
use ppsd::io::{DeviceErrorCause, Edge, PpsFetch};
use ppsd::sys::clock::ClockId;
use ppsd::sys::pps::{PpsDevice, PpsMode, PpsParams};
use std::path::Path;
use std::time::Duration;

/// Largest time from the port write to the kernel's timestamp accepted here. Stamps land about
/// 3.5 µs after the write on icount guest time and 35–220 µs on plain TCG, but a busy host
/// can deschedule a plain-TCG guest between the clock read and the write for milliseconds
/// (12 ms seen): this scenario checks the API, not latency (the probe scenario bounds that).
const MAX_LATENCY_NS: i64 = 50_000_000;
/// Assert offset set through `PPS_SETPARAMS` to see the kernel apply it; twice
/// [`MAX_LATENCY_NS`], so a stamp with the offset cannot pass for one without.
const OFFSET_NS: i64 = 100_000_000;

/// Runs the PPS checks on `path`.
pub fn run(r: &mut Report, path: &Path, port: &ParallelPort, ntp_pps: bool) {
    let dev = match PpsDevice::open(path) {
        Ok(dev) => dev,
        Err(e) => return r.check("pps.open", Err(e.to_string())),
    };
    let need = PpsMode::CAPTUREASSERT | PpsMode::CANWAIT | PpsMode::TSFMT_TSPEC;
    let caps = dev.capabilities();
    r.check(
        "pps.open",
        ensure(caps.contains(need), || {
            format!("capabilities {}", caps.names())
        })
        .map(|()| format!("capabilities {:#x}: {}", caps.bits(), caps.names())),
    );
    let original = match dev.params() {
        Ok(p) => p,
        Err(e) => return r.check("pps.getparams", Err(e.to_string())),
    };
    r.check(
        "pps.getparams",
        ensure(
            original.api_version == 1 && original.mode.contains(PpsMode::CAPTUREASSERT),
            || format!("{original:?}"),
        )
        .map(|()| {
            format!(
                "api {} mode {}",
                original.api_version,
                original.mode.names()
            )
        }),
    );
    if let Err(e) = fetch_checks(r, &dev, port) {
        r.check("pps.fetch", Err(e));
    }
    for (name, offset) in [
        ("pps.offset_positive", OFFSET_NS),
        ("pps.offset_negative", -OFFSET_NS),
    ] {
        r.check(name, offset_case(&dev, port, &original, offset));
    }
    r.check("pps.restore", restore(&dev, port, &original));
    r.check("pps.kc_bind", kc_bind(&dev, ntp_pps));
    crate::pps_poll::run(r, &dev, port);
    match dev.fetch(Some(Duration::ZERO)) {
        Ok(f) => r.note(&format!(
            "after the PPS checks: assert seq {}, clear seq {}",
            f.assert_seq, f.clear_seq
        )),
        Err(e) => r.check("pps.final_fetch", Err(e.to_string())),
    }
}

/// Fires a pulse and returns it with the first fetch (timeout 0) that shows it, polled for up
/// to 100 ms in case the interrupt is taken after the write returns.
fn fire_and_fetch(
    dev: &PpsDevice,
    port: &ParallelPort,
    after_seq: u32,
) -> Result<(Fired, PpsFetch), String> {
    let fired = port.fire()?;
    for _ in 0..50 {
        let f = dev.fetch(Some(Duration::ZERO)).map_err(|e| e.to_string())?;
        if f.assert_seq != after_seq {
            return Ok((fired, f));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(format!(
        "no assert event within 100 ms of the write (seq stays {after_seq})"
    ))
}

/// Checks that a fetched event is the next one and was stamped `offset_ns` plus at most
/// [`MAX_LATENCY_NS`] after the write; returns the latency without the offset.
fn is_next(f: &PpsFetch, seq: u32, fired: &Fired, offset_ns: i64) -> Result<i64, String> {
    ensure(f.assert_seq == seq.wrapping_add(1), || {
        format!("assert seq {} after {seq}, want one more", f.assert_seq)
    })?;
    let latency = f.assert.diff_ns(fired.rt_before) - offset_ns;
    ensure((0..=MAX_LATENCY_NS).contains(&latency), || {
        format!(
            "stamp {} is {} after the write (offset {} taken off), want 0..={}",
            f.assert,
            us(latency),
            us(offset_ns),
            us(MAX_LATENCY_NS)
        )
    })?;
    Ok(latency)
}

/// `PPS_FETCH` with timeout 0: the same latest event twice with no pulse between, then the
/// new one once a pulse fired. Returns the sequence number reached.
fn fetch_now(r: &mut Report, dev: &PpsDevice, port: &ParallelPort) -> Result<u32, String> {
    let zero = Some(Duration::ZERO);
    let a = dev.fetch(zero).map_err(|e| e.to_string())?;
    let b = dev.fetch(zero).map_err(|e| e.to_string())?;
    r.note(&format!(
        "before any pulse: assert seq {} at {} (the event of loading the driver)",
        a.assert_seq, a.assert
    ));
    r.check(
        "pps.fetch_now_unchanged",
        ensure(a == b, || {
            format!("two fetches, no pulse between, differ: {a:?} {b:?}")
        })
        .map(|()| {
            format!(
                "timeout 0 gave the latest event (seq {}) twice",
                a.assert_seq
            )
        }),
    );
    let (fired, c) = fire_and_fetch(dev, port, b.assert_seq)?;
    let latency = is_next(&c, b.assert_seq, &fired, 0);
    if let Ok(l) = latency {
        r.measure("sys.stamp_latency", l, "ns");
        let when = if c.assert <= fired.rt_after {
            "before"
        } else {
            "after"
        };
        r.note(&format!(
            "the stamp was taken {when} the port write returned"
        ));
    }
    r.check(
        "pps.fetch_now_new",
        latency.map(|l| format!("new event seq {}, {} after the write", c.assert_seq, us(l))),
    );
    Ok(c.assert_seq)
}

/// A fetch with `timeout` while another thread fires a pulse 300 ms into the wait must return
/// that pulse. Returns the sequence number reached.
fn fetch_waiting(
    r: &mut Report,
    name: &str,
    dev: &PpsDevice,
    port: &ParallelPort,
    seq: u32,
    timeout: Option<Duration>,
) -> Result<u32, String> {
    let started = ClockId::Monotonic.now();
    let (waited, fired) = std::thread::scope(|s| {
        let firing = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            port.fire()
        });
        (dev.fetch(timeout), firing.join())
    });
    let elapsed = ClockId::Monotonic.now().diff_ns(started);
    let fired = fired.map_err(|_| "firing thread panicked".to_owned())??;
    let waited = waited.map_err(|e| e.to_string())?;
    r.check(
        name,
        is_next(&waited, seq, &fired, 0).map(|l| {
            format!(
                "timeout {}: waited {} for the pulse fired 300 ms in, stamped {} after its \
                 write",
                timeout.map_or("none".to_owned(), |t| format!("{} ms", t.as_millis())),
                us(elapsed),
                us(l)
            )
        }),
    );
    Ok(waited.assert_seq)
}

/// With no pulse, a fetch with `timeout` must fail with a timeout after waiting at least
/// `at_least_ns`.
fn fetch_times_out(dev: &PpsDevice, timeout: Duration, at_least_ns: i64) -> Result<String, String> {
    let started = ClockId::Monotonic.now();
    let got = dev.fetch(Some(timeout));
    let elapsed = ClockId::Monotonic.now().diff_ns(started);
    match got {
        Err(e) if e.is_timeout() && elapsed >= at_least_ns => {
            Ok(format!("`{e}` after {}", us(elapsed)))
        }
        Err(e) if e.is_timeout() => Err(format!("timed out after only {}", us(elapsed))),
        Err(e) => Err(e.to_string()),
        Ok(f) => Err(format!("an event came with no pulse fired: {f:?}")),
    }
}

fn fetch_checks(r: &mut Report, dev: &PpsDevice, port: &ParallelPort) -> Result<(), String> {
    let seq = fetch_now(r, dev, port)?;
    let wait = Some(Duration::from_secs(3));
    let seq = fetch_waiting(r, "pps.fetch_wait", dev, port, seq, wait)?;
    fetch_waiting(r, "pps.fetch_forever", dev, port, seq, None)?;
    // The kernel waits whole jiffies (4 ms at HZ=250), rounding down.
    let timeout = fetch_times_out(dev, Duration::from_millis(400), 396_000_000);
    r.check("pps.fetch_timeout", timeout);
    // Below one jiffy the kernel would not wait at all; the wrapper raises it to 10 ms.
    let short = fetch_times_out(dev, Duration::from_millis(1), 4_000_000);
    r.check("pps.fetch_short_timeout", short);
    Ok(())
}

/// Sets an assert offset, reads it back, and sees the kernel add it to the next timestamp.
fn offset_case(
    dev: &PpsDevice,
    port: &ParallelPort,
    original: &PpsParams,
    offset_ns: i64,
) -> Result<String, String> {
    let want = PpsParams {
        mode: original.mode | PpsMode::OFFSETASSERT,
        assert_offset_ns: offset_ns,
        clear_offset_ns: -offset_ns / 7,
        ..*original
    };
    dev.set_params(&want).map_err(|e| e.to_string())?;
    let got = dev.params().map_err(|e| e.to_string())?;
    ensure(
        got.mode.contains(want.mode)
            && (got.assert_offset_ns, got.clear_offset_ns)
                == (want.assert_offset_ns, want.clear_offset_ns),
        || format!("set {want:?}, read back {got:?}"),
    )?;
    let before = dev.fetch(Some(Duration::ZERO)).map_err(|e| e.to_string())?;
    let (fired, f) = fire_and_fetch(dev, port, before.assert_seq)?;
    let latency = is_next(&f, before.assert_seq, &fired, offset_ns)?;
    Ok(format!(
        "offsets {:+} / {:+} ns read back; stamp = write + {} + {}",
        got.assert_offset_ns,
        got.clear_offset_ns,
        us(offset_ns),
        us(latency)
    ))
}

/// Puts the original settings back and sees timestamps without an offset again. The kernel
/// adds TSFMT_TSPEC (when no format is asked for) and CANWAIT (when the device can wait) to
/// any mode it is given, so a device's load-time mode may come back with those two bits.
fn restore(dev: &PpsDevice, port: &ParallelPort, original: &PpsParams) -> Result<String, String> {
    dev.set_params(original).map_err(|e| e.to_string())?;
    let got = dev.params().map_err(|e| e.to_string())?;
    let added = PpsMode::TSFMT_TSPEC | (dev.capabilities() & PpsMode::CANWAIT);
    let same = PpsParams {
        mode: got.mode - (added - original.mode),
        ..got
    };
    ensure(same == *original, || {
        format!("restored {original:?}, read back {got:?}")
    })?;
    let before = dev.fetch(Some(Duration::ZERO)).map_err(|e| e.to_string())?;
    let (fired, f) = fire_and_fetch(dev, port, before.assert_seq)?;
    let latency = is_next(&f, before.assert_seq, &fired, 0)?;
    Ok(format!(
        "read back as found, plus {} the kernel adds; stamp {} after the write",
        (got.mode - original.mode).names(),
        us(latency)
    ))
}

/// `PPS_KC_BIND` must be unsupported without CONFIG_NTP_PPS and work with it.
fn kc_bind(dev: &PpsDevice, ntp_pps: bool) -> Result<String, String> {
    let bound = dev.kc_bind(Some(Edge::Assert));
    match (bound, ntp_pps) {
        (Err(e), false) if matches!(e.cause, DeviceErrorCause::Unsupported(_)) => {
            Ok(format!("kernel without CONFIG_NTP_PPS: `{e}`"))
        }
        (Ok(()), true) => dev
            .kc_bind(None)
            .map(|()| "bound and unbound the assert edge to hardpps".into())
            .map_err(|e| format!("unbind: {e}")),
        (Err(e), _) => Err(format!("CONFIG_NTP_PPS={ntp_pps}: {e}")),
        (Ok(()), false) => Err("bound although the kernel lacks CONFIG_NTP_PPS".into()),
    }
}

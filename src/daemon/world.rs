//! What the loop drives: the clock it disciplines and the pulses it fetches, behind one trait
//! with two implementations. [`RealWorld`] is CLOCK_REALTIME through adjtimex, a kernel PPS
//! device and the clock-change timerfd; the simulated world (`sim_world.rs`) is ppsd's
//! simulated machine moved along in real time.
//!
//! A lost PPS device (unplugged: `PPS_FETCH` fails with `ENODEV` or similar) is closed,
//! reported once, and reopened once a second until it comes back; the loop keeps running,
//! hands the loss to the engine (`Input::DeviceLost`: OUT_OF_SYNC at once, reason
//! `device_lost`) and the return (`Input::DeviceBack`: pulses then earn INSYNC back through the
//! hysteresis). Pulses that stop while the device stays open are holdover. Opening the
//! device needs read access only; the capture edge is set (`PPS_SETPARAMS`, CAP_SYS_TIME)
//! only if the device does not already capture it.

use std::os::unix::io::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::{Stamp, TodSample};
use crate::io::{DeviceError, DisciplinedClock, Edge, PpsFetch};
use crate::sys::clock::ClockId;
use crate::sys::pps::{PpsDevice, PpsMode};
use crate::sys::timex::SystemClock;
use crate::sys::watch::{ClockWatch, ClockWatchEvent};
use crate::time::NANOS_PER_SEC;

/// Something the pulse source reports besides pulses, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceNote {
    /// The device failed and was closed.
    Lost(String),
    /// The device was opened again.
    Back(String),
    /// A reopen attempt failed (reported once per loss).
    StillGone(String),
}

/// The clock and pulse source the loop drives.
pub trait World {
    /// The disciplined clock.
    fn clock(&mut self) -> &mut dyn DisciplinedClock;
    /// Brings the world up to host CLOCK_MONOTONIC `host_ns` (the simulated world moves its
    /// clock and emits its pulses; the real one has nothing to do).
    fn advance(&mut self, host_ns: i64);
    /// Reads the disciplined clock's monotonic and realtime clocks, and the host's monotonic
    /// clock at the same instant.
    fn stamp(&mut self) -> (Stamp, i64);
    /// Fetches the latest pulse without waiting; `None` if the source is unavailable.
    fn fetch(&mut self, host_ns: i64) -> Option<PpsFetch>;
    /// Takes a note about the source, if one is pending.
    fn take_note(&mut self) -> Option<SourceNote>;
    /// True once per change of the disciplined clock's time (step, leap, someone else's set).
    fn take_clock_changed(&mut self) -> bool;
    /// A time-of-day reading the world produced, if it makes them (the simulated one does).
    fn take_tod(&mut self) -> Option<TodSample>;
    /// A file descriptor to wait on for clock changes, if any.
    fn watch_fd(&self) -> Option<RawFd>;
    /// The host monotonic instant by which the world next wants to be advanced, if any.
    fn next_event_host_ns(&self) -> Option<i64>;
    /// What the world's own leap-seconds list says now, if it has one (the simulated world
    /// does; for the real one the daemon asks the configured file).
    fn leap_notice(&self) -> Option<crate::engine::LeapNotice> {
        None
    }
}

/// The host clock and a kernel PPS device.
pub struct RealWorld {
    clock: SystemClock,
    pps: PulseDevice,
    watch: ClockWatch,
}

impl RealWorld {
    /// Opens `device` and the clock-change watch.
    ///
    /// # Errors
    /// One line naming the device or the timerfd and what failed.
    pub fn open(device: &Path, edge: Edge) -> Result<RealWorld, String> {
        let pps = PulseDevice::open(device, edge).map_err(|e| e.to_string())?;
        let watch = ClockWatch::new().map_err(|e| e.to_string())?;
        Ok(RealWorld {
            clock: SystemClock::new(),
            pps,
            watch,
        })
    }
}

impl World for RealWorld {
    fn clock(&mut self) -> &mut dyn DisciplinedClock {
        &mut self.clock
    }

    fn advance(&mut self, _host_ns: i64) {}

    fn stamp(&mut self) -> (Stamp, i64) {
        let (mono, real) = paired_read(
            || ClockId::Monotonic.now().as_ns(),
            || ClockId::Realtime.now(),
        );
        (
            Stamp {
                mono_ns: mono,
                real,
            },
            mono,
        )
    }

    fn fetch(&mut self, host_ns: i64) -> Option<PpsFetch> {
        self.pps.fetch(host_ns)
    }

    fn take_note(&mut self) -> Option<SourceNote> {
        self.pps.note.take()
    }

    fn take_clock_changed(&mut self) -> bool {
        matches!(self.watch.check(), Ok(ClockWatchEvent::ClockChanged))
    }

    fn take_tod(&mut self) -> Option<TodSample> {
        None
    }

    fn watch_fd(&self) -> Option<RawFd> {
        Some(self.watch.as_raw_fd())
    }

    fn next_event_host_ns(&self) -> Option<i64> {
        None
    }
}

/// Reads of the clock pair [`paired_read`] makes at most.
const PAIR_TRIES: u32 = 4;
/// A pair whose two monotonic reads are at most this far apart (ns) is taken at once.
const PAIR_GOOD_NS: i64 = 1_000;

/// CLOCK_MONOTONIC and CLOCK_REALTIME as one instant. The engine takes a change of their
/// difference of 10 µs or more for a step of the clock, so an interrupt or a preemption
/// between two plain reads would be a false foreign step (seen in the real-kernel test:
/// 10–19 µs under qemu, and a loaded host can preempt for milliseconds). So: monotonic,
/// realtime, monotonic again, up to [`PAIR_TRIES`] times; the try with the closest monotonic
/// reads wins, its realtime read paired with their midpoint (error at most half their gap).
fn paired_read(
    mut mono: impl FnMut() -> i64,
    mut real: impl FnMut() -> crate::time::Timestamp,
) -> (i64, crate::time::Timestamp) {
    let mut best: Option<(i64, i64, crate::time::Timestamp)> = None;
    for _ in 0..PAIR_TRIES {
        let m0 = mono();
        let r = real();
        let gap = mono().saturating_sub(m0);
        if best.map_or(true, |(g, _, _)| gap < g) {
            best = Some((gap, m0.saturating_add(gap / 2), r));
        }
        if gap <= PAIR_GOOD_NS {
            break;
        }
    }
    match best {
        Some((_, m, r)) => (m, r),
        // PAIR_TRIES > 0: not reached; a plain pair all the same.
        None => (mono(), real()),
    }
}

/// A PPS device that may come and go.
pub struct PulseDevice {
    path: PathBuf,
    edge: Edge,
    dev: Option<PpsDevice>,
    next_reopen_ns: i64,
    reported_gone: bool,
    note: Option<SourceNote>,
}

impl PulseDevice {
    /// Opens `path`, checks it can capture `edge`, and enables that capture if needed.
    ///
    /// # Errors
    /// The device error (missing, not a PPS device, cannot capture the edge, settings refused).
    pub fn open(path: &Path, edge: Edge) -> Result<PulseDevice, DeviceError> {
        let dev = open_device(path, edge)?;
        Ok(PulseDevice {
            path: path.to_path_buf(),
            edge,
            dev: Some(dev),
            next_reopen_ns: 0,
            reported_gone: false,
            note: None,
        })
    }

    fn fetch(&mut self, host_ns: i64) -> Option<PpsFetch> {
        if self.dev.is_none() && host_ns >= self.next_reopen_ns {
            self.next_reopen_ns = host_ns + NANOS_PER_SEC;
            match open_device(&self.path, self.edge) {
                Ok(d) => {
                    self.note = Some(SourceNote::Back(self.path.display().to_string()));
                    self.reported_gone = false;
                    self.dev = Some(d);
                }
                Err(e) if !self.reported_gone => {
                    self.reported_gone = true;
                    self.note = Some(SourceNote::StillGone(e.to_string()));
                }
                Err(_) => {}
            }
        }
        let dev = self.dev.as_ref()?;
        match dev.fetch(Some(Duration::ZERO)) {
            Ok(f) => Some(f),
            Err(e) => {
                self.note = Some(SourceNote::Lost(e.to_string()));
                self.dev = None;
                self.next_reopen_ns = host_ns + NANOS_PER_SEC;
                None
            }
        }
    }
}

fn open_device(path: &Path, edge: Edge) -> Result<PpsDevice, DeviceError> {
    let dev = PpsDevice::open(path)?;
    dev.require_edge(edge)?;
    let mut params = dev.params()?;
    let capture = PpsMode::capture(edge);
    if !params.mode.contains(capture) {
        params.mode |= capture | PpsMode::TSFMT_TSPEC;
        dev.set_params(&params)?;
    }
    Ok(dev)
}

/// True if this process has CAP_SYS_TIME in its effective set (from `/proc/self/status`).
pub fn has_cap_sys_time() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| cap_sys_time_in(&s))
}

/// True if the `CapEff:` line of a `/proc/PID/status` text has bit 25 (CAP_SYS_TIME) set.
fn cap_sys_time_in(status: &str) -> bool {
    const CAP_SYS_TIME: u32 = 25;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_TIME) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_fails_to_open_naming_it() {
        let e = RealWorld::open(Path::new("/nonexistent/pps0"), Edge::Assert)
            .err()
            .unwrap();
        assert_eq!(
            e,
            "/nonexistent/pps0: open: No such file or directory (os error 2)"
        );
        let e = RealWorld::open(Path::new("/dev/null"), Edge::Assert)
            .err()
            .unwrap();
        assert!(e.contains("not a PPS device"), "{e}");
    }

    #[test]
    fn a_lost_device_is_reported_once_and_reopened_at_most_once_a_second() {
        let mut dev = PulseDevice {
            path: PathBuf::from("/nonexistent/pps0"),
            edge: Edge::Assert,
            dev: None,
            next_reopen_ns: 0,
            reported_gone: false,
            note: None,
        };
        assert_eq!(dev.fetch(5 * NANOS_PER_SEC), None);
        match dev.note.take() {
            Some(SourceNote::StillGone(e)) => assert!(e.contains("/nonexistent/pps0"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(dev.next_reopen_ns, 6 * NANOS_PER_SEC);
        assert_eq!(dev.fetch(5 * NANOS_PER_SEC + 500_000_000), None);
        assert_eq!(
            dev.next_reopen_ns,
            6 * NANOS_PER_SEC,
            "no attempt before a second"
        );
        assert_eq!(dev.fetch(6 * NANOS_PER_SEC), None);
        assert_eq!(dev.next_reopen_ns, 7 * NANOS_PER_SEC, "tried again");
        assert_eq!(dev.note, None, "reported once per loss");
    }

    #[test]
    fn clock_pairs_split_by_an_interruption_are_read_again() {
        use crate::time::Timestamp;
        // Monotonic reads: the first pair is split by 15 µs, the second is tight.
        let monos = [1_000, 16_000, 20_000, 20_400];
        let reals = [7_000_000, 7_019_500];
        let (mut i, mut j) = (0, 0);
        let (m, r) = paired_read(
            || {
                i += 1;
                monos[i - 1]
            },
            || {
                j += 1;
                Timestamp::from_ns(reals[j - 1])
            },
        );
        assert_eq!((m, r.as_ns()), (20_200, 7_019_500));
        assert_eq!((i, j), (4, 2), "stops at the first tight pair");
        // Never tight: the tightest of the tries.
        let gaps = [50_000, 30_000, 40_000, 60_000];
        let mut t = 0;
        let mut k = 0;
        let (m, _) = paired_read(
            || {
                k += 1;
                if k % 2 == 1 {
                    t += 1_000_000;
                    t
                } else {
                    t + gaps[k / 2 - 1]
                }
            },
            || Timestamp::from_ns(0),
        );
        assert_eq!(m, 2_000_000 + 15_000);
        assert_eq!(k, 8);
    }

    #[test]
    fn capability_is_read_from_the_effective_set() {
        assert!(cap_sys_time_in("Name:\tppsd\nCapEff:\t0000000002000000\n"));
        assert!(cap_sys_time_in("CapEff:\t000001ffffffffff\n"));
        assert!(!cap_sys_time_in(
            "CapPrm:\t0000000002000000\nCapEff:\t0000000000000000\n"
        ));
        assert!(!cap_sys_time_in("CapEff:\tzz\n"));
        assert!(!cap_sys_time_in(""));
    }
}

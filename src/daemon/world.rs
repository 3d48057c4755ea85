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
        let mono = ClockId::Monotonic.now().as_ns();
        let real = ClockId::Realtime.now();
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

//! The guest's pulse generator: the "true" second that the guest's CLOCK_REALTIME must be
//! steered to.
//!
//! Pulse `k` fires when CLOCK_MONOTONIC_RAW reaches `first + k × period`, with
//! `period = 1 s × (1 + ppm × 10⁻⁶)`: the guest's oscillator (the raw clock) runs `ppm` fast
//! against the pulse train, so a servo that follows the pulses settles the kernel frequency
//! near `−ppm` (exactly `10⁶ × (1 / (1 + ppm × 10⁻⁶) − 1)`). The raw clock is the reference
//! because adjtimex cannot change it; CLOCK_MONOTONIC, which the sleeps use, is slewed by the
//! servo under test, so sleeps stop short of the target and the last stretch is spun on the
//! raw clock. The first pulse comes at the next whole second of CLOCK_REALTIME at least half a
//! second away, plus `--phase-us`.
//!
//! One line per event on stdout, integers only (absolute times never pass through `f64`):
//! `start ...`, then `pulse k=.. target_raw_ns=.. raw_ns=.. rt_before_ns=.. rt_after_ns=..`,
//! or `missed k=.. late_ns=..` when the generator woke more than half a period late and
//! skipped a pulse rather than fire it at the wrong time, and `stop fired=..` at the end.
//! SIGTERM or SIGINT stops it at once, but never between firing a pulse and logging it: the
//! signals are blocked and read through a signalfd by a watcher thread, which wakes the
//! generator's sleep; no pulse fires once the stop is seen. It must never fire a pulse off
//! its schedule by more than half a period, nor one that it does not log.

use crate::port::ParallelPort;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use ppsd::sys::clock::ClockId;
use ppsd::time::NANOS_PER_SEC;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

/// Arguments of `kernel-guest pulse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How fast the guest's raw clock runs against the pulses, in ppm (|ppm| <= 500).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub ppm: f64,
    /// Offset of the first pulse from a whole second of CLOCK_REALTIME, in µs (|phase| < 1 s).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub phase_us: i64,
    /// Stop after this many pulses (default: until killed).
    #[arg(long)]
    pub count: Option<u64>,
}

/// Below this much time left, the generator spins on the raw clock instead of sleeping. TCG
/// wakes a sleeper a millisecond or more late, so the spin covers several.
const SPIN_NS: i64 = 5_000_000;
/// How much earlier than the target (besides 1/8 of the time left) a sleep ends.
const WAKE_MARGIN_NS: i64 = 4_000_000;

/// When pulse `k` is due on CLOCK_MONOTONIC_RAW, in integer nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Raw-clock time of pulse 0.
    pub first_raw_ns: i64,
    /// Raw-clock nanoseconds between pulses.
    pub period_ns: i64,
}

impl Schedule {
    /// A schedule whose pulses are `ppm` slow against the raw clock (see the module doc),
    /// rounded to whole nanoseconds per period (1 ppb).
    ///
    /// # Errors
    /// `ppm` not finite or beyond ±500 ppm, which no kernel frequency could follow.
    pub fn new(first_raw_ns: i64, ppm: f64) -> Result<Schedule, String> {
        if !ppm.is_finite() || ppm.abs() > 500.0 {
            return Err(format!("--ppm {ppm} is outside ±500 ppm"));
        }
        let period_ns = NANOS_PER_SEC + (ppm * 1_000.0).round() as i64;
        Ok(Schedule {
            first_raw_ns,
            period_ns,
        })
    }

    /// Raw-clock time at which pulse `k` is due.
    pub fn at(&self, k: u64) -> i64 {
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        self.first_raw_ns
            .saturating_add(k.saturating_mul(self.period_ns))
    }
}

/// Raw-clock time of the first pulse: the next whole second of CLOCK_REALTIME at least half a
/// second after `rt_now_ns`, plus `phase_ns`, mapped onto the raw clock read at the same time
/// (`raw_now_ns`).
pub fn first_pulse_raw_ns(rt_now_ns: i64, raw_now_ns: i64, phase_ns: i64) -> i64 {
    let into_second = rt_now_ns.rem_euclid(NANOS_PER_SEC);
    let mut wait = NANOS_PER_SEC - into_second;
    if wait < NANOS_PER_SEC / 2 {
        wait += NANOS_PER_SEC;
    }
    raw_now_ns + wait + phase_ns
}

/// Runs the generator until `--count` pulses or SIGTERM.
pub fn run(args: &Args) -> ExitCode {
    match generate(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kernel-guest pulse: {e}");
            ExitCode::from(1)
        }
    }
}

fn generate(args: &Args) -> Result<(), String> {
    if args.phase_us.abs() >= 1_000_000 {
        return Err(format!("--phase-us {} is not within ±1 s", args.phase_us));
    }
    let stop = stop_channel()?;
    let port = ParallelPort::open()?;
    let rt = ClockId::Realtime.now().as_ns();
    let raw = ClockId::MonotonicRaw.now().as_ns();
    let first = first_pulse_raw_ns(rt, raw, args.phase_us * 1_000);
    let schedule = Schedule::new(first, args.ppm)?;
    println!(
        "start ppm={} period_ns={} first_raw_ns={}",
        args.ppm, schedule.period_ns, schedule.first_raw_ns
    );
    let mut fired = 0_u64;
    let mut k = 0_u64;
    while args.count.map_or(true, |n| fired < n) {
        let target = schedule.at(k);
        if !wait_until_raw(target, &stop) {
            break;
        }
        let late = ClockId::MonotonicRaw.now().as_ns() - target;
        if late > schedule.period_ns / 2 {
            println!("missed k={k} late_ns={late}");
        } else {
            let f = port.fire()?;
            println!(
                "pulse k={k} target_raw_ns={target} raw_ns={} rt_before_ns={} rt_after_ns={}",
                f.raw.as_ns(),
                f.rt_before.as_ns(),
                f.rt_after.as_ns()
            );
            fired += 1;
        }
        k += 1;
    }
    println!("stop fired={fired}");
    Ok(())
}

/// Blocks SIGTERM and SIGINT (before any thread starts, so every thread inherits it) and
/// returns a channel that receives once either arrives.
fn stop_channel() -> Result<Receiver<()>, String> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block()
        .map_err(|e| format!("blocking SIGTERM: {e}"))?;
    let fd = SignalFd::new(&mask).map_err(|e| format!("signalfd: {e}"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // A read error ends the generator too: better stopped than unstoppable.
        let _ = fd.read_signal();
        let _ = tx.send(());
    });
    Ok(rx)
}

/// Returns true once CLOCK_MONOTONIC_RAW reaches `target_ns`, false as soon as `stop`
/// receives (or was received before the target). Sleeps (on CLOCK_MONOTONIC, which a servo
/// may run up to 12.5 % slow or fast) for 7/8 of what is left less [`WAKE_MARGIN_NS`], then
/// spins on the raw clock for the last [`SPIN_NS`] or less.
fn wait_until_raw(target_ns: i64, stop: &Receiver<()>) -> bool {
    loop {
        let left = target_ns - ClockId::MonotonicRaw.now().as_ns();
        if left <= 0 {
            return matches!(stop.try_recv(), Err(TryRecvError::Empty));
        }
        if left > SPIN_NS {
            let nap = Duration::from_nanos((left - left / 8 - WAKE_MARGIN_NS) as u64);
            match stop.recv_timeout(nap) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return false,
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_follows_the_injected_error_in_whole_nanoseconds() {
        let s = Schedule::new(5_000, 20.0).unwrap();
        assert_eq!(s.period_ns, 1_000_020_000);
        assert_eq!(s.at(0), 5_000);
        assert_eq!(s.at(3), 5_000 + 3 * 1_000_020_000);
        assert_eq!(Schedule::new(0, -0.0004).unwrap().period_ns, 1_000_000_000);
        assert_eq!(Schedule::new(0, -12.3456).unwrap().period_ns, 999_987_654);
        assert!(Schedule::new(0, 500.1).is_err());
        assert!(Schedule::new(0, f64::NAN).is_err());
    }

    #[test]
    fn first_pulse_is_on_a_whole_realtime_second_at_least_half_a_second_away() {
        let sec = 1_700_000_000 * NANOS_PER_SEC;
        // 0.3 s into a second: the next second is 0.7 s away.
        assert_eq!(
            first_pulse_raw_ns(sec + 300_000_000, 1_000, 0),
            1_000 + 700_000_000
        );
        // 0.8 s into a second: the next is only 0.2 s away, so the one after.
        assert_eq!(
            first_pulse_raw_ns(sec + 800_000_000, 1_000, 0),
            1_000 + 1_200_000_000
        );
        // Exactly on a second: one second away; a phase shifts it.
        assert_eq!(
            first_pulse_raw_ns(sec, 0, -250_000),
            1_000_000_000 - 250_000
        );
    }
}

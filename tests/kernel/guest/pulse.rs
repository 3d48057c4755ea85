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
//! Each pulse is labelled with the UTC second it marks: the first with the whole second of
//! CLOCK_REALTIME it is aimed at, pulse `k` with that plus `k` ([`Labels`]; with
//! `--leap-insert-at M`, a leap second is inserted before POSIX second `M`, which the leap
//! second itself shares with the second before it, as the kernel's clock shows it). With
//! `--shm-unit N` the generator is also the guest's time-of-day reference: it starts
//! `ntpshm N` (`--shm-writer`) and hands it, after each pulse, the label as the reference's
//! time and CLOCK_REALTIME read at the pulse as the receive time, and with `--announce-leap`
//! the leap indicator (insert during the last day before `M`), so ppsd can number the seconds
//! with no network.
//!
//! One line per event on stdout, integers only (absolute times never pass through `f64`):
//! `start ...`, then `pulse k=.. target_raw_ns=.. raw_ns=.. rt_before_ns=.. rt_after_ns=..
//! label_s=..`,
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
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::process::{Child, ChildStdin, Command, Stdio};
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
    /// Also be the time-of-day reference: NTP SHM segment UNIT, written by `--shm-writer`.
    #[arg(long, value_name = "UNIT")]
    pub shm_unit: Option<u8>,
    /// The program that writes the SHM segment (`ntpshm UNIT`, samples on its stdin).
    #[arg(long, default_value = "/bin/ntpshm")]
    pub shm_writer: PathBuf,
    /// POSIX second (a UTC midnight) before which a leap second is inserted: labels follow it.
    #[arg(long, value_name = "SEC")]
    pub leap_insert_at: Option<i64>,
    /// Announce the `--leap-insert-at` leap in the SHM samples (leap indicator 1 during its
    /// last day); without it the reference never warns of it.
    #[arg(long, requires = "leap_insert_at")]
    pub announce_leap: bool,
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
    raw_now_ns + wait_to_aimed_second(rt_now_ns) + phase_ns
}

/// The whole second of CLOCK_REALTIME the first pulse is aimed at (see
/// [`first_pulse_raw_ns`]): the first pulse's label.
pub fn aimed_second(rt_now_ns: i64) -> i64 {
    (rt_now_ns + wait_to_aimed_second(rt_now_ns)).div_euclid(NANOS_PER_SEC)
}

fn wait_to_aimed_second(rt_now_ns: i64) -> i64 {
    let into_second = rt_now_ns.rem_euclid(NANOS_PER_SEC);
    let mut wait = NANOS_PER_SEC - into_second;
    if wait < NANOS_PER_SEC / 2 {
        wait += NANOS_PER_SEC;
    }
    wait
}

/// The UTC second each pulse marks, as POSIX seconds, and the NTP leap indicator a reference
/// gives with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Label of pulse 0.
    pub first_s: i64,
    /// A leap second is inserted before this POSIX second (a UTC midnight).
    pub leap_insert_at: Option<i64>,
}

impl Labels {
    /// Label of pulse `k`. From the inserted second on, labels run one behind the count: the
    /// leap second (23:59:60) has the POSIX second of 23:59:59, as the kernel's clock shows.
    pub fn label(&self, k: u64) -> i64 {
        let n = self
            .first_s
            .saturating_add(i64::try_from(k).unwrap_or(i64::MAX));
        match self.leap_insert_at {
            Some(m) if n >= m => n - 1,
            _ => n,
        }
    }

    /// NTP leap indicator with pulse `k`: 1 (insert at the end of the day) during the UTC day
    /// that ends with the leap, before the leap second; 0 otherwise.
    pub fn leap_indicator(&self, k: u64) -> u8 {
        let n = self
            .first_s
            .saturating_add(i64::try_from(k).unwrap_or(i64::MAX));
        match self.leap_insert_at {
            Some(m) if n < m && n >= m - 86_400 => 1,
            _ => 0,
        }
    }
}

/// The SHM writer process and the pipe to it.
struct ShmFeed {
    child: Child,
    stdin: ChildStdin,
}

impl ShmFeed {
    fn start(writer: &PathBuf, unit: u8) -> Result<ShmFeed, String> {
        let mut child = Command::new(writer)
            .arg(unit.to_string())
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: cannot start: {e}", writer.display()))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| format!("{}: no stdin pipe", writer.display()))?;
        Ok(ShmFeed { child, stdin })
    }

    /// One sample: the pulse's label, CLOCK_REALTIME at the pulse, the leap indicator.
    fn send(&mut self, label_s: i64, rt_ns: i64, leap: u8) -> Result<(), String> {
        let line = format!(
            "{label_s} {} {} {leap}\n",
            rt_ns.div_euclid(NANOS_PER_SEC),
            rt_ns.rem_euclid(NANOS_PER_SEC)
        );
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("SHM writer: {e}"))
    }

    /// Closes the pipe (the writer clears `valid` and exits) and waits for it.
    fn finish(self) {
        let ShmFeed { mut child, stdin } = self;
        drop(stdin);
        let _ = child.wait();
    }
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
    let labels = Labels {
        first_s: aimed_second(rt),
        leap_insert_at: args.leap_insert_at,
    };
    let mut feed = match args.shm_unit {
        Some(unit) => Some(ShmFeed::start(&args.shm_writer, unit)?),
        None => None,
    };
    println!(
        "start ppm={} period_ns={} first_raw_ns={} first_label_s={}",
        args.ppm, schedule.period_ns, schedule.first_raw_ns, labels.first_s
    );
    let result = fire_train(args, &schedule, &labels, &port, &stop, feed.as_mut());
    if let Some(feed) = feed {
        feed.finish();
    }
    result
}

fn fire_train(
    args: &Args,
    schedule: &Schedule,
    labels: &Labels,
    port: &ParallelPort,
    stop: &Receiver<()>,
    mut feed: Option<&mut ShmFeed>,
) -> Result<(), String> {
    let mut fired = 0_u64;
    let mut k = 0_u64;
    while args.count.map_or(true, |n| fired < n) {
        let target = schedule.at(k);
        if !wait_until_raw(target, stop) {
            break;
        }
        let late = ClockId::MonotonicRaw.now().as_ns() - target;
        if late > schedule.period_ns / 2 {
            println!("missed k={k} late_ns={late}");
        } else {
            let f = port.fire()?;
            let label = labels.label(k);
            println!(
                "pulse k={k} target_raw_ns={target} raw_ns={} rt_before_ns={} rt_after_ns={} \
                 label_s={label}",
                f.raw.as_ns(),
                f.rt_before.as_ns(),
                f.rt_after.as_ns()
            );
            fired += 1;
            if let Some(feed) = feed.as_deref_mut() {
                let leap = if args.announce_leap {
                    labels.leap_indicator(k)
                } else {
                    0
                };
                feed.send(label, f.rt_before.as_ns(), leap)?;
            }
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
    fn labels_count_seconds_and_share_one_across_an_inserted_leap() {
        let midnight = 1_800_000_000 / 86_400 * 86_400 + 86_400;
        let l = Labels {
            first_s: midnight - 3,
            leap_insert_at: Some(midnight),
        };
        let got: Vec<(i64, u8)> = (0..6).map(|k| (l.label(k), l.leap_indicator(k))).collect();
        assert_eq!(
            got,
            vec![
                (midnight - 3, 1),
                (midnight - 2, 1),
                (midnight - 1, 1),
                (midnight - 1, 0),
                (midnight, 0),
                (midnight + 1, 0),
            ]
        );
        let plain = Labels {
            first_s: 7,
            leap_insert_at: None,
        };
        assert_eq!((plain.label(5), plain.leap_indicator(5)), (12, 0));
        // The leap is announced during its own day only.
        let early = Labels {
            first_s: midnight - 86_401,
            leap_insert_at: Some(midnight),
        };
        assert_eq!((early.leap_indicator(0), early.leap_indicator(1)), (0, 1));
    }

    #[test]
    fn first_pulse_label_is_the_second_it_is_aimed_at() {
        let sec = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(aimed_second(sec + 300_000_000), 1_700_000_001);
        assert_eq!(aimed_second(sec + 800_000_000), 1_700_000_002);
        assert_eq!(aimed_second(sec), 1_700_000_001);
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

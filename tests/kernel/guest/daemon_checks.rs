//! Checks of the daemon scenarios (`ppsd run` in the guest): what a signer reads from ppsd's
//! record (through the `ppsd-shm` reader, as signers do), what the kernel holds (adjtimex,
//! modes 0), and the truth the pulse generator's log gives ([`crate::truth`]).
//!
//! - `lock-check`: INSYNC with a sane bound, kernel frequency near the injected error,
//!   STA_UNSYNC clear, the clock's true offset over the last pulses.
//! - `foreign-step`: steps CLOCK_REALTIME itself (clock_settime, as `date -s` does, from a
//!   process other than ppsd) and polls the record until OUT_OF_SYNC, timing it on
//!   CLOCK_MONOTONIC.
//! - `expiry`: SIGKILLs ppsd and polls until readers may no longer sign; then what the kernel
//!   does with the abandoned clock.
//! - `trace`: samples record, kernel and truth every few ms across pulse loss or a leap second
//!   and checks the timeline.
//!
//! Only `foreign-step` writes a clock and only `expiry` sends a signal; both run only inside the
//! test guest (`main.rs` refuses otherwise). Each prints `CHECK`/`MEASURE`/`NOTE` lines and
//! must never print PASS for something it did not see.

use crate::report::{ensure, us, Report};
use crate::truth::Truth;
use ppsd::io::{ClockSnapshot, ClockState, ClockStatus, DisciplinedClock};
use ppsd::sys::clock::ClockId;
use ppsd::sys::timex::SystemClock;
use ppsd::time::NANOS_PER_SEC;
use ppsd_shm::{Reader, Snapshot, SyncState, Verdict};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The kernel's `NTP_PHASE_LIMIT`: at this maximum error it sets STA_UNSYNC, µs.
const KERNEL_MAXERROR_LIMIT_US: i64 = 16_000_000;

/// Arguments of `kernel-guest lock-check`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// ppsd's record.
    #[arg(long, default_value = "/run/ppsd/state")]
    pub shm: PathBuf,
    /// The generator's log.
    #[arg(long, default_value = "/run/pulse.log")]
    pub pulse_log: PathBuf,
    /// The error injected into the generator (`pulse --ppm`).
    #[arg(long, allow_hyphen_values = true)]
    pub ppm: f64,
    /// Pulses (the last ones fired) the offset figures are taken over.
    #[arg(long, default_value_t = 20)]
    pub last: usize,
    /// Largest |kernel frequency − expected| accepted, ppb.
    #[arg(long)]
    pub max_freq_error_ppb: f64,
    /// Largest |CLOCK_REALTIME − true time| at any of the last pulses, ns.
    #[arg(long)]
    pub max_offset_ns: i64,
}

/// Arguments of `kernel-guest foreign-step`.
#[derive(Debug, clap::Args)]
pub struct StepArgs {
    /// ppsd's record.
    #[arg(long, default_value = "/run/ppsd/state")]
    pub shm: PathBuf,
    /// The step, ms.
    #[arg(long, allow_hyphen_values = true)]
    pub step_ms: i64,
    /// Largest accepted time from the step to OUT_OF_SYNC in the record, µs.
    #[arg(long)]
    pub max_latency_us: i64,
}

/// Arguments of `kernel-guest expiry`.
#[derive(Debug, clap::Args)]
pub struct ExpiryArgs {
    /// ppsd's record.
    #[arg(long, default_value = "/run/ppsd/state")]
    pub shm: PathBuf,
    /// ppsd's process id.
    #[arg(long)]
    pub pid: i32,
    /// Largest accepted time from SIGKILL to "may not sign", ms.
    #[arg(long)]
    pub max_ms: i64,
    /// How long to watch the kernel afterwards, s.
    #[arg(long, default_value_t = 20)]
    pub observe_s: u64,
}

/// What `trace` looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceMode {
    /// Started when the generator stopped: holdover, then OUT_OF_SYNC per the bound.
    PulseLoss,
    /// Across the leap second at `--leap-insert-at`.
    Leap,
}

/// Arguments of `kernel-guest trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// What to check.
    #[arg(long, value_enum)]
    pub mode: TraceMode,
    /// ppsd's record.
    #[arg(long, default_value = "/run/ppsd/state")]
    pub shm: PathBuf,
    /// The generator's log (its start line gives the true time).
    #[arg(long, default_value = "/run/pulse.log")]
    pub pulse_log: PathBuf,
    /// The leap the generator was told of (`pulse --leap-insert-at`).
    #[arg(long)]
    pub leap_insert_at: Option<i64>,
    /// TAI − UTC before the leap as ppsd's leap-seconds list gives it: the kernel's TAI
    /// offset must be this before the leap and one more after it (`leap.tai`).
    #[arg(long)]
    pub tai_before: Option<i32>,
    /// Sampling period, ms.
    #[arg(long, default_value_t = 100)]
    pub every_ms: u64,
    /// Longest trace, s of CLOCK_MONOTONIC.
    #[arg(long)]
    pub duration_s: u64,
    /// The daemon's pulse timeout (`pps.pulse_timeout_ms`), for pulse-loss.
    #[arg(long, default_value_t = 1500)]
    pub pulse_timeout_ms: i64,
}

fn mono_ns() -> i64 {
    ClockId::Monotonic.now().as_ns()
}

fn timex() -> Result<ClockSnapshot, String> {
    SystemClock::new()
        .read()
        .map_err(|e| format!("adjtimex: {e}"))
}

fn state_name(s: ClockState) -> &'static str {
    match s {
        ClockState::Ok => "TIME_OK",
        ClockState::Ins => "TIME_INS",
        ClockState::Del => "TIME_DEL",
        ClockState::Oop => "TIME_OOP",
        ClockState::Wait => "TIME_WAIT",
        ClockState::Error => "TIME_ERROR",
    }
}

/// One line of kernel state.
fn timex_text(t: &ClockSnapshot) -> String {
    format!(
        "{} status={:#06x}{}{} freq={:.3}ppm maxerror={}us esterror={}us tai={}",
        state_name(t.state),
        t.status.bits(),
        if t.status.contains(ClockStatus::UNSYNC) {
            " UNSYNC"
        } else {
            ""
        },
        if t.status.contains(ClockStatus::INS) {
            " INS"
        } else {
            ""
        },
        t.freq.to_ppb() / 1_000.0,
        t.maxerror_us,
        t.esterror_us,
        t.tai_s
    )
}

fn open(path: &Path) -> Result<Reader, String> {
    Reader::open(path).map_err(|e| e.to_string())
}

fn verdict_text(v: &Verdict) -> String {
    match v.reason {
        None => format!("may sign, {} bound {} ns", v.state.name(), v.error_bound_ns),
        Some(r) => format!("may not sign ({r}), {}", v.state.name()),
    }
}

fn read_truth(path: &Path, leap: Option<i64>) -> Result<Truth, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: read: {e}", path.display()))?;
    Truth::parse(&text, leap)
}

/// `lock-check`.
pub fn lock_check(args: &LockArgs) -> ExitCode {
    let mut r = Report::new();
    let mut reader = match open(&args.shm) {
        Ok(x) => x,
        Err(e) => {
            r.check("lock.insync", Err(e));
            return r.exit_code();
        }
    };
    let v = reader.check();
    let snap = reader.snapshot();
    r.check(
        "lock.insync",
        (|| {
            let s = snap.map_err(|e| format!("record unreadable: {e}"))?;
            let st = &s.state;
            ensure(v.may_sign && st.sync == SyncState::InSync, || {
                format!("verdict: {}", verdict_text(&v))
            })?;
            ensure(
                st.error_bound_ns > 0 && st.error_bound_ns <= st.declared_accuracy_ns,
                || {
                    format!(
                        "bound {} ns not within (0, declared {} ns]",
                        st.error_bound_ns, st.declared_accuracy_ns
                    )
                },
            )?;
            Ok(format!(
                "INSYNC, bound {} ns of declared {} ns, published offset {} ns, frequency {:.3} ppm",
                st.error_bound_ns,
                st.declared_accuracy_ns,
                st.offset_ns,
                st.frequency_offset_ppt as f64 / 1e6
            ))
        })(),
    );
    if let Ok(s) = snap {
        r.measure("lock.bound", s.state.error_bound_ns, "ns");
        r.measure("lock.published_offset", s.state.offset_ns, "ns");
    }
    let expected_ppb = 1e9 * (1.0 / (1.0 + args.ppm * 1e-6) - 1.0);
    match timex() {
        Ok(t) => {
            let ppb = t.freq.to_ppb();
            r.measure("lock.kernel_freq", format!("{:.1}", ppb), "ppb");
            r.measure(
                "lock.kernel_freq_error",
                format!("{:.1}", ppb - expected_ppb),
                "ppb",
            );
            r.check(
                "lock.freq",
                ensure(
                    (ppb - expected_ppb).abs() <= args.max_freq_error_ppb,
                    || {
                        format!(
                            "kernel frequency {ppb:.1} ppb, expected {expected_ppb:.1} ± {} ppb",
                            args.max_freq_error_ppb
                        )
                    },
                )
                .map(|()| format!("kernel frequency {ppb:.1} ppb, expected {expected_ppb:.1} ppb")),
            );
            r.check(
                "lock.unsync_clear",
                ensure(
                    !t.status.contains(ClockStatus::UNSYNC) && t.state != ClockState::Error,
                    || format!("kernel: {}", timex_text(&t)),
                )
                .map(|()| format!("kernel: {}", timex_text(&t))),
            );
        }
        Err(e) => {
            r.check("lock.freq", Err(e.clone()));
            r.check("lock.unsync_clear", Err(e));
        }
    }
    let offset = offset_figures(&mut r, args);
    r.check("lock.offset", offset);
    r.exit_code()
}

/// The clock's true error at the last `args.last` pulses: figures, and whether each is within
/// the bound given.
fn offset_figures(r: &mut Report, args: &LockArgs) -> Result<String, String> {
    let truth = read_truth(&args.pulse_log, None)?;
    let n = truth.fired.len();
    ensure(n >= args.last && args.last >= 2, || {
        format!("{n} pulses fired, need {}", args.last.max(2))
    })?;
    let errs: Vec<i64> = truth.fired[n - args.last..]
        .iter()
        .map(|f| f.clock_error_ns())
        .collect();
    let mean = errs.iter().sum::<i64>() as f64 / errs.len() as f64;
    let var =
        errs.iter().map(|&e| (e as f64 - mean).powi(2)).sum::<f64>() / (errs.len() - 1) as f64;
    let max_abs = errs.iter().map(|e| e.abs()).max().unwrap_or(0);
    let (lo, hi) = (
        errs.iter().min().copied().unwrap_or(0),
        errs.iter().max().copied().unwrap_or(0),
    );
    r.measure("lock.offset_mean", format!("{mean:.0}"), "ns");
    r.measure("lock.offset_sd", format!("{:.0}", var.sqrt()), "ns");
    r.measure("lock.offset_max_abs", max_abs, "ns");
    let detail = format!(
        "CLOCK_REALTIME − true time at the last {} pulses: mean {}, sd {}, range [{}, {}]",
        errs.len(),
        us(mean as i64),
        us(var.sqrt() as i64),
        us(lo),
        us(hi)
    );
    ensure(max_abs <= args.max_offset_ns, || {
        format!("{detail}: beyond ±{}", us(args.max_offset_ns))
    })?;
    Ok(detail)
}

/// `foreign-step`.
pub fn foreign_step(args: &StepArgs) -> ExitCode {
    let mut r = Report::new();
    let mut reader = match open(&args.shm) {
        Ok(x) => x,
        Err(e) => {
            r.check("foreign_step.before", Err(e));
            return r.exit_code();
        }
    };
    let v = reader.check();
    r.check(
        "foreign_step.before",
        ensure(v.may_sign, || verdict_text(&v)).map(|()| verdict_text(&v)),
    );
    if !v.may_sign {
        return r.exit_code();
    }
    let t0 = mono_ns();
    let target = ClockId::Realtime.now().as_ns() + args.step_ms * 1_000_000;
    let ts = nix::sys::time::TimeSpec::new(
        target.div_euclid(NANOS_PER_SEC),
        target.rem_euclid(NANOS_PER_SEC),
    );
    if let Err(e) = nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts) {
        r.check("foreign_step.latency", Err(format!("clock_settime: {e}")));
        return r.exit_code();
    }
    let t1 = mono_ns();
    let mut first_refusal = None;
    let outcome = loop {
        let v = reader.check();
        let now = mono_ns();
        if !v.may_sign && first_refusal.is_none() {
            first_refusal = Some((now - t0, v));
        }
        if v.state == SyncState::OutOfSync {
            break Ok(now - t0);
        }
        if now - t0 > 2 * NANOS_PER_SEC {
            break Err(format!(
                "no OUT_OF_SYNC 2 s after the step; last: {}",
                verdict_text(&v)
            ));
        }
        // Leaves the CPU to ppsd (one vCPU) between looks; the look itself costs < 1 µs.
        std::thread::sleep(Duration::from_micros(10));
    };
    r.measure("foreign_step.settime_call", us(t1 - t0), "");
    if let Some((at, v)) = first_refusal {
        r.measure("foreign_step.first_refusal", us(at), "");
        r.note(&format!("first refusal: {}", verdict_text(&v)));
    }
    match outcome {
        Ok(lat) => {
            r.measure("foreign_step.latency", us(lat), "");
            r.check(
                "foreign_step.latency",
                ensure(lat <= args.max_latency_us * 1_000, || {
                    format!(
                        "OUT_OF_SYNC {} after the step, limit {} µs",
                        us(lat),
                        args.max_latency_us
                    )
                })
                .map(|()| {
                    format!(
                        "OUT_OF_SYNC in the record {} after clock_settime(+{} ms) began",
                        us(lat),
                        args.step_ms
                    )
                }),
            );
        }
        Err(e) => r.check("foreign_step.latency", Err(e)),
    }
    r.exit_code()
}

/// `expiry`.
pub fn expiry(args: &ExpiryArgs) -> ExitCode {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut r = Report::new();
    let mut reader = match open(&args.shm) {
        Ok(x) => x,
        Err(e) => {
            r.check("sigkill.before", Err(e));
            return r.exit_code();
        }
    };
    let v = reader.check();
    r.check(
        "sigkill.before",
        ensure(v.may_sign, || verdict_text(&v)).map(|()| verdict_text(&v)),
    );
    if !v.may_sign {
        return r.exit_code();
    }
    let before = timex();
    let t0 = mono_ns();
    if let Err(e) = kill(Pid::from_raw(args.pid), Signal::SIGKILL) {
        r.check("sigkill.expiry", Err(format!("kill -9 {}: {e}", args.pid)));
        return r.exit_code();
    }
    let outcome = loop {
        let v = reader.check();
        let now = mono_ns();
        if !v.may_sign {
            break Ok((now - t0, v));
        }
        if now - t0 > 10 * NANOS_PER_SEC {
            break Err(format!(
                "readers may still sign 10 s after SIGKILL: {}",
                verdict_text(&v)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    match outcome {
        Ok((lat, v)) => {
            // The record says how long it stays valid; readers must refuse from then on. The
            // poll itself (1 ms sleeps) may see it up to POLL_SLACK_NS late.
            const POLL_SLACK_NS: i64 = 5_000_000;
            let until = reader
                .snapshot()
                .map(|s| s.state.valid_until_mono_ns - t0)
                .unwrap_or(i64::MAX);
            r.measure("sigkill.expiry", format!("{:.1}", lat as f64 / 1e6), "ms");
            r.measure(
                "sigkill.valid_after_kill",
                format!("{:.1}", until as f64 / 1e6),
                "ms",
            );
            let ok = until <= args.max_ms * 1_000_000 && lat <= until + POLL_SLACK_NS;
            let detail = format!(
                "record valid until {:.1} ms after SIGKILL, readers refused at {:.1} ms (limit \
                 {} ms): {}",
                until as f64 / 1e6,
                lat as f64 / 1e6,
                args.max_ms,
                verdict_text(&v)
            );
            r.check("sigkill.expiry", if ok { Ok(detail) } else { Err(detail) });
        }
        Err(e) => r.check("sigkill.expiry", Err(e)),
    }
    let kernel = kernel_after_kill(&mut r, before, t0, args.observe_s);
    r.check("sigkill.kernel", kernel);
    r.exit_code()
}

/// What the kernel does with a clock nobody disciplines: maxerror grows by 500 µs/s and
/// STA_UNSYNC is set only once it passes 16 s. Checks the kernel kept to that rule.
fn kernel_after_kill(
    r: &mut Report,
    before: Result<ClockSnapshot, String>,
    t0: i64,
    observe_s: u64,
) -> Result<String, String> {
    let before = before?;
    r.note(&format!("kernel at SIGKILL: {}", timex_text(&before)));
    let a = timex()?;
    let ta = mono_ns();
    r.note(&format!(
        "kernel {} after SIGKILL: {}",
        us(ta - t0),
        timex_text(&a)
    ));
    std::thread::sleep(Duration::from_secs(observe_s));
    let b = timex()?;
    let tb = mono_ns();
    r.note(&format!(
        "kernel {} s after SIGKILL: {}",
        (tb - t0) / NANOS_PER_SEC,
        timex_text(&b)
    ));
    let rate = (b.maxerror_us - a.maxerror_us) as f64 / ((tb - ta) as f64 / 1e9);
    r.measure("sigkill.maxerror_growth", format!("{rate:.0}"), "us/s");
    let hours = (KERNEL_MAXERROR_LIMIT_US - b.maxerror_us) as f64 / 500.0 / 3600.0;
    for t in [&a, &b] {
        let unsync = t.status.contains(ClockStatus::UNSYNC);
        ensure(
            unsync == (t.maxerror_us >= KERNEL_MAXERROR_LIMIT_US),
            || {
                format!(
                    "STA_UNSYNC {} with maxerror {} µs (the kernel sets it at {} µs)",
                    if unsync { "set" } else { "clear" },
                    t.maxerror_us,
                    KERNEL_MAXERROR_LIMIT_US
                )
            },
        )?;
    }
    // The kernel adds 500 µs at each second boundary; allow for the boundaries the window
    // happens to catch.
    let secs = (tb - ta) as f64 / 1e9;
    ensure((rate - 500.0).abs() <= 500.0 / secs + 1.0, || {
        format!("maxerror grew {rate:.0} µs/s over {secs:.1} s, the kernel's rule is 500 µs/s")
    })?;
    Ok(format!(
        "maxerror {} → {} µs in {:.1} s ({rate:.0} µs/s), STA_UNSYNC {} (set only at 16 s of \
         maxerror, {hours:.1} h from now); frequency left at {:.3} ppm",
        a.maxerror_us,
        b.maxerror_us,
        secs,
        if b.status.contains(ClockStatus::UNSYNC) {
            "set"
        } else {
            "still clear"
        },
        b.freq.to_ppb() / 1_000.0
    ))
}

/// One look at record, kernel and truth.
#[derive(Clone, Copy, Debug)]
struct Look {
    mono_ns: i64,
    raw_ns: i64,
    rt_ns: i64,
    verdict: Verdict,
    snap: Option<Snapshot>,
    tx: Option<ClockSnapshot>,
}

/// CLOCK_MONOTONIC_RAW and CLOCK_REALTIME read together: raw, realtime, and raw again only to
/// see that no interrupt landed between them (the two raw reads more than [`PAIR_GAP_NS`]
/// apart; under qemu an interrupt costs 10–34 µs, which would read as that much clock error),
/// retried then. The pair kept is the first raw read and the realtime read, as the trace
/// always took them (`pps.delay_ns` of the scenarios was measured that way; taking the raw
/// instant halfway shifts every error by about −0.45 µs). After [`PAIR_TRIES`] the closest
/// pair is kept.
fn raw_and_realtime() -> (i64, i64) {
    let mut best = (i64::MAX, 0, 0);
    for _ in 0..PAIR_TRIES {
        let a = ClockId::MonotonicRaw.now().as_ns();
        let rt = ClockId::Realtime.now().as_ns();
        let b = ClockId::MonotonicRaw.now().as_ns();
        let gap = b - a;
        if gap < best.0 {
            best = (gap, a, rt);
        }
        if gap <= PAIR_GAP_NS {
            break;
        }
    }
    (best.1, best.2)
}

/// Largest gap (ns) between the raw reads around a realtime read taken as undisturbed.
const PAIR_GAP_NS: i64 = 3_000;
/// Most attempts at an undisturbed pair.
const PAIR_TRIES: usize = 8;

impl Look {
    fn take(reader: &mut Reader) -> Look {
        let verdict = reader.check();
        let snap = reader.snapshot().ok();
        let (raw_ns, rt_ns) = raw_and_realtime();
        let mono_ns = mono_ns();
        let tx = timex().ok();
        Look {
            mono_ns,
            raw_ns,
            rt_ns,
            verdict,
            snap,
            tx,
        }
    }

    /// What makes a trace line worth printing when it changes.
    fn key(&self) -> (bool, SyncState, u32, Option<ClockState>, bool) {
        (
            self.verdict.may_sign,
            self.verdict.state,
            self.verdict.leap as u32,
            self.tx.map(|t| t.state),
            self.tx
                .is_some_and(|t| t.status.contains(ClockStatus::UNSYNC)),
        )
    }

    fn line(&self, truth: &Truth) -> String {
        let err = self.rt_ns - truth.utc_ns(self.raw_ns);
        let window = self
            .snap
            .and_then(|s| s.state.leap_window)
            .map_or("none".to_owned(), |w| {
                format!("[{},{})", w.start_realtime_ns, w.end_realtime_ns)
            });
        format!(
            "TRACE mono_ns={} rt_ns={} true_error_ns={} may_sign={} state={} leap={} bound_ns={} \
             next_leap={} window={} kernel={}",
            self.mono_ns,
            self.rt_ns,
            err,
            self.verdict.may_sign,
            self.verdict.state.name(),
            self.verdict.leap.name(),
            self.verdict.error_bound_ns,
            self.snap.map_or(0, |s| s.state.next_leap_utc_s),
            window,
            self.tx.map_or("unreadable".to_owned(), |t| timex_text(&t))
        )
    }
}

/// `trace`.
pub fn trace(args: &TraceArgs) -> ExitCode {
    let mut r = Report::new();
    let name = match args.mode {
        TraceMode::PulseLoss => "pulse_loss.trace",
        TraceMode::Leap => "leap.trace",
    };
    let setup = read_truth(&args.pulse_log, args.leap_insert_at)
        .and_then(|t| open(&args.shm).map(|rd| (t, rd)));
    let (truth, mut reader) = match setup {
        Ok(x) => x,
        Err(e) => {
            r.check(name, Err(e));
            return r.exit_code();
        }
    };
    let looks = sample(&mut reader, &truth, args);
    r.check(
        name,
        ensure(!looks.is_empty(), || "no sample taken".into())
            .map(|()| format!("{} samples every {} ms", looks.len(), args.every_ms)),
    );
    match args.mode {
        TraceMode::PulseLoss => pulse_loss_checks(&mut r, &truth, &looks, args),
        TraceMode::Leap => leap_checks(&mut r, &truth, &looks, args),
    }
    r.exit_code()
}

/// Samples until the duration ends (or, for pulse loss, 2 s after OUT_OF_SYNC); prints a
/// TRACE line on every change, once a second, and for a leap every sample within 3 s of it.
fn sample(reader: &mut Reader, truth: &Truth, args: &TraceArgs) -> Vec<Look> {
    let start = mono_ns();
    let end = start + i64::try_from(args.duration_s).unwrap_or(3600) * NANOS_PER_SEC;
    let leap_ns = args.leap_insert_at.map(|m| m * NANOS_PER_SEC);
    let mut looks: Vec<Look> = Vec::new();
    let mut last_print = i64::MIN;
    let mut stop_at = end;
    loop {
        let l = Look::take(reader);
        let changed = looks.last().map_or(true, |p| p.key() != l.key());
        let near_leap =
            leap_ns.is_some_and(|m| (truth.utc_ns(l.raw_ns) - m).abs() <= 3 * NANOS_PER_SEC);
        if changed || near_leap || l.mono_ns - last_print >= NANOS_PER_SEC {
            println!("{}", l.line(truth));
            last_print = l.mono_ns;
        }
        if args.mode == TraceMode::PulseLoss
            && l.verdict.state == SyncState::OutOfSync
            && stop_at == end
        {
            stop_at = l.mono_ns + 2 * NANOS_PER_SEC;
        }
        let done = l.mono_ns >= stop_at.min(end);
        looks.push(l);
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(args.every_ms));
    }
    looks
}

/// Every sample that let readers sign had the true error within the published bound.
fn bound_covers(truth: &Truth, looks: &[Look]) -> Result<String, String> {
    let mut n = 0;
    let mut worst = 0_i64;
    for l in looks.iter().filter(|l| l.verdict.may_sign) {
        if truth.near_leap_edge(l.raw_ns, 5_000_000) {
            continue;
        }
        n += 1;
        let err = l.rt_ns - truth.utc_ns(l.raw_ns);
        worst = worst.max(err.abs());
        let bound = i64::try_from(l.verdict.error_bound_ns).unwrap_or(i64::MAX);
        ensure(err.abs() <= bound, || {
            format!("false trust: {}", l.line(truth))
        })?;
    }
    Ok(format!(
        "{n} samples let readers sign, each with |true error| within the published bound \
         (worst {})",
        us(worst)
    ))
}

fn pulse_loss_checks(r: &mut Report, truth: &Truth, looks: &[Look], args: &TraceArgs) {
    let Some(last) = truth.fired.last() else {
        r.check(
            "pulse_loss.holdover",
            Err("the generator fired no pulse".into()),
        );
        return;
    };
    // raw-clock ns since the last pulse at a sample.
    let since = |l: &Look| l.raw_ns - last.raw_ns;
    let timeout = args.pulse_timeout_ms * 1_000_000;
    let held = looks
        .iter()
        .rev()
        .find(|l| l.verdict.may_sign && since(l) > timeout + NANOS_PER_SEC);
    let first_refused = looks.iter().find(|l| !l.verdict.may_sign);
    let first_soon = looks
        .iter()
        .find(|l| l.verdict.state == SyncState::SoonOutOfSync);
    let first_out = looks
        .iter()
        .find(|l| l.verdict.state == SyncState::OutOfSync);
    if let Some(l) = first_soon {
        r.measure(
            "pulse_loss.soon_out_of_sync_after",
            since(l) / 1_000_000,
            "ms",
        );
    }
    if let Some(l) = first_refused {
        r.measure("pulse_loss.refused_after", since(l) / 1_000_000, "ms");
    }
    r.check(
        "pulse_loss.holdover",
        match held {
            Some(l) => Ok(format!(
                "still {} (may sign, bound {} ns) {} ms after the last pulse, past the {} ms \
                 pulse timeout",
                l.verdict.state.name(),
                l.verdict.error_bound_ns,
                since(l) / 1_000_000,
                args.pulse_timeout_ms
            )),
            None => Err(format!(
                "no sample let readers sign later than {} ms after the last pulse; first \
                 refusal: {}",
                args.pulse_timeout_ms + 1_000,
                first_refused.map_or("none".into(), |l| l.line(truth))
            )),
        },
    );
    let out = (|| {
        let l = first_out
            .ok_or_else(|| format!("no OUT_OF_SYNC within {} s of trace", args.duration_s))?;
        let declared = l.snap.map_or(0, |s| s.state.declared_accuracy_ns);
        let bound = l.verdict.error_bound_ns;
        r.measure("pulse_loss.out_of_sync_after", since(l) / 1_000_000, "ms");
        ensure(bound > declared, || {
            format!(
                "OUT_OF_SYNC {} ms after the last pulse with the bound {bound} ns still within \
                     the declared {declared} ns",
                since(l) / 1_000_000
            )
        })?;
        Ok(format!(
            "OUT_OF_SYNC {} ms after the last pulse, bound {bound} ns past the declared \
                 {declared} ns",
            since(l) / 1_000_000
        ))
    })();
    r.check("pulse_loss.out_of_sync", out);
    r.check("pulse_loss.bound_covers", bound_covers(truth, looks));
}

fn leap_checks(r: &mut Report, truth: &Truth, looks: &[Look], args: &TraceArgs) {
    let Some(m) = args.leap_insert_at else {
        r.check("leap.kernel", Err("--leap-insert-at missing".into()));
        return;
    };
    let m_ns = m * NANOS_PER_SEC;
    // The kernel's leap states in the order they first appear.
    let mut seen: Vec<ClockState> = Vec::new();
    for t in looks.iter().filter_map(|l| l.tx) {
        if seen.last() != Some(&t.state) {
            seen.push(t.state);
        }
    }
    let names: Vec<&str> = seen.iter().map(|&s| state_name(s)).collect();
    let order = [ClockState::Ins, ClockState::Oop, ClockState::Wait];
    let mut it = seen.iter();
    let in_order = order.iter().all(|want| it.any(|s| s == want));
    r.check(
        "leap.kernel",
        ensure(in_order, || {
            format!("kernel states seen {names:?}, want TIME_INS → TIME_OOP → TIME_WAIT")
        })
        .map(|()| format!("kernel states seen in order: {}", names.join(" → "))),
    );
    let announced = looks.iter().find(|l| {
        truth.utc_ns(l.raw_ns) < m_ns - NANOS_PER_SEC
            && l.verdict.leap == ppsd_shm::LeapState::Positive
            && l.snap.is_some_and(|s| s.state.next_leap_utc_s == m)
    });
    r.check(
        "leap.published",
        (|| {
            let l = announced.ok_or_else(|| {
                format!("no sample before the leap with leap POSITIVE and next_leap_utc_s {m}")
            })?;
            let w = l
                .snap
                .and_then(|s| s.state.leap_window)
                .ok_or("POSITIVE published without a leap window")?;
            // The inserted second is [m − 1 s, m) of POSIX time, shown twice.
            ensure(
                w.start_realtime_ns <= m_ns - NANOS_PER_SEC && w.end_realtime_ns >= m_ns,
                || {
                    format!(
                        "window [{}, {}) misses the inserted second",
                        w.start_realtime_ns, w.end_realtime_ns
                    )
                },
            )?;
            Ok(format!(
                "POSITIVE, next leap {m}, window [{:+} ms, {:+} ms) around midnight",
                (w.start_realtime_ns - m_ns) / 1_000_000,
                (w.end_realtime_ns - m_ns) / 1_000_000
            ))
        })(),
    );
    let refused_across = looks
        .iter()
        .filter(|l| (truth.utc_ns(l.raw_ns) - (m_ns - NANOS_PER_SEC / 2)).abs() < NANOS_PER_SEC)
        .all(|l| !l.verdict.may_sign);
    r.check(
        "leap.paused",
        ensure(refused_across, || {
            "a reader could sign during the inserted second".into()
        })
        .map(|()| "no reader could sign during the inserted second (±0.5 s)".into()),
    );
    r.check("leap.no_false_insync", bound_covers(truth, looks));
    let after = looks
        .iter()
        .rev()
        .find(|l| truth.utc_ns(l.raw_ns) > m_ns + 2 * NANOS_PER_SEC);
    let clock_after = (|| {
        let l = after.ok_or("the trace ended before midnight + 2 s")?;
        let err = l.rt_ns - truth.utc_ns(l.raw_ns);
        r.measure("leap.error_after", err, "ns");
        ensure(err.abs() < 1_000_000, || {
            format!("CLOCK_REALTIME {} from the truth after the leap", us(err))
        })?;
        Ok(format!(
            "CLOCK_REALTIME {} from the truth after the leap, {}",
            us(err),
            verdict_text(&l.verdict)
        ))
    })();
    r.check("leap.clock_after", clock_after);
    if let Some(before) = args.tai_before {
        r.check("leap.tai", tai_check(truth, looks, m_ns, before));
    }
}

/// The kernel's TAI offset (adjtimex) over the trace: the list's value until 10 s before the
/// leap (ppsd set it; the guest booted with 0), one more from 1 s after it (the kernel raised
/// it at the inserted second and ppsd did not undo it).
fn tai_check(truth: &Truth, looks: &[Look], m_ns: i64, before: i32) -> Result<String, String> {
    let mut n_before = 0;
    let mut n_after = 0;
    for l in looks {
        let Some(tx) = l.tx else { continue };
        let utc = truth.utc_ns(l.raw_ns);
        let want = if utc <= m_ns - 10 * NANOS_PER_SEC {
            n_before += 1;
            before
        } else if utc >= m_ns + NANOS_PER_SEC {
            n_after += 1;
            before + 1
        } else {
            continue;
        };
        ensure(tx.tai_s == want, || {
            format!(
                "kernel TAI offset {} s at {:+} ms from the leap, want {want} s",
                tx.tai_s,
                (utc - m_ns) / 1_000_000
            )
        })?;
    }
    ensure(n_before > 0 && n_after > 0, || {
        format!("too few adjtimex reads: {n_before} before the leap, {n_after} after")
    })?;
    Ok(format!(
        "kernel TAI offset {before} s in {n_before} reads before the leap, {} s in {n_after} after",
        before + 1
    ))
}

//! The driver loop: runs a scenario's world second by second and drives the engine as a daemon
//! would, then reports against ground truth.
//!
//! Like the daemon, it wakes just after each expected edge (10 ms after the true second, where a
//! timer armed from the previous pulse lands within the clock's frequency error) and fetches
//! without blocking; it ticks mid-second to renew the published state; it reads adjtimex at
//! every wake and hands the snapshot to the engine before the wake's input, and besides polls
//! adjtimex on the daemon's rule: at most `Engine::kernel_poll_interval_ns` after the last
//! read (nothing else reveals a foreign frequency write; the interval follows the margin between
//! the accuracy and the published bound, see `engine::poll`). A poll that finds the clock as
//! ppsd left it changes nothing in the engine (nor the interval, which only a publication
//! changes), so by default the simulator only runs the polls that can find something — the
//! first after each foreign write — and [`RunOptions::every_kernel_poll`] runs them all (a test
//! checks that both give the same report); it delivers a
//! clock-change notice 50 µs after any set of the clock, as a timerfd with
//! `TFD_TIMER_CANCEL_ON_SET` would; and it applies the engine's actions through
//! [`crate::apply`]. During a `daemon_stall` it gives the engine nothing. Ground truth (the
//! clock's true offset from UTC at each true second) comes from the world, never from the
//! engine.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use super::clock::SimClock;
use super::fault::{FaultKind, FaultSchedule, Utc};
use super::leaptrace::{self, LeapTrace};
use super::limit::limit_rms_ns;
use super::oscillator::Oscillator;
use super::pps::SimPps;
use super::report::{Report, TraceRow, Tracker, TRACE_HEADER};
use super::scenario::Scenario;
use super::second;
use super::tod;
use crate::engine::servo::Servo;
use crate::engine::{Action, Engine, Input, LeapNotice, Stamp};
use crate::io::{ClockWrite, DisciplinedClock, PulseSource, ScaledPpm};
use crate::time::{Timestamp, NANOS_PER_SEC};

/// Delay from the true second to the daemon's fetch, ns.
pub const FETCH_DELAY_NS: i64 = 10_000_000;
/// Delay from the true second to the renewal tick, ns.
pub const TICK_DELAY_NS: i64 = 500_000_000;
/// Delay from a true second to a time-of-day reading, ns.
pub const TOD_DELAY_NS: i64 = 250_000_000;
/// Delay from a clock set to the engine hearing of it, ns.
pub const NOTICE_DELAY_NS: i64 = 50_000;

/// What happens at an instant, in the order of the variants when instants tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Second,
    ForeignStep(usize),
    ForeignFreq(usize),
    Spurious,
    Fetch,
    Tod,
    Tick,
    ClockChanged,
    KernelPoll,
    StallEnd,
    LeapSample(usize),
}

/// How the driver runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Run every adjtimex poll the rule asks for, not only those that can find a foreign
    /// write: slower, same result.
    pub every_kernel_poll: bool,
}

/// The simulated loop's timers fire on time.
const LATE_NS: i64 = 0;

/// The adjtimex polls: the next one, and the interval in force since the last read (only a
/// read, with what it publishes, changes it).
#[derive(Clone, Copy, Debug, Default)]
struct Polls {
    next: i64,
    every: i64,
}

impl Polls {
    /// The first poll instant at or after `tau` on the chain from `next` (no earlier than it).
    fn at_or_after(&self, tau: i64) -> i64 {
        if tau <= self.next || self.every <= 0 {
            return self.next;
        }
        let behind = tau - self.next;
        let k = behind.div_euclid(self.every) + i64::from(behind.rem_euclid(self.every) != 0);
        self.next.saturating_add(k.saturating_mul(self.every))
    }
}

/// The world and the engine under test.
struct World<'a> {
    sc: &'a Scenario,
    clock: SimClock,
    pps: SimPps,
    engine: Engine,
    faults: FaultSchedule,
    utc: Utc,
    pps_rng: ChaCha8Rng,
    tod_rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    order: u64,
    actions: Vec<Action>,
    tracker: Tracker,
    row: Option<TraceRow>,
    trace: Option<&'a mut dyn Write>,
    last_pulse: Option<Timestamp>,
    opts: RunOptions,
    polls: Polls,
    /// The leap notice last handed to the engine, as the daemon keeps it.
    leap_notice: Option<LeapNotice>,
    leap_trace: Option<LeapTrace>,
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Runs `sc` with `servo`, writing the trace CSV to `trace` if given.
///
/// # Errors
/// Only the trace writer's errors.
pub fn run<'a>(
    sc: &'a Scenario,
    servo: Box<dyn Servo>,
    trace: Option<&'a mut dyn Write>,
) -> std::io::Result<Report> {
    run_with_options(sc, servo, trace, RunOptions::default())
}

/// Runs `sc` with `servo` as [`run`] does, driven as `opts` says.
///
/// # Errors
/// Only the trace writer's errors.
pub fn run_with_options<'a>(
    sc: &'a Scenario,
    servo: Box<dyn Servo>,
    trace: Option<&'a mut dyn Write>,
    opts: RunOptions,
) -> std::io::Result<Report> {
    Ok(run_world(sc, servo, trace, opts, None)?.0)
}

/// Runs `sc` with `servo` as [`run`] does, recording the leap trace around each leap second.
///
/// # Errors
/// Never in practice (no trace writer).
pub fn run_with_leap_trace(
    sc: &Scenario,
    servo: Box<dyn Servo>,
    leap_trace: LeapTrace,
) -> std::io::Result<(Report, LeapTrace)> {
    let (report, t) = run_world(sc, servo, None, RunOptions::default(), Some(leap_trace))?;
    Ok((report, t.unwrap_or_default()))
}

fn run_world<'a>(
    sc: &'a Scenario,
    servo: Box<dyn Servo>,
    trace: Option<&'a mut dyn Write>,
    opts: RunOptions,
    leap_trace: Option<LeapTrace>,
) -> std::io::Result<(Report, Option<LeapTrace>)> {
    let started = std::time::Instant::now();
    let osc = Oscillator::new(sc.oscillator, rng(sc.seed, 1));
    let faults = FaultSchedule::new(sc.faults.clone());
    let engine = Engine::new(sc.engine, servo);
    let servo_name = engine.servo_name().to_string();
    let mut w = World {
        sc,
        clock: SimClock::new(osc, sc.start_unix_ns, sc.initial_offset_ns),
        pps: SimPps::new(),
        engine,
        utc: Utc::new(sc.start_unix_ns, &faults),
        faults,
        pps_rng: rng(sc.seed, 2),
        tod_rng: rng(sc.seed, 3),
        queue: BinaryHeap::new(),
        order: 0,
        actions: Vec::with_capacity(32),
        tracker: Tracker::new(
            sc.duration_s,
            sc.engine.trust.declared_accuracy_ns,
            &sc.faults,
        ),
        row: None,
        trace,
        last_pulse: None,
        opts,
        polls: Polls::default(),
        leap_notice: None,
        leap_trace,
    };
    if let Some(t) = w.trace.as_mut() {
        t.write_all(TRACE_HEADER.as_bytes())?;
    }
    w.schedule_faults();
    w.push(0, Ev::Second);
    w.plan_poll(0);
    let end = sc.duration_s * NANOS_PER_SEC;
    while let Some(Reverse((tau, _, ev))) = w.queue.pop() {
        if tau >= end {
            break;
        }
        w.step(tau, ev)?;
    }
    w.flush_row()?;
    if let Some(t) = w.trace.as_mut() {
        t.flush()?;
    }
    let limit = limit_rms_ns(
        sc.pps.jitter_ns,
        sc.pps.sawtooth_ns,
        sc.oscillator.wander_ppb_per_sqrt_s,
    );
    let mut report = w
        .tracker
        .finish(sc.path.clone(), servo_name, sc.seed, limit);
    report.wall_ms = (started.elapsed().as_secs_f64() * 1e5).round() / 100.0;
    Ok((report, w.leap_trace.take()))
}

impl World<'_> {
    fn push(&mut self, tau: i64, ev: Ev) {
        self.order += 1;
        self.queue.push(Reverse((tau, self.order, ev)));
    }

    fn schedule_faults(&mut self) {
        for (i, f) in self.sc.faults.iter().enumerate() {
            match f.kind {
                FaultKind::ForeignStep => self.push(f.start_ns, Ev::ForeignStep(i)),
                FaultKind::ForeignFreq => self.push(f.start_ns, Ev::ForeignFreq(i)),
                FaultKind::DaemonStall => self.push(f.end_ns, Ev::StallEnd),
                _ => {}
            }
        }
    }

    fn stalled(&self, tau: i64) -> Option<i64> {
        self.faults.stall_end(tau)
    }

    fn step(&mut self, tau: i64, ev: Ev) -> std::io::Result<()> {
        self.clock.advance(tau);
        self.notice_sets(tau);
        match ev {
            Ev::Second => self.second(tau)?,
            Ev::Spurious => second::spurious_pulse(
                tau,
                self.sc,
                &mut self.clock,
                &mut self.pps,
                &mut self.pps_rng,
            ),
            Ev::ForeignStep(i) => {
                // Someone else's clock_settime: the clock moves, the engine is not told why.
                let _ = self.clock.step(self.sc.faults[i].value);
                self.notice_sets(tau);
            }
            Ev::ForeignFreq(i) => {
                let ppb = self.sc.faults[i].freq_ppm * 1_000.0;
                let write = ClockWrite {
                    freq: Some(ScaledPpm::from_ppb(ppb)),
                    ..ClockWrite::default()
                };
                let _ = self.clock.write(&write);
                if !self.opts.every_kernel_poll {
                    self.polls.next = self.polls.at_or_after(tau);
                    self.push(self.polls.next, Ev::KernelPoll);
                }
            }
            // A poll planned before a later read moved the chain is void.
            Ev::KernelPoll if tau != self.polls.next => {}
            Ev::KernelPoll => match self.stalled(tau) {
                Some(end) => {
                    // The stalled loop skips the polls; the first after the stall runs.
                    let next = if self.opts.every_kernel_poll {
                        tau.saturating_add(self.polls.every)
                    } else {
                        self.polls.at_or_after(end)
                    };
                    self.polls.next = next;
                    self.push(next, Ev::KernelPoll);
                }
                None => {
                    self.poll(tau);
                }
            },
            Ev::ClockChanged => match self.stalled(tau) {
                Some(end) => self.push(end, Ev::ClockChanged),
                None => self.wake(tau, Input::ClockChanged),
            },
            Ev::Fetch | Ev::StallEnd if self.stalled(tau).is_none() => {
                let fetch = self.pps.fetch(Some(std::time::Duration::ZERO));
                if let Ok(fetch) = fetch {
                    self.wake(tau, Input::Pulse(fetch));
                }
                self.note_measurement();
            }
            Ev::Tick if self.stalled(tau).is_none() => {
                self.leap_notice(tau);
                self.wake(tau, Input::Tick)
            }
            Ev::Tod if self.stalled(tau).is_none() => {
                let truth = self.true_offset(tau);
                let wrong = self.faults.tod_wrong_s(tau);
                let leap = self.utc.announced(tau);
                let sample = tod::reading(&self.sc.tod, &mut self.tod_rng, truth, wrong, leap);
                self.wake(tau, Input::Tod(sample));
            }
            Ev::Fetch | Ev::StallEnd | Ev::Tick | Ev::Tod => {}
            Ev::LeapSample(i) => self.leap_sample(tau, i),
        }
        Ok(())
    }

    /// The clock's true offset from UTC at true `tau`, ns. Within 2 s of a leap second the
    /// clock and UTC may be on opposite sides of the leap for as long as the clock's own
    /// offset (ns); there the offset is taken modulo the leap so the truth measures the clock,
    /// not the sampling instant. A leap the clock missed still shows from 2 s after it.
    fn true_offset(&mut self, tau: i64) -> f64 {
        let x = self.clock.error_ns(tau) - self.utc.adjustment_ns(tau) as f64;
        let near_leap = self
            .utc
            .leaps()
            .iter()
            .any(|l| (tau - l.day_end_ns).abs() <= 2 * NANOS_PER_SEC);
        if near_leap {
            let s = 1e9;
            x - (x / s).round() * s
        } else {
            x
        }
    }

    fn second(&mut self, tau: i64) -> std::io::Result<()> {
        self.flush_row()?;
        let truth = self.true_offset(tau);
        let mono = self.clock.monotonic_ns();
        let (state, bound) = self.tracker.sample(tau, mono, truth);
        self.row = Some(TraceRow {
            t_s: tau / NANOS_PER_SEC,
            true_offset_ns: truth,
            measured_offset_ns: None,
            freq_ppb: self.clock.adjust_ppb(),
            state,
            bound_ns: (bound != i64::MAX).then_some(bound),
        });
        let events = second::true_second(
            tau,
            self.sc,
            &self.faults,
            &mut self.clock,
            &mut self.pps,
            &mut self.pps_rng,
        );
        if let Some(t) = events.spurious_at {
            self.push(t, Ev::Spurious);
        }
        self.push(tau + FETCH_DELAY_NS, Ev::Fetch);
        self.push(tau + TICK_DELAY_NS, Ev::Tick);
        if let Some(t) = events.tod_at {
            self.push(t, Ev::Tod);
        }
        self.push(tau + NANOS_PER_SEC, Ev::Second);
        if self.leap_trace.is_some() {
            for i in 0..self.utc.leaps().len() {
                if LeapTrace::wants(tau, self.utc.leaps()[i].day_end_ns) {
                    self.push(tau + leaptrace::SAMPLE_AT_NS, Ev::LeapSample(i));
                }
            }
        }
        Ok(())
    }

    /// Hands the engine what the world's leap-seconds list says, when that changed (as the
    /// daemon does before its renewal tick).
    fn leap_notice(&mut self, tau: i64) {
        let n = self.utc.notice(tau);
        if self.leap_notice != Some(n) {
            self.leap_notice = Some(n);
            self.wake(tau, Input::LeapNotice(n));
        }
    }

    /// Reads adjtimex for the engine, then hands it `input`, applying actions after each.
    fn wake(&mut self, tau: i64, input: Input) {
        let at = self.poll(tau);
        self.engine.handle(at, &input, &mut self.actions);
        self.apply(tau);
        self.plan_poll(tau);
    }

    /// Plans the next adjtimex poll after a read at `tau`, on the daemon's rule.
    fn plan_poll(&mut self, tau: i64) {
        let every = self.engine.kernel_poll_interval_ns(LATE_NS);
        self.polls = Polls {
            next: tau.saturating_add(every),
            every,
        };
        if self.opts.every_kernel_poll {
            self.push(self.polls.next, Ev::KernelPoll);
        }
    }

    /// An adjtimex read handed to the engine on its own (the polling timer); returns the
    /// stamp it was handed with.
    fn poll(&mut self, tau: i64) -> Stamp {
        let at = Stamp {
            mono_ns: self.clock.monotonic_ns(),
            real: Timestamp::from_ns(self.clock.realtime_with(tau, 0.0)),
        };
        if let Ok(snap) = self.clock.read() {
            self.engine
                .handle(at, &Input::Kernel(snap), &mut self.actions);
            self.apply(tau);
        }
        self.plan_poll(tau);
        at
    }

    fn apply(&mut self, tau: i64) {
        let mut actions = std::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            match &a {
                Action::Write(_) | Action::Step { .. } => {
                    // A failed write shows up at the next adjtimex read as a foreign change.
                    let _ = crate::apply::apply(&mut self.clock, &a);
                }
                Action::Publish(s) => {
                    self.tracker.publish(tau, s);
                    if let Some(t) = self.leap_trace.as_mut() {
                        let mono = self.clock.monotonic_ns();
                        let real = Timestamp::from_ns(self.clock.realtime_with(tau, 0.0));
                        t.publish(s, mono, real);
                    }
                }
                Action::Event(e) => {
                    self.tracker.event(tau, e);
                    if let Some(t) = self.leap_trace.as_mut() {
                        t.event(tau, e);
                    }
                }
            }
        }
        self.actions = actions;
        self.notice_sets(tau);
    }

    fn notice_sets(&mut self, tau: i64) {
        if self.clock.take_was_set() {
            self.push(tau + NOTICE_DELAY_NS, Ev::ClockChanged);
        }
    }

    fn note_measurement(&mut self) {
        let published = self.engine.published();
        let fresh = published.last_pulse.is_some() && published.last_pulse != self.last_pulse;
        let measured = published.offset_ns;
        self.last_pulse = published.last_pulse;
        let freq = self.clock.adjust_ppb();
        if let Some(row) = &mut self.row {
            row.measured_offset_ns = fresh.then_some(measured);
            row.freq_ppb = freq;
        }
    }

    /// One leap-trace sample at true `tau` for leap `i`.
    fn leap_sample(&mut self, tau: i64, i: usize) {
        let Some(l) = self.utc.leaps().get(i).copied() else {
            return;
        };
        let truth = self.true_offset(tau);
        let mono = self.clock.monotonic_ns();
        let real = Timestamp::from_ns(self.clock.realtime_with(tau, 0.0));
        let kernel = self.clock.read().map(|s| s.state).unwrap_or_default();
        let k = (tau - l.day_end_ns).div_euclid(NANOS_PER_SEC);
        if let Some(t) = self.leap_trace.as_mut() {
            t.sample((k, l.sign), mono, real, truth, kernel);
        }
    }

    fn flush_row(&mut self) -> std::io::Result<()> {
        if let (Some(row), Some(t)) = (self.row.take(), self.trace.as_mut()) {
            row.write_to(&mut **t)?;
        }
        Ok(())
    }
}

//! The sans-IO engine: timestamped inputs in, actions out.
//!
//! The driver (the daemon's event loop, or the simulator) observes something, stamps it with
//! CLOCK_MONOTONIC and CLOCK_REALTIME ([`Stamp`]), and calls [`Engine::handle`]; the engine
//! pushes [`Action`]s into a vector the caller reuses (no allocation per pulse once it has
//! grown): clock writes and steps (applied through [`crate::apply`]), the trust state to publish,
//! and typed events to log. Concerns live in their own files: [`measure`], [`filter`],
//! [`servo`], [`trust`], [`ledger`], [`kernel`], and clock changes in `changes.rs`. The engine
//! never reads a clock or a file, never sleeps, never uses `unsafe` or libc, and never panics
//! on any input.
//!
//! The kernel gives no notice of an adjtimex write; the engine finds someone else's frequency,
//! tick or PLL setting only by comparing reads with what it set. The driver must therefore
//! hand it an adjtimex read before each other input, and besides at most
//! [`Engine::kernel_poll_interval_ns`] after the last one (the rule in [`poll`]; see
//! `docs/trust.md`).

use crate::io::{ClockSnapshot, ClockStatus, Edge, PpsFetch};
use crate::time::{Timestamp, NANOS_PER_SEC};

mod changes;
pub mod event;
pub mod filter;
pub mod kernel;
pub mod leap;
pub mod ledger;
pub mod measure;
pub mod poll;
pub mod servo;
pub mod trust;
pub mod verify;

pub use changes::JUMP_DETECT_NS;
use changes::{leap_delta_ns, LEAP_TOLERANCE_NS};
pub use event::{EngineEvent, ForeignChange, StepReason};
use filter::{PulseFilter, RejectReason, Verdict};
use kernel::{KernelBook, UNSYNC_MAXERROR_US};
use leap::arm::LeapKeeper;
pub use leap::arm::{LeapNotice, LeapSource, LeapView};
use servo::{Servo, ServoPolicy, ServoRunner, ServoState};
pub use trust::{LeapState, Reason, SyncState, TrustConfig, TrustState};
use trust::{ServoView, StepMeter, Trust};
use verify::{Outcome, Verifier, VerifyConfig};

/// Shortest interval between two adjtimex reads the poll rule asks for, ns (CLOCK_MONOTONIC);
/// the interval itself comes from [`Engine::kernel_poll_interval_ns`].
pub const KERNEL_POLL_NS: i64 = poll::MIN_POLL_NS;

/// How far (ns) a pulse that measured `offset_ns` at CLOCK_MONOTONIC `pulse_mono` is from
/// where the servo's model in `view` puts the clock (from zero without a model).
fn distance_from_prediction(view: &ServoView, offset_ns: i64, pulse_mono: i64) -> i64 {
    let predicted = view.model.map_or(0.0, |m| m.offset_at(pulse_mono));
    let d = (offset_ns as f64 - predicted).abs();
    if d.is_finite() {
        d as i64
    } else {
        i64::MAX
    }
}

/// When the driver observed an input: both clocks, read once, right after the observation,
/// and close together: CLOCK_REALTIME − CLOCK_MONOTONIC is how the engine measures steps, so
/// two reads [`JUMP_DETECT_NS`] apart would look like a step (the daemon reads monotonic,
/// realtime, monotonic and retries when the monotonic reads are more than a few µs apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// CLOCK_MONOTONIC, ns.
    pub mono_ns: i64,
    /// CLOCK_REALTIME.
    pub real: Timestamp,
}

/// A leap second announced for the end of the current UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Leap {
    /// None announced.
    #[default]
    None,
    /// 23:59:60 is inserted.
    Insert,
    /// 23:59:59 is skipped.
    Delete,
}

/// A time-of-day reading (NTP/NTS server, gpsd): it numbers the seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TodSample {
    /// Clock minus reference at the input's stamp, ns (whole seconds included).
    pub offset_ns: i64,
    /// Leap second the reference announces (NTP LI, gpsd): for the end of the current *month*,
    /// which is tonight only on a month's last day.
    pub leap: Leap,
    /// Which configured reference read it (its position in the configuration).
    pub source: u8,
    /// True only when the reading's authenticity was cryptographically checked (NTS).
    pub authenticated: bool,
}

/// What the driver hands the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// A `PPS_FETCH` answer (the engine de-duplicates by sequence number and picks its edge).
    Pulse(PpsFetch),
    /// A time-of-day reading.
    Tod(TodSample),
    /// A timer tick: renew the published state, notice lost pulses.
    Tick,
    /// The clock-change watcher fired: CLOCK_REALTIME was set (by anyone, ppsd included).
    ClockChanged,
    /// An adjtimex read (modes 0), to compare with what the engine set.
    Kernel(ClockSnapshot),
    /// The pulse source is gone (the PPS device vanished or cannot be opened): OUT_OF_SYNC at
    /// once, until [`Input::DeviceBack`] and the recovery hysteresis. Pulses that merely stop
    /// while the device is there are holdover, not this.
    DeviceLost,
    /// The pulse source is there again (reopened); pulses must still prove themselves.
    DeviceBack,
    /// What the leap-seconds list says now (the driver sends it at start, on reload and
    /// whenever it changes).
    LeapNotice(LeapNotice),
    /// TAI − UTC now as the leap-seconds list gives it (`None`: no usable list); the engine
    /// sets the kernel's TAI offset to it (`leap/tai.rs`).
    TaiOffset(Option<i32>),
}

/// What the engine asks the driver to do, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Apply this adjtimex write.
    Write(crate::io::ClockWrite),
    /// Step the clock by `delta_ns` (`ADJ_SETOFFSET`).
    Step {
        /// ns added to the clock.
        delta_ns: i64,
    },
    /// Publish this state (shm, metrics, ...).
    Publish(TrustState),
    /// Log this event.
    Event(EngineEvent),
}

/// Engine parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineConfig {
    /// Edge that marks the second.
    pub edge: Edge,
    /// Receiver + cable + capture delay, ns, subtracted from each pulse timestamp.
    pub delay_ns: i64,
    /// Pulse interval tolerance per second beyond the frequency set, ns.
    pub pulse_window_ns: i64,
    /// No accepted pulse for this long (ns) is a loss: holdover.
    pub pulse_timeout_ns: i64,
    /// A clock change within this long (ns) of the engine's own step is taken as that step.
    pub own_step_grace_ns: i64,
    /// Whether the engine may step once the clock has been trusted (operator's choice).
    pub allow_step_after_trust: bool,
    /// Servo policy.
    pub servo: ServoPolicy,
    /// Trust parameters.
    pub trust: TrustConfig,
    /// Second verification policy.
    pub verify: VerifyConfig,
    /// How often the driver must read adjtimex ([`poll`]).
    pub poll: poll::PollRule,
    /// The leap state is published from this long before a leap, s.
    pub leap_lead_s: i64,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            edge: Edge::Assert,
            delay_ns: 0,
            pulse_window_ns: 1_000_000,
            pulse_timeout_ns: 1_500_000_000,
            own_step_grace_ns: NANOS_PER_SEC,
            allow_step_after_trust: false,
            servo: ServoPolicy::default(),
            trust: TrustConfig::default(),
            verify: VerifyConfig::default(),
            poll: poll::PollRule::default(),
            leap_lead_s: 86_400,
        }
    }
}

/// The last accepted pulse.
#[derive(Clone, Copy, Debug)]
struct LastPulse {
    mono_ns: i64,
    stamp: Timestamp,
    /// Offset now (after any own step since), ns.
    offset_ns: i64,
}

/// The engine. One per disciplined clock; owned by the driver's single clock thread.
pub struct Engine {
    cfg: EngineConfig,
    filter: PulseFilter,
    servo: ServoRunner,
    trust: Trust,
    book: KernelBook,
    started: bool,
    last: Option<LastPulse>,
    in_holdover: bool,
    own_step_until: Option<i64>,
    verify: Verifier,
    leap: LeapKeeper,
    tai: leap::tai::TaiKeeper,
    published: TrustState,
    steps: StepMeter,
}

impl Engine {
    /// An engine with `cfg` driving `servo`.
    pub fn new(cfg: EngineConfig, servo: Box<dyn Servo>) -> Engine {
        Engine {
            filter: PulseFilter::new(cfg.pulse_window_ns),
            servo: ServoRunner::new(servo, cfg.servo),
            trust: Trust::new(cfg.trust),
            book: KernelBook::default(),
            started: false,
            last: None,
            in_holdover: false,
            own_step_until: None,
            verify: Verifier::new(cfg.verify),
            leap: LeapKeeper::new(cfg.leap_lead_s),
            tai: leap::tai::TaiKeeper::default(),
            published: TrustState::default(),
            steps: StepMeter::default(),
            cfg,
        }
    }

    /// The servo's name.
    pub fn servo_name(&self) -> &'static str {
        self.servo.name()
    }

    /// The servo's lock state.
    pub fn servo_state(&self) -> ServoState {
        self.servo.state()
    }

    /// The state last published.
    pub fn published(&self) -> &TrustState {
        &self.published
    }

    /// The configured references changed (reload): readings are kept by position, so those
    /// judged so far are dropped, and the sources' own tolerances are taken from `verify`
    /// (the rest of the policy stays as started). A verified numbering stays; fresh readings
    /// renew it.
    pub fn references_changed(&mut self, verify: &VerifyConfig) {
        self.verify.forget();
        self.verify
            .set_source_tolerances(verify.source_tolerance_ns);
    }

    /// How long (ns, CLOCK_MONOTONIC) after the adjtimex read that preceded the state now
    /// published the driver may hand the next one, for a driver whose timer fires up to
    /// `late_ns` late: see [`poll::interval_ns`].
    pub fn kernel_poll_interval_ns(&self, late_ns: i64) -> i64 {
        let accuracy = self.cfg.trust.declared_accuracy_ns;
        poll::interval_ns(&self.cfg.poll, &self.published, accuracy, late_ns)
    }

    /// The untrusted interval in progress, if any (the daemon records it when it stops).
    pub fn untrusted_open(&self) -> Option<ledger::UntrustedBegan> {
        self.trust.ledger().open()
    }

    /// Handles one input observed at `at`, appending actions to `out` (not cleared here).
    ///
    /// The driver should hand over an adjtimex read (`Input::Kernel`) before the first pulse
    /// (the servo starts from the kernel's frequency) and before each wake's input (so a
    /// foreign frequency is found before the engine overwrites it), and report every
    /// clock-change notice, its own steps' included: the engine tells them apart.
    pub fn handle(&mut self, at: Stamp, input: &Input, out: &mut Vec<Action>) {
        self.steps.observe(at);
        self.track_leap(at, out);
        self.check_jump(at, out);
        match input {
            Input::Pulse(fetch) => self.on_pulse(at, fetch, out),
            Input::Tod(tod) => self.on_tod(at, tod, out),
            Input::Tick => self.on_tick(at, out),
            Input::ClockChanged => self.on_clock_changed(at, out),
            Input::Kernel(snap) => {
                self.leap_kernel(snap, out);
                if self.on_kernel(snap, out) {
                    self.publish(at, out);
                }
            }
            Input::DeviceLost | Input::DeviceBack => {
                self.trust
                    .device_present(matches!(input, Input::DeviceBack));
                self.on_tick(at, out);
            }
            Input::LeapNotice(n) => self.leap_notice(at, *n, out),
            Input::TaiOffset(t) => self.tai.set_want(*t),
        }
    }

    fn on_pulse(&mut self, at: Stamp, fetch: &PpsFetch, out: &mut Vec<Action>) {
        let (seq, stamp) = match self.cfg.edge {
            Edge::Assert => (fetch.assert_seq, fetch.assert),
            Edge::Clear => (fetch.clear_seq, fetch.clear),
        };
        let m = measure::measure(stamp, self.cfg.delay_ns);
        // The pulse's instant on the monotonic clock: the handling stamp less the time since
        // the kernel stamped it.
        let pulse_mono = at
            .mono_ns
            .saturating_sub(at.real.diff_ns(stamp).clamp(0, NANOS_PER_SEC));
        // Where the servo's model puts the clock at this pulse, before the servo takes it.
        let prior = self.view_with(self.book.set_ppb());
        let distance = distance_from_prediction(&prior, m.offset_ns, pulse_mono);
        self.trust
            .before_pulse(self.trust.spread_at(pulse_mono, &prior));
        match self.filter.check(seq, stamp, self.book.set_ppb()) {
            Verdict::Accept => {}
            Verdict::Duplicate => return self.on_tick(at, out),
            Verdict::Reject(reason) => {
                if let RejectReason::Interval { .. } = reason {
                    // A pulse off the whole second: the pulse or the clock moved.
                    self.trust.pulse_doubt(distance);
                }
                out.push(Action::Event(EngineEvent::PulseRejected { seq, reason }));
                return self.on_tick(at, out);
            }
        }
        if self.in_holdover {
            self.in_holdover = false;
            let gap_ns = self
                .last
                .map_or(0, |l| at.mono_ns.saturating_sub(l.mono_ns));
            out.push(Action::Event(EngineEvent::PulseRegained { gap_ns }));
        }
        let may_step = !self.trust.ever_trusted() || self.cfg.allow_step_after_trust;
        self.servo.set_acquiring(!self.trust.ever_trusted());
        let sample = self
            .servo
            .sample(m.offset_ns, pulse_mono, at.mono_ns, may_step);
        if let Some(shift) = sample.shift {
            out.push(Action::Event(EngineEvent::PulseTrainShift(shift)));
            self.trust.pulse_train_shift(shift);
        }
        if sample.restarted {
            // The servo's model was wrong, not the train: acquisition starts over.
            let freq_ppb = sample.freq_ppb;
            out.push(Action::Event(EngineEvent::FrequencyReset { freq_ppb }));
            self.trust.model_restarted();
        }
        if sample.rejected {
            let offset_ns = m.offset_ns;
            let reason = if self.trust.train_suspect() {
                RejectReason::MovedTrain { offset_ns }
            } else {
                RejectReason::Outlier { offset_ns }
            };
            out.push(Action::Event(EngineEvent::PulseRejected { seq, reason }));
            self.trust.pulse_doubt(distance);
            let state = self.publish(at, out);
            return self.write_clock(Some(sample.freq_ppb), &state, out);
        }
        let mut offset_now = m.offset_ns;
        if let Some(delta_ns) = sample.step_ns {
            self.step(at, delta_ns, StepReason::Phase, out);
            offset_now = offset_now.saturating_add(delta_ns);
        }
        self.last = Some(LastPulse {
            mono_ns: at.mono_ns,
            stamp,
            offset_ns: offset_now,
        });
        let freq = (sample.state != ServoState::Unlocked).then_some(sample.freq_ppb);
        let mut view = self.view_with(freq.unwrap_or(self.book.set_ppb()));
        self.trust.pulse(at, stamp, m.offset_ns, &view);
        self.check_held(at, out);
        view.freq_ppb = self.book.set_ppb();
        let state = self.publish_view(at, &view, out);
        self.write_clock(freq, &state, out);
    }

    fn on_tick(&mut self, at: Stamp, out: &mut Vec<Action>) {
        self.check_lapse(at, out);
        let before = self.published.state;
        let lost = self.check_pulse_loss(at, out);
        let state = self.publish(at, out);
        if lost || state.state != before {
            let freq = lost.then(|| self.servo.holdover(at.mono_ns));
            self.write_clock(freq, &state, out);
        }
    }

    fn on_tod(&mut self, at: Stamp, tod: &TodSample, out: &mut Vec<Action>) {
        self.leap_reference(at, tod, out);
        if self.leap_ambiguous(at, tod, out) {
            // Not judged: see `leap/arm.rs` (AMBIGUOUS_NS).
        } else if self.last.is_some() {
            self.check_seconds(at, tod, out);
        } else {
            self.verify.hold(at.mono_ns, *tod);
        }
        self.publish(at, out);
    }

    /// Returns true when something foreign was found (and published about).
    fn on_kernel(&mut self, snap: &ClockSnapshot, out: &mut Vec<Action>) -> bool {
        if !self.started {
            self.started = true;
            let ppb = self.book.adopt(snap);
            self.servo.reset(ppb);
            out.push(Action::Event(EngineEvent::FrequencyReset { freq_ppb: ppb }));
        }
        let Some(change) = self.book.check(snap) else {
            return false;
        };
        self.foreign(change, out);
        out.push(Action::Write(
            self.book.restore(self.status_word(SyncState::OutOfSync)),
        ));
        // The clock ran at someone else's rate for a while: its phase moved by an unknown
        // amount, so the servo starts over from the frequency just restored.
        self.servo.reset(self.book.set_ppb());
        true
    }

    fn foreign(&mut self, change: ForeignChange, out: &mut Vec<Action>) {
        self.trust.foreign_change();
        self.verify.forget();
        out.push(Action::Event(EngineEvent::ForeignChange(change)));
    }

    fn step(&mut self, at: Stamp, delta_ns: i64, reason: StepReason, out: &mut Vec<Action>) {
        out.push(Action::Step { delta_ns });
        out.push(Action::Event(EngineEvent::Stepped { delta_ns, reason }));
        self.filter.shift(delta_ns);
        self.steps.explain(delta_ns);
        self.trust.clock_stepped(delta_ns);
        self.trust.stepped();
        self.own_step_until = Some(at.mono_ns.saturating_add(self.cfg.own_step_grace_ns));
        self.verify.stepped(delta_ns);
    }

    /// Judges a time-of-day reading against the pulses and applies the verification policy
    /// (`verify.rs`): verified, stepped by whole seconds before trust, or disputed.
    fn check_seconds(&mut self, at: Stamp, tod: &TodSample, out: &mut Vec<Action>) {
        let Some(last) = self.last else { return };
        if let Some(d) = self.verify.record(at.mono_ns, tod, last.offset_ns) {
            out.push(Action::Event(EngineEvent::ReferenceDissents(d)));
        }
        self.apply_verification(at, out);
    }

    /// Judges the readings held until the first pulse, at their own times.
    fn check_held(&mut self, at: Stamp, out: &mut Vec<Action>) {
        let Some(last) = self.last else { return };
        let mut any = false;
        while let Some((mono_ns, tod)) = self.verify.take_held() {
            any = true;
            // Taken before this pulse was handled; a stamp past it would be a driver's slip.
            let taken = mono_ns.min(at.mono_ns);
            if let Some(d) = self.verify.record(taken, &tod, last.offset_ns) {
                out.push(Action::Event(EngineEvent::ReferenceDissents(d)));
            }
        }
        if any {
            self.apply_verification(at, out);
        }
    }

    fn apply_verification(&mut self, at: Stamp, out: &mut Vec<Action>) {
        let was_verified = self.trust.verified();
        match self.verify.decide(at.mono_ns) {
            Outcome::Verified => {
                self.trust.reference(true);
                let renewed = self.verify.take_renewed();
                if !was_verified || renewed {
                    out.push(Action::Event(EngineEvent::ReferenceAgrees));
                }
            }
            Outcome::Elsewhere { seconds }
                if !self.trust.ever_trusted() || self.cfg.allow_step_after_trust =>
            {
                let delta_ns = seconds.saturating_mul(-NANOS_PER_SEC);
                self.step(at, delta_ns, StepReason::WholeSeconds, out);
                self.trust.reference(true);
                let _ = self.verify.decide(at.mono_ns);
            }
            Outcome::Elsewhere { seconds } | Outcome::Disputed { seconds } => {
                if was_verified {
                    out.push(Action::Event(EngineEvent::ReferenceDisagrees { seconds }));
                }
                self.trust.reference(false);
            }
            // Too few fresh readings: a verified numbering stays (see `check_lapse`), an
            // unverified one stays unverified.
            Outcome::Unverified => {}
        }
    }

    /// Logs, once, that the verification could not be renewed within the recheck period.
    /// The state does not change: the numbering verified then can only change by a step the
    /// engine sees (docs/trust.md, "Second verification").
    fn check_lapse(&mut self, at: Stamp, out: &mut Vec<Action>) {
        if !self.trust.verified() {
            return;
        }
        if let Some(since_ns) = self.verify.lapse(at.mono_ns) {
            out.push(Action::Event(EngineEvent::VerificationLapsed { since_ns }));
        }
    }

    /// Enters holdover when the last accepted pulse is too old; true when it just did.
    fn check_pulse_loss(&mut self, at: Stamp, out: &mut Vec<Action>) -> bool {
        let Some(last) = self.last else { return false };
        if self.in_holdover || at.mono_ns.saturating_sub(last.mono_ns) <= self.cfg.pulse_timeout_ns
        {
            return false;
        }
        self.in_holdover = true;
        out.push(Action::Event(EngineEvent::PulseLost {
            last_pulse: last.stamp,
        }));
        self.servo.state().is_locked()
    }

    /// Re-decides the leap (arming, disarming, giving up) at `at`; see `leap/arm.rs`.
    fn track_leap(&mut self, at: Stamp, out: &mut Vec<Action>) {
        let pending = self.leap.armed();
        let mut buf = Vec::new();
        let jump_seen = pending.is_some_and(|(leap, _)| {
            let delta_ns = leap_delta_ns(leap);
            self.steps
                .peek()
                .is_some_and(|j| (j - delta_ns).abs() <= LEAP_TOLERANCE_NS)
        });
        self.leap.set_jump_seen(jump_seen);
        if let Some((leap, midnight)) = pending {
            if at.real.sec() > midnight + 2 {
                // Its notice never came; if the stamps show the leap, it was the kernel's.
                let delta_ns = leap_delta_ns(leap);
                if let Some(jump) = self.steps.peek() {
                    if (jump - delta_ns).abs() <= LEAP_TOLERANCE_NS {
                        self.steps.explain(delta_ns);
                        self.trust.clock_stepped(delta_ns);
                        self.leap.stepped();
                        out.push(Action::Event(EngineEvent::LeapApplied(leap)));
                    }
                }
            }
        }
        let up = self.leap.update(at.real, &mut buf);
        out.extend(buf.into_iter().map(Action::Event));
        if up.not_applied {
            // The clock is a second off UTC: not in sync until re-verified.
            self.trust.foreign_change();
        }
        if up.status_changed {
            let state = self.publish(at, out);
            self.write_clock(None, &state, out);
        }
    }

    fn leap_notice(&mut self, at: Stamp, n: LeapNotice, out: &mut Vec<Action>) {
        self.leap.notice(n);
        self.track_leap(at, out);
        self.publish(at, out);
    }

    fn leap_reference(&mut self, at: Stamp, tod: &TodSample, out: &mut Vec<Action>) {
        let mut buf = Vec::new();
        self.leap
            .reference(at.real, tod.leap, tod.authenticated, &mut buf);
        out.extend(buf.into_iter().map(Action::Event));
        self.track_leap(at, out);
    }

    /// True (and logged) when `tod` was read too close to a leap's midnight to be judged.
    fn leap_ambiguous(&mut self, at: Stamp, tod: &TodSample, out: &mut Vec<Action>) -> bool {
        let stamp_ns = at.real.as_ns();
        let reference_ns = stamp_ns.saturating_sub(tod.offset_ns);
        if !(self.leap.ambiguous_at(stamp_ns) || self.leap.ambiguous_at(reference_ns)) {
            return false;
        }
        out.push(Action::Event(EngineEvent::LeapReadingSkipped {
            source: tod.source,
            offset_ns: tod.offset_ns,
        }));
        true
    }

    fn leap_kernel(&mut self, snap: &ClockSnapshot, out: &mut Vec<Action>) {
        let mut buf = Vec::new();
        self.leap.kernel(snap, &mut buf);
        out.extend(buf.into_iter().map(Action::Event));
        if let Some((from_s, to_s)) = self.tai.check(snap) {
            out.push(Action::Write(crate::io::ClockWrite {
                tai_s: Some(to_s),
                ..crate::io::ClockWrite::default()
            }));
            out.push(Action::Event(EngineEvent::TaiSet { from_s, to_s }));
        }
    }

    fn view_with(&self, freq_ppb: f64) -> ServoView {
        ServoView {
            locked: self.servo.state().is_locked(),
            freq_uncertainty_ppb: self.servo.freq_uncertainty_ppb(),
            freq_ppb,
            model: self.servo.phase_model(),
            holdover: self.in_holdover || self.trust.train_suspect(),
        }
    }

    fn publish(&mut self, at: Stamp, out: &mut Vec<Action>) -> TrustState {
        let view = self.view_with(self.book.set_ppb());
        self.publish_view(at, &view, out)
    }

    fn publish_view(&mut self, at: Stamp, view: &ServoView, out: &mut Vec<Action>) -> TrustState {
        let (leap, leap_view) = self.leap.published(at.real);
        let mut state = self.trust.evaluate(at, view, leap, out);
        state.leap_view = leap_view;
        self.published = state;
        out.push(Action::Publish(state));
        state
    }

    fn status_word(&self, state: SyncState) -> ClockStatus {
        let mut status = ClockStatus::empty();
        if !matches!(state, SyncState::InSync | SyncState::SoonOutOfSync) {
            status |= ClockStatus::UNSYNC;
        }
        status | self.leap.status_bits()
    }

    /// One adjtimex write: frequency (when `Some`), status, maxerror and esterror.
    fn write_clock(&mut self, freq_ppb: Option<f64>, state: &TrustState, out: &mut Vec<Action>) {
        let trusted = matches!(state.state, SyncState::InSync | SyncState::SoonOutOfSync);
        let maxerror_us = if trusted {
            state.bound_ns.saturating_add(999) / 1_000
        } else {
            UNSYNC_MAXERROR_US
        };
        let esterror_us = (self.trust.sigma_ns() / 1_000.0).ceil() as i64;
        let status = self.status_word(state.state);
        let write = self
            .book
            .compose(freq_ppb, status, maxerror_us, esterror_us);
        out.push(Action::Write(write));
    }
}

#[cfg(test)]
mod tests;

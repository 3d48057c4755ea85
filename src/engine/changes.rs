//! Changes of CLOCK_REALTIME: ppsd's own steps (taken out of the measurement), the leap second
//! the kernel applies, and everyone else's steps — found by the clock-change notice or, first,
//! by the jump of CLOCK_REALTIME − CLOCK_MONOTONIC in the stamps, and measured there.
//!
//! Part of the engine (`impl Engine`): it decides nothing about trust itself but reports to the
//! trust engine, and it never reads a clock.

use super::event::{EngineEvent, ForeignChange};
use super::{Action, Engine, Leap, Stamp};
use crate::time::NANOS_PER_SEC;

/// A step of CLOCK_REALTIME seen in the stamps at least this large (ns) is acted on at once,
/// before the clock-change notice; smaller ones wait for the notice and are only measured.
pub const JUMP_DETECT_NS: i64 = 10_000;
/// How close (ns) a step seen in the stamps must be to ±1 s to be the armed leap second.
pub(super) const LEAP_TOLERANCE_NS: i64 = 1_000_000;

/// The step of CLOCK_REALTIME a leap second makes, ns.
pub(super) fn leap_delta_ns(leap: Leap) -> i64 {
    match leap {
        Leap::Insert => -NANOS_PER_SEC,
        Leap::Delete => NANOS_PER_SEC,
        Leap::None => 0,
    }
}

impl Engine {
    /// The clock-change watcher fired: ppsd's own step (within the grace after it), the armed
    /// leap second, or someone else's step.
    pub(super) fn on_clock_changed(&mut self, at: Stamp, out: &mut Vec<Action>) {
        if let Some(until) = self.own_step_until.take() {
            if at.mono_ns <= until {
                return;
            }
        }
        match self.leap.armed() {
            Some((leap, midnight)) if (at.real.sec() - midnight).abs() <= 2 => {
                self.leap_applied(at, leap, out)
            }
            _ => self.foreign_step(at, out),
        }
    }

    /// A step of CLOCK_REALTIME nobody has explained shows in the stamps, before (or without)
    /// the clock-change notice: someone else's step, handled at once; the notice that follows
    /// is then taken as this change. The armed leap second is left to its notice: a pulse
    /// stamped just before the leap may still be fetched after it, and the filter must see
    /// that pulse before it shifts its stamps by the leap.
    pub(super) fn check_jump(&mut self, at: Stamp, out: &mut Vec<Action>) {
        let Some(jump) = self.steps.peek().filter(|j| j.abs() >= JUMP_DETECT_NS) else {
            return;
        };
        if self.is_leap_jump(at, jump) {
            return;
        }
        self.foreign_step(at, out);
        self.own_step_until = Some(at.mono_ns.saturating_add(self.cfg.own_step_grace_ns));
    }

    /// True when `jump` (ns), seen at `at`, is the armed leap second.
    fn is_leap_jump(&self, at: Stamp, jump: i64) -> bool {
        self.leap.armed().is_some_and(|(leap, midnight)| {
            (at.real.sec() - midnight).abs() <= 2
                && (jump - leap_delta_ns(leap)).abs() <= LEAP_TOLERANCE_NS
        })
    }

    /// The kernel applied the armed leap second.
    fn leap_applied(&mut self, at: Stamp, leap: Leap, out: &mut Vec<Action>) {
        self.leap.stepped();
        out.push(Action::Event(EngineEvent::LeapApplied(leap)));
        let delta_ns = leap_delta_ns(leap);
        self.filter.shift(delta_ns);
        self.steps.explain(delta_ns);
        self.trust.clock_stepped(delta_ns);
        let state = self.publish(at, out);
        self.write_clock(None, &state, out);
    }

    /// Someone else stepped the clock: OUT_OF_SYNC at once, logged with its size when the
    /// stamps measured it.
    fn foreign_step(&mut self, at: Stamp, out: &mut Vec<Action>) {
        let change = match self.steps.take() {
            Some(delta_ns) => {
                self.trust.clock_stepped(delta_ns);
                ForeignChange::SteppedBy { delta_ns }
            }
            None => ForeignChange::Step,
        };
        self.foreign(change, out);
        self.filter.forget();
        // The phase the servo tracked is gone; it starts over from the frequency it set.
        self.servo.reset(self.book.set_ppb());
        self.publish(at, out);
    }
}

//! The simulated kernel clock: CLOCK_REALTIME and CLOCK_MONOTONIC of a machine whose oscillator
//! is [`Oscillator`], disciplined through adjtimex semantics (frequency, tick, `ADJ_SETOFFSET`
//! steps, status bits with read-only ones kept, maxerror growing 500 µs/s and STA_UNSYNC past
//! 16 s, the leap state machine OK → INS/DEL → OOP → WAIT → OK).
//!
//! Its reading is a pure function of true time (integer ns since the start of the run) and of
//! the history of writes and steps: realtime = epoch + τ + integer steps + round(oscillator
//! phase plus kernel adjustment phase). It implements [`DisciplinedClock`] at the current true
//! time, which only the driver moves ([`SimClock::advance`]). It never touches the host's clock.

use crate::io::{
    ClockSnapshot, ClockState, ClockStatus, ClockWrite, DeviceError, DeviceErrorCause,
    DisciplinedClock, ScaledPpm,
};
use crate::time::{Timestamp, NANOS_PER_SEC};

use super::oscillator::Oscillator;

/// Status bits user space cannot change (`STA_RONLY`).
const READ_ONLY: ClockStatus = ClockStatus::PPSSIGNAL
    .union(ClockStatus::PPSJITTER)
    .union(ClockStatus::PPSWANDER)
    .union(ClockStatus::PPSERROR)
    .union(ClockStatus::CLOCKERR)
    .union(ClockStatus::NANO)
    .union(ClockStatus::MODE)
    .union(ClockStatus::CLK);
/// maxerror beyond which the kernel sets STA_UNSYNC (NTP_PHASE_LIMIT), µs.
const PHASE_LIMIT_US: i64 = 16_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// The simulated clock.
#[derive(Clone, Debug)]
pub struct SimClock {
    osc: Oscillator,
    epoch_ns: i64,
    mono_epoch_ns: i64,
    /// Initial offset plus every step and leap, ns (realtime only).
    stepped_ns: i64,
    now: i64,
    seg_tau: i64,
    seg_phase_ns: f64,
    rate_ppb: f64,
    freq: ScaledPpm,
    tick_us: i64,
    status: ClockStatus,
    maxerror_us: i64,
    maxerror_tau: i64,
    esterror_us: i64,
    tai_s: i32,
    leap: ClockState,
    oop_until: i64,
    was_set: bool,
}

impl SimClock {
    /// A clock that reads `epoch_ns + initial_offset_ns` at true time 0, unsynchronised, with
    /// nominal frequency and tick.
    pub fn new(osc: Oscillator, epoch_ns: i64, initial_offset_ns: i64) -> SimClock {
        SimClock {
            osc,
            epoch_ns,
            mono_epoch_ns: 1_000 * NANOS_PER_SEC,
            stepped_ns: initial_offset_ns,
            now: 0,
            seg_tau: 0,
            seg_phase_ns: 0.0,
            rate_ppb: 0.0,
            freq: ScaledPpm(0),
            tick_us: 10_000,
            status: ClockStatus::UNSYNC | ClockStatus::NANO,
            maxerror_us: PHASE_LIMIT_US,
            maxerror_tau: 0,
            esterror_us: PHASE_LIMIT_US,
            tai_s: 37,
            leap: ClockState::Ok,
            oop_until: 0,
            was_set: false,
        }
    }

    /// Current true time, ns since the start of the run.
    pub fn true_now(&self) -> i64 {
        self.now
    }

    /// Moves true time forward to `tau` (never back), running the leap state machine.
    pub fn advance(&mut self, tau: i64) {
        let tau = tau.max(self.now);
        if self.leap == ClockState::Oop && tau >= self.oop_until {
            self.leap = ClockState::Wait;
        }
        let armed = match self.leap {
            ClockState::Ins if self.status.contains(ClockStatus::INS) => Some(-NANOS_PER_SEC),
            ClockState::Del if self.status.contains(ClockStatus::DEL) => Some(NANOS_PER_SEC),
            _ => None,
        };
        if let Some(delta) = armed {
            let now_reading = self.realtime_ns(self.now);
            let day_end = (now_reading
                .div_euclid(NANOS_PER_SEC)
                .div_euclid(SECONDS_PER_DAY)
                + 1)
                * SECONDS_PER_DAY
                * NANOS_PER_SEC;
            // Insert: at 24:00:00 go back to 23:59:59. Delete: at 23:59:59 jump to 24:00:00.
            let at_reading = if delta < 0 {
                day_end
            } else {
                day_end - NANOS_PER_SEC
            };
            if self.realtime_ns(tau) >= at_reading && now_reading < at_reading {
                let cross = self.crossing(self.now, tau, at_reading);
                self.now = cross;
                self.stepped_ns += delta;
                self.was_set = true;
                self.leap = if delta < 0 {
                    ClockState::Oop
                } else {
                    ClockState::Wait
                };
                self.oop_until = cross + NANOS_PER_SEC;
            }
        }
        self.now = tau;
    }

    /// First true instant in `lo..=hi` at which the realtime reading reaches `target`.
    fn crossing(&mut self, mut lo: i64, mut hi: i64, target: i64) -> i64 {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.realtime_ns(mid) >= target {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        hi
    }

    /// Phase the kernel frequency and tick have added by true time `tau`, ns.
    fn adjust_ns(&self, tau: i64) -> f64 {
        self.seg_phase_ns + (tau - self.seg_tau) as f64 * 1e-9 * self.rate_ppb
    }

    /// The clock's error from continuous true time at `tau` (ns, small-difference f64):
    /// steps and leaps included, UTC's own leaps not.
    pub fn error_ns(&mut self, tau: i64) -> f64 {
        self.stepped_ns as f64 + self.osc.phase_ns(tau) + self.adjust_ns(tau)
    }

    /// CLOCK_REALTIME at true time `tau`, plus `extra_ns` (capture noise), in integer ns.
    pub fn realtime_with(&mut self, tau: i64, extra_ns: f64) -> i64 {
        let frac = (self.osc.phase_ns(tau) + self.adjust_ns(tau) + extra_ns).round() as i64;
        self.epoch_ns + tau + self.stepped_ns + frac
    }

    fn realtime_ns(&mut self, tau: i64) -> i64 {
        self.realtime_with(tau, 0.0)
    }

    /// CLOCK_MONOTONIC at the current true time: slewed like realtime, never stepped.
    pub fn monotonic_ns(&mut self) -> i64 {
        let tau = self.now;
        let frac = (self.osc.phase_ns(tau) + self.adjust_ns(tau)).round() as i64;
        self.mono_epoch_ns + tau + frac
    }

    /// The kernel frequency adjustment in force, ppb (frequency and tick together).
    pub fn adjust_ppb(&self) -> f64 {
        self.rate_ppb
    }

    /// True once since the last call if the clock was set (step or leap): what a timerfd with
    /// `TFD_TIMER_CANCEL_ON_SET` reports.
    pub fn take_was_set(&mut self) -> bool {
        std::mem::take(&mut self.was_set)
    }

    fn snapshot(&mut self) -> ClockSnapshot {
        let elapsed_s = (self.now - self.maxerror_tau).max(0) / NANOS_PER_SEC;
        let maxerror_us = self
            .maxerror_us
            .saturating_add(elapsed_s.saturating_mul(500))
            .min(PHASE_LIMIT_US);
        let mut status = self.status;
        if maxerror_us >= PHASE_LIMIT_US {
            status |= ClockStatus::UNSYNC;
        }
        let state = if status.contains(ClockStatus::UNSYNC) {
            ClockState::Error
        } else {
            self.leap
        };
        ClockSnapshot {
            time: Timestamp::from_ns(self.realtime_ns(self.now)),
            freq: self.freq,
            offset: 0,
            tick_us: self.tick_us,
            status,
            maxerror_us,
            esterror_us: self.esterror_us,
            tai_s: self.tai_s,
            state,
        }
    }

    fn update_leap_state(&mut self) {
        let ins = self.status.contains(ClockStatus::INS);
        let del = self.status.contains(ClockStatus::DEL);
        self.leap = match self.leap {
            ClockState::Ok | ClockState::Error if ins => ClockState::Ins,
            ClockState::Ok | ClockState::Error if del => ClockState::Del,
            ClockState::Ins if !ins => ClockState::Ok,
            ClockState::Del if !del => ClockState::Ok,
            ClockState::Wait if !ins && !del => ClockState::Ok,
            other => other,
        };
    }
}

impl DisciplinedClock for SimClock {
    fn now(&mut self) -> Result<Timestamp, DeviceError> {
        Ok(Timestamp::from_ns(self.realtime_ns(self.now)))
    }

    fn read(&mut self) -> Result<ClockSnapshot, DeviceError> {
        Ok(self.snapshot())
    }

    fn write(&mut self, w: &ClockWrite) -> Result<ClockSnapshot, DeviceError> {
        if let Some(tick) = w.tick_us {
            if !(9_000..=11_000).contains(&tick) {
                let cause = DeviceErrorCause::Os(libc::EINVAL);
                return Err(DeviceError::new("simulated clock", "adjtimex", cause));
            }
        }
        if w.freq.is_some() || w.tick_us.is_some() {
            self.seg_phase_ns = self.adjust_ns(self.now);
            self.seg_tau = self.now;
            if let Some(f) = w.freq {
                self.freq = f.clamp(ScaledPpm(-ScaledPpm::MAX.0), ScaledPpm::MAX);
            }
            if let Some(t) = w.tick_us {
                self.tick_us = t;
            }
            self.rate_ppb = self.freq.to_ppb() + (self.tick_us - 10_000) as f64 * 100_000.0;
        }
        if let Some(s) = w.status {
            self.status = (self.status & READ_ONLY) | (s - READ_ONLY);
            self.update_leap_state();
        }
        if let Some(m) = w.maxerror_us {
            self.maxerror_us = m.clamp(0, PHASE_LIMIT_US);
            self.maxerror_tau = self.now;
        }
        if let Some(e) = w.esterror_us {
            self.esterror_us = e.clamp(0, PHASE_LIMIT_US);
        }
        if let Some(t) = w.tai_s {
            self.tai_s = t;
        }
        Ok(self.snapshot())
    }

    fn step(&mut self, delta_ns: i64) -> Result<ClockSnapshot, DeviceError> {
        self.stepped_ns = self.stepped_ns.saturating_add(delta_ns);
        self.was_set = true;
        Ok(self.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oscillator::OscillatorConfig;
    use rand::SeedableRng;

    fn clock(freq_ppm: f64) -> SimClock {
        let cfg = OscillatorConfig {
            freq_ppm,
            ..Default::default()
        };
        let osc = Oscillator::new(cfg, rand_chacha::ChaCha8Rng::seed_from_u64(1));
        SimClock::new(osc, 1_767_225_600 * NANOS_PER_SEC, 0)
    }

    #[test]
    fn frequency_and_tick_writes_change_the_rate_from_then_on() {
        let mut c = clock(0.0);
        c.advance(10 * NANOS_PER_SEC);
        let w = ClockWrite {
            freq: Some(ScaledPpm::from_ppb(-20_000.0)),
            tick_us: Some(10_001),
            ..Default::default()
        };
        c.write(&w).unwrap();
        c.advance(12 * NANOS_PER_SEC);
        // 2 s at +100 ppm − 20 ppm = 160 µs.
        assert!((c.error_ns(12 * NANOS_PER_SEC) - 160_000.0).abs() < 1e-6);
        let bad = ClockWrite {
            tick_us: Some(12_000),
            ..Default::default()
        };
        assert!(c.write(&bad).is_err());
    }

    #[test]
    fn status_keeps_read_only_bits_and_maxerror_grows() {
        let mut c = clock(0.0);
        let w = ClockWrite {
            status: Some(ClockStatus::PPSSIGNAL),
            maxerror_us: Some(1_000),
            ..Default::default()
        };
        let s = c.write(&w).unwrap();
        assert_eq!(s.status, ClockStatus::NANO);
        assert_eq!(s.state, ClockState::Ok);
        c.advance(3 * NANOS_PER_SEC + 5);
        assert_eq!(c.read().unwrap().maxerror_us, 2_500);
        c.advance(40_000 * NANOS_PER_SEC);
        let s = c.read().unwrap();
        assert!(s.status.contains(ClockStatus::UNSYNC));
        assert_eq!(s.state, ClockState::Error);
    }

    #[test]
    fn inserts_a_leap_second_at_midnight() {
        let mut c = clock(0.0);
        let day_end = 86_400 * NANOS_PER_SEC;
        c.advance(day_end - 10 * NANOS_PER_SEC);
        let w = ClockWrite {
            status: Some(ClockStatus::INS),
            maxerror_us: Some(0),
            ..Default::default()
        };
        assert_eq!(c.write(&w).unwrap().state, ClockState::Ins);
        c.advance(day_end - 1);
        assert!(!c.take_was_set());
        c.advance(day_end + 500_000_000);
        assert!(c.take_was_set());
        let now = c.now().unwrap();
        assert_eq!(now, Timestamp::new(1_767_225_600 + 86_399, 500_000_000));
        assert_eq!(c.read().unwrap().state, ClockState::Oop);
        c.advance(day_end + 2 * NANOS_PER_SEC);
        assert_eq!(c.read().unwrap().state, ClockState::Wait);
        c.write(&ClockWrite {
            status: Some(ClockStatus::empty()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.read().unwrap().state, ClockState::Ok);
    }
}

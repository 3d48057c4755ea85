//! The engine's side of the kernel clock: what it last wrote, the writes it composes
//! (frequency split into `ADJ_FREQUENCY`/`ADJ_TICK`, status word, maxerror, esterror), and the
//! check of an adjtimex read against them that finds foreign changes.
//!
//! Pure bookkeeping: it never performs a write itself (the caller applies the returned
//! [`ClockWrite`] through `crate::apply`).

use crate::io::{ClockSnapshot, ClockStatus, ClockWrite, ScaledPpm};

use super::event::ForeignChange;
use super::servo::{kernel_freq, kernel_rate_ppb};

/// Kernel discipline modes ppsd never uses; finding one set means someone else is steering.
const FOREIGN_MODES: ClockStatus = ClockStatus::PLL
    .union(ClockStatus::PPSFREQ)
    .union(ClockStatus::PPSTIME)
    .union(ClockStatus::FLL);

/// `maxerror` while not trusted: the kernel's own "unsynchronised" limit (16 s).
pub const UNSYNC_MAXERROR_US: i64 = 16_000_000;

/// What the engine last wrote to the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelBook {
    freq: Option<ScaledPpm>,
    tick_us: Option<i64>,
    set_ppb: f64,
}

impl KernelBook {
    /// The frequency (ppb) last set, or the kernel's own before the first write.
    pub fn set_ppb(&self) -> f64 {
        self.set_ppb
    }

    /// True once the engine has written a frequency.
    pub fn owns_frequency(&self) -> bool {
        self.freq.is_some()
    }

    /// Adopts the kernel's frequency before the first write (the servo starts from it).
    pub fn adopt(&mut self, snap: &ClockSnapshot) -> f64 {
        self.set_ppb = kernel_rate_ppb(snap.freq, snap.tick_us);
        self.set_ppb
    }

    /// A write of frequency `ppb` (when `Some`), status, maxerror and esterror; remembers it.
    pub fn compose(
        &mut self,
        ppb: Option<f64>,
        status: ClockStatus,
        maxerror_us: i64,
        esterror_us: i64,
    ) -> ClockWrite {
        let mut w = ClockWrite {
            status: Some(status),
            maxerror_us: Some(maxerror_us.clamp(0, UNSYNC_MAXERROR_US)),
            esterror_us: Some(esterror_us.clamp(0, UNSYNC_MAXERROR_US)),
            ..ClockWrite::default()
        };
        if let Some(ppb) = ppb {
            let (freq, tick_us) = kernel_freq(ppb);
            w.freq = Some(freq);
            w.tick_us = Some(tick_us);
            self.freq = Some(freq);
            self.tick_us = Some(tick_us);
            self.set_ppb = kernel_rate_ppb(freq, tick_us);
        }
        w
    }

    /// Compares an adjtimex read with what was set: the first difference found, if any.
    pub fn check(&self, snap: &ClockSnapshot) -> Option<ForeignChange> {
        if let Some(expected) = self.freq.filter(|f| *f != snap.freq) {
            return Some(ForeignChange::Frequency {
                expected,
                found: snap.freq,
            });
        }
        if let Some(expected_us) = self.tick_us.filter(|t| *t != snap.tick_us) {
            return Some(ForeignChange::Tick {
                expected_us,
                found_us: snap.tick_us,
            });
        }
        if snap.status.intersects(FOREIGN_MODES) || (self.freq.is_some() && snap.offset != 0) {
            return Some(ForeignChange::KernelDiscipline {
                status_bits: snap.status.bits(),
                offset: snap.offset,
            });
        }
        None
    }

    /// The write that restores what was set (after a foreign change).
    pub fn restore(&self, status: ClockStatus) -> ClockWrite {
        ClockWrite {
            freq: self.freq,
            tick_us: self.tick_us,
            status: Some(status),
            ..ClockWrite::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_foreign_frequency_tick_and_pll() {
        let mut book = KernelBook::default();
        let snap = ClockSnapshot {
            tick_us: 10_000,
            ..ClockSnapshot::default()
        };
        assert_eq!(book.check(&snap), None, "nothing set yet");
        let w = book.compose(Some(-50_000.0), ClockStatus::UNSYNC, 99, 1);
        assert_eq!(w.freq, Some(ScaledPpm::from_ppb(-50_000.0)));
        assert_eq!(w.tick_us, Some(10_000));
        let mut snap = ClockSnapshot {
            freq: w.freq.unwrap(),
            tick_us: 10_000,
            ..ClockSnapshot::default()
        };
        assert_eq!(book.check(&snap), None);
        snap.freq = ScaledPpm::from_ppb(50_000.0);
        assert!(matches!(
            book.check(&snap),
            Some(ForeignChange::Frequency { .. })
        ));
        snap.freq = w.freq.unwrap();
        snap.tick_us = 10_001;
        assert!(matches!(
            book.check(&snap),
            Some(ForeignChange::Tick { .. })
        ));
        snap.tick_us = 10_000;
        snap.status = ClockStatus::PLL;
        assert!(matches!(
            book.check(&snap),
            Some(ForeignChange::KernelDiscipline { .. })
        ));
        assert_eq!(book.restore(ClockStatus::UNSYNC).freq, w.freq);
    }
}

//! The shared-memory publisher: maps the engine's [`TrustState`] and what the leap-seconds
//! list says into a ppsd-shm [`State`] and publishes it through the seqlock writer.
//!
//! Times: the engine stamps states with the monotonic clock of the clock it disciplines (the
//! host's, or the simulated machine's with `--simulate`); readers compare `valid_until` with
//! the host's CLOCK_MONOTONIC. [`Clocks`] carries both readings of one instant so the state's
//! validity is carried over as a duration, never stretched. The leap window is given on
//! CLOCK_REALTIME of the disciplined clock and converted to host monotonic at publish time.
//!
//! Leap state: the engine's (`engine/leap/arm.rs` decides it from the list, the references and
//! the configured lead time; UNKNOWN when nothing usable backs it). The leap window runs from
//! `window_before` before the leap's UTC midnight to `window_after` after it, on
//! CLOCK_REALTIME; on the monotonic clock it is placed with the leap second counted in (an
//! insertion ahead makes instants after midnight one second later, a deletion one second
//! earlier). `frequency_offset_ppt`
//! is the oscillator's own rate error as estimated (the negative of the correction set).
//! This module never decides the sync state and never publishes INSYNC the engine did not.

use std::path::Path;

use ppsd_shm::{CreateError, Ident, LeapWindow, State, Writer};

use crate::engine::leap::LeapSign;
use crate::engine::{Leap, LeapState as EngineLeap, SyncState as EngineSync, TrustState};
use crate::time::{Timestamp, NANOS_PER_SEC};

/// What the leap-seconds list says at the current instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeapInfo {
    /// False when a list is configured but cannot be used (missing, bad hash, expired): the
    /// published leap state is then UNKNOWN.
    pub known: bool,
    /// TAI − UTC, s (0: unknown).
    pub tai_offset_s: i64,
    /// The next leap the list announces: UTC midnight (Unix s) at which it takes effect.
    pub next_leap: Option<(i64, LeapSign)>,
}

/// One instant on both clocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clocks {
    /// The host's CLOCK_MONOTONIC, ns (what readers compare with).
    pub host_mono_ns: i64,
    /// The engine's monotonic clock at the same instant, ns.
    pub engine_mono_ns: i64,
    /// CLOCK_REALTIME of the disciplined clock at the same instant.
    pub realtime: Timestamp,
}

/// Fixed parts of every published record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The declared accuracy, ns.
    pub declared_accuracy_ns: u64,
    /// Signers pause from this long before the leap's UTC midnight, ns.
    pub leap_window_before_ns: i64,
    /// ... to this long after it, ns.
    pub leap_window_after_ns: i64,
    /// The pulse source.
    pub pulse_source_id: Ident,
    /// The time-of-day reference.
    pub reference_id: Ident,
}

/// The publisher: one writer and the fixed parts of the record.
#[derive(Debug)]
pub struct ShmPublisher {
    writer: Writer,
    identity: Identity,
}

impl ShmPublisher {
    /// Creates the record at `path` (replacing any previous one by rename). Nothing is
    /// published yet: readers see UNKNOWN until the first [`publish`](Self::publish).
    ///
    /// # Errors
    /// The writer's [`CreateError`] naming the file and operation.
    pub fn create(path: &Path, identity: Identity) -> Result<ShmPublisher, CreateError> {
        Ok(ShmPublisher {
            writer: Writer::create(path)?,
            identity,
        })
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// Replaces the identifiers (after a configuration reload).
    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = identity;
    }

    /// Publishes `ts` as of `clocks`. Never blocks, never allocates.
    pub fn publish(&mut self, ts: &TrustState, leap: &LeapInfo, clocks: &Clocks) {
        let state = to_state(ts, leap, clocks, &self.identity);
        self.writer.publish(&state);
    }
}

fn sync_code(s: EngineSync) -> ppsd_shm::SyncState {
    match s {
        EngineSync::InSync => ppsd_shm::SyncState::InSync,
        EngineSync::SoonOutOfSync => ppsd_shm::SyncState::SoonOutOfSync,
        EngineSync::OutOfSync => ppsd_shm::SyncState::OutOfSync,
        EngineSync::Unknown => ppsd_shm::SyncState::Unknown,
    }
}

/// The leap state and the instant (UTC midnight, Unix s; 0 for none) of the leap it names.
fn leap_of(ts: &TrustState) -> (ppsd_shm::LeapState, i64) {
    use ppsd_shm::LeapState as L;
    let at = ts.leap_view.at_utc_s;
    match ts.leap {
        EngineLeap::Unknown => (L::Unknown, 0),
        EngineLeap::Positive if at != 0 => (L::Positive, at),
        EngineLeap::Negative if at != 0 => (L::Negative, at),
        // A leap state without its instant says less than it should: fail closed.
        EngineLeap::Positive | EngineLeap::Negative => (L::Unknown, 0),
        EngineLeap::None => (L::None, 0),
    }
}

/// The leap state the record shows for `ts`.
pub fn published_leap(ts: &TrustState) -> EngineLeap {
    match leap_of(ts).0 {
        ppsd_shm::LeapState::None => EngineLeap::None,
        ppsd_shm::LeapState::Positive => EngineLeap::Positive,
        ppsd_shm::LeapState::Negative => EngineLeap::Negative,
        _ => EngineLeap::Unknown,
    }
}

/// The leap window on both clocks, as of `clocks`, for the leap `ts` names (pending or just
/// applied); `None` when no leap is near.
pub fn leap_window(ts: &TrustState, clocks: &Clocks, id: &Identity) -> Option<LeapWindow> {
    let v = &ts.leap_view;
    let shift = match v.leap {
        Leap::Insert => NANOS_PER_SEC,
        Leap::Delete => -NANOS_PER_SEC,
        Leap::None => return None,
    };
    if v.at_utc_s == 0 {
        return None;
    }
    let at_ns = v.at_utc_s.saturating_mul(NANOS_PER_SEC);
    // Elapsed time, counted from the realtime origin, at which the clock reads `x`: after a
    // leap, one second more (insert) or less (delete); a deleted second maps to the step.
    let elapsed = |x: i64| {
        if x >= at_ns {
            x.saturating_add(shift)
        } else if shift < 0 && x >= at_ns - NANOS_PER_SEC {
            at_ns - NANOS_PER_SEC
        } else {
            x
        }
    };
    let now = clocks.realtime.as_ns();
    let now_elapsed = if v.pending {
        now
    } else {
        now.saturating_add(shift)
    };
    let start_real = at_ns.saturating_sub(id.leap_window_before_ns);
    let end_real = at_ns.saturating_add(id.leap_window_after_ns);
    let to_mono = |x: i64| {
        clocks
            .host_mono_ns
            .saturating_add(elapsed(x).saturating_sub(now_elapsed))
    };
    Some(LeapWindow {
        start_realtime_ns: start_real,
        end_realtime_ns: end_real,
        start_mono_ns: to_mono(start_real),
        end_mono_ns: to_mono(end_real),
    })
}

/// The record for `ts` as of `clocks`: pure, so it is tested without a file.
pub fn to_state(ts: &TrustState, leap: &LeapInfo, clocks: &Clocks, id: &Identity) -> State {
    let host = clocks.host_mono_ns;
    let life = ts
        .valid_until_mono_ns
        .saturating_sub(ts.updated_mono_ns)
        .max(0);
    // The state was computed at `updated`, which may be a little before `clocks`.
    let age = clocks
        .engine_mono_ns
        .saturating_sub(ts.updated_mono_ns)
        .max(0);
    let updated = host.saturating_sub(age);
    let (leap_state, next_leap_utc_s) = leap_of(ts);
    let leap_window = leap_window(ts, clocks, id);
    State {
        sync: sync_code(ts.state),
        leap: leap_state,
        error_bound_ns: u64::try_from(ts.bound_ns).unwrap_or(u64::MAX),
        declared_accuracy_ns: id.declared_accuracy_ns,
        offset_ns: ts.offset_ns,
        frequency_offset_ppt: (-ts.freq_ppb * 1_000.0).round() as i64,
        last_pulse_realtime_ns: ts.last_pulse.map_or(0, Timestamp::as_ns),
        updated_at_mono_ns: updated,
        valid_until_mono_ns: updated.saturating_add(life),
        tai_offset_s: leap.tai_offset_s,
        next_leap_utc_s,
        leap_window,
        pulse_source_id: id.pulse_source_id,
        time_of_day_ref_id: id.reference_id,
    }
}

/// An identifier from `text`, cut to what fits (32 printable ASCII bytes; others become `?`).
pub fn ident_lossy(text: &str) -> Ident {
    let clean: String = text
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(ppsd_shm::IDENT_LEN)
        .collect();
    Ident::new(&clean).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    fn id() -> Identity {
        Identity {
            declared_accuracy_ns: 1_000_000,
            leap_window_before_ns: 2 * S,
            leap_window_after_ns: S,
            pulse_source_id: ident_lossy("pps:/dev/pps0"),
            reference_id: ident_lossy("nts:time.example"),
        }
    }

    fn insync(updated: i64) -> TrustState {
        TrustState {
            state: EngineSync::InSync,
            leap: EngineLeap::None,
            bound_ns: 420,
            offset_ns: -12,
            freq_ppb: -50_000.0,
            last_pulse: Some(Timestamp::new(1_767_225_600, 5)),
            updated_mono_ns: updated,
            valid_until_mono_ns: updated + 1_500_000_000,
            ..TrustState::default()
        }
    }

    fn known() -> LeapInfo {
        LeapInfo {
            known: true,
            tai_offset_s: 37,
            next_leap: None,
        }
    }

    #[test]
    fn validity_is_carried_over_to_the_host_clock_as_a_duration() {
        // Simulated machine: its monotonic reads 1000 s when the host's reads 5 s.
        let clocks = Clocks {
            host_mono_ns: 5 * S,
            engine_mono_ns: 1_000 * S + 2_000,
            realtime: Timestamp::new(1_767_225_600, 0),
        };
        let s = to_state(&insync(1_000 * S), &known(), &clocks, &id());
        assert_eq!(s.updated_at_mono_ns, 5 * S - 2_000);
        assert_eq!(s.valid_until_mono_ns - s.updated_at_mono_ns, 1_500_000_000);
        assert_eq!(s.sync, ppsd_shm::SyncState::InSync);
        assert_eq!(s.leap, ppsd_shm::LeapState::None);
        assert_eq!((s.error_bound_ns, s.offset_ns), (420, -12));
        assert_eq!(s.frequency_offset_ppt, 50_000_000, "oscillator 50 ppm fast");
        assert_eq!(s.last_pulse_realtime_ns, 1_767_225_600 * S + 5);
        assert_eq!((s.tai_offset_s, s.next_leap_utc_s), (37, 0));
        assert_eq!(s.pulse_source_id.as_string(), "pps:/dev/pps0");
    }

    #[test]
    fn engine_unknown_leap_state_is_published_and_sync_state_untouched() {
        let mut ts = insync(0);
        ts.leap = EngineLeap::Unknown;
        let s = to_state(&ts, &LeapInfo::default(), &Clocks::default(), &id());
        assert_eq!(s.leap, ppsd_shm::LeapState::Unknown);
        assert_eq!(s.sync, ppsd_shm::SyncState::InSync, "sync state untouched");
        // A leap state without its instant is not trusted either.
        ts.leap = EngineLeap::Positive;
        let s = to_state(&ts, &known(), &Clocks::default(), &id());
        assert_eq!(
            (s.leap, s.leap_window),
            (ppsd_shm::LeapState::Unknown, None)
        );
    }

    fn leap_ahead(ts: &mut TrustState, leap: Leap, pending: bool) {
        ts.leap = match leap {
            Leap::Delete => EngineLeap::Negative,
            _ => EngineLeap::Positive,
        };
        ts.leap_view = crate::engine::LeapView {
            at_utc_s: MIDNIGHT,
            leap,
            pending,
            source: crate::engine::LeapSource::File,
        };
    }

    /// 2026-07-01T00:00:00Z.
    const MIDNIGHT: i64 = 1_782_864_000;

    fn clocks_at(real_s: i64, real_ns: i64) -> Clocks {
        Clocks {
            host_mono_ns: 50 * S,
            engine_mono_ns: 50 * S,
            realtime: Timestamp::new(real_s, real_ns),
        }
    }

    #[test]
    fn window_counts_the_leap_second_on_the_monotonic_clock() {
        // Insertion ahead, 100 s before midnight: 23:59:58 is 98 s away, 00:00:01 is 102 s
        // away (the inserted second lies between).
        let mut ts = insync(50 * S);
        leap_ahead(&mut ts, Leap::Insert, true);
        let s = to_state(&ts, &known(), &clocks_at(MIDNIGHT - 100, 0), &id());
        assert_eq!(s.leap, ppsd_shm::LeapState::Positive);
        assert_eq!(s.next_leap_utc_s, MIDNIGHT);
        let w = s.leap_window.unwrap();
        assert_eq!(w.start_realtime_ns, (MIDNIGHT - 2) * S);
        assert_eq!(w.end_realtime_ns, (MIDNIGHT + 1) * S);
        assert_eq!((w.start_mono_ns, w.end_mono_ns), (148 * S, 152 * S));
        // The repeated 23:59:59.5, leap applied: the window began 2.5 s ago, ends in 1.5 s.
        leap_ahead(&mut ts, Leap::Insert, false);
        let w = to_state(&ts, &known(), &clocks_at(MIDNIGHT - 1, S / 2), &id())
            .leap_window
            .unwrap();
        assert_eq!(
            (w.start_mono_ns, w.end_mono_ns),
            (50 * S - 5 * S / 2, 50 * S + 3 * S / 2)
        );
        // Deletion ahead, 100 s before: 00:00:01 is only 100 s away (23:59:59 skipped).
        leap_ahead(&mut ts, Leap::Delete, true);
        let s = to_state(&ts, &known(), &clocks_at(MIDNIGHT - 100, 0), &id());
        assert_eq!(s.leap, ppsd_shm::LeapState::Negative);
        let w = s.leap_window.unwrap();
        assert_eq!((w.start_mono_ns, w.end_mono_ns), (148 * S, 150 * S));
        // After it, at 00:00:00.5: began 1.5 s ago, ends in 0.5 s.
        ts.leap = EngineLeap::None;
        leap_ahead(&mut ts, Leap::Delete, false);
        ts.leap = EngineLeap::None;
        let s = to_state(&ts, &known(), &clocks_at(MIDNIGHT, S / 2), &id());
        assert_eq!((s.leap, s.next_leap_utc_s), (ppsd_shm::LeapState::None, 0));
        let w = s.leap_window.unwrap();
        assert_eq!(
            (w.start_mono_ns, w.end_mono_ns),
            (50 * S - 3 * S / 2, 50 * S + S / 2)
        );
        // No leap near: no window.
        ts.leap_view = crate::engine::LeapView::default();
        let s = to_state(&ts, &known(), &clocks_at(MIDNIGHT, 0), &id());
        assert_eq!(s.leap_window, None);
    }

    #[test]
    fn reader_refuses_inside_the_window_and_signs_outside_it() {
        let dir = std::env::temp_dir().join(format!("ppsd-shm-leap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let mut p = ShmPublisher::create(&path, id()).unwrap();
        let mut r = ppsd_shm::Reader::open(&path).unwrap();
        let mut ts = insync(0);
        leap_ahead(&mut ts, Leap::Insert, true);
        let mut publish = |p: &mut ShmPublisher, real_s: i64| {
            let now = ppsd_shm::monotonic_ns();
            ts.updated_mono_ns = now;
            ts.valid_until_mono_ns = now + 10 * S;
            let clocks = Clocks {
                host_mono_ns: now,
                engine_mono_ns: now,
                realtime: Timestamp::new(real_s, 0),
            };
            p.publish(&ts, &known(), &clocks);
        };
        // 23:59:59: inside [23:59:58, 00:00:01).
        publish(&mut p, MIDNIGHT - 1);
        let v = r.check();
        assert_eq!(v.reason, Some(ppsd_shm::Reason::InLeapWindow), "{v:?}");
        assert_eq!(v.leap, ppsd_shm::LeapState::Positive);
        // An hour before: outside, may sign (the leap state is known).
        publish(&mut p, MIDNIGHT - 3_600);
        let v = r.check();
        assert!(v.may_sign, "{v:?}");
        drop(p);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn identifiers_are_cut_and_cleaned() {
        assert_eq!(ident_lossy("pps:/dev/ü").as_string(), "pps:/dev/?");
        assert_eq!(ident_lossy(&"x".repeat(40)).as_string().len(), 32);
    }

    #[test]
    fn publishes_to_a_file_readers_accept() {
        let dir = std::env::temp_dir().join(format!("ppsd-shm-pub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let mut p = ShmPublisher::create(&path, id()).unwrap();
        let now = ppsd_shm::monotonic_ns();
        let clocks = Clocks {
            host_mono_ns: now,
            engine_mono_ns: now,
            realtime: Timestamp::new(1_767_225_600, 0),
        };
        p.publish(&insync(now), &known(), &clocks);
        let mut r = ppsd_shm::Reader::open(&path).unwrap();
        let v = r.check();
        assert!(v.may_sign, "{v:?}");
        drop(p);
        assert_eq!(r.check().reason, Some(ppsd_shm::Reason::WriterGone));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

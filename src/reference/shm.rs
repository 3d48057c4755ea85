//! NTP shared-memory reader: samples from segment N, as gpsd and receiver tools write them
//! for ntpd and chrony.
//!
//! Protocol (ntpd's refclock_shm): the writer stores the receiver's time ("clock") and the
//! local time it was taken ("receive"), then sets `valid`. Mode 0 relies on `valid` alone;
//! mode 1 adds `count`, which the writer increments around each update, so a copy is used
//! only if `count` did not change during it. A reader attached read-only cannot clear
//! `valid`, so a sample is new only if it differs from the last one taken, and is refused as
//! stale once its receive time is older than the configured age: a writer that died leaves a
//! valid-looking sample behind forever. Nanosecond fields are used when consistent with the
//! microsecond ones (newer writers fill both), as ntpd does.
//!
//! Never writes to the segment; never reports a torn, repeated or stale sample.

use super::{LeapIndicator, RefError, RefErrorKind, ReferenceId, SourceKind, TodSample};
use crate::sys::ntp_shm::{NtpShmSegment, ShmSnapshot};
use crate::time::Timestamp;
use std::time::Duration;

/// What one look at the segment found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShmRead {
    /// A new, consistent, fresh sample.
    Sample(TodSample),
    /// Nothing new: `valid` is clear or the sample is the one taken before.
    NoNewSample,
    /// The writer was updating during the copy (mode 1); look again shortly.
    Torn,
}

/// Turns snapshots into samples: dedupe, consistency and freshness checks. Pure.
#[derive(Clone, Debug)]
pub struct ShmDecoder {
    name: String,
    reference_id: ReferenceId,
    max_age: Duration,
    uncertainty_ns: i64,
    last: Option<(i32, Timestamp, Timestamp)>,
}

impl ShmDecoder {
    /// A decoder for `unit`, refusing samples older than `max_age`, each with the given
    /// uncertainty (the writer's own error: serial latency for NMEA, less for PPS).
    pub fn new(unit: u8, max_age: Duration, uncertainty_ns: i64) -> ShmDecoder {
        let mut id = [0u8; 4];
        let text = format!("SHM{unit}");
        for (d, s) in id.iter_mut().zip(text.bytes()) {
            *d = s;
        }
        ShmDecoder {
            name: format!("{}:{unit}", SourceKind::Shm),
            reference_id: ReferenceId(id),
            max_age,
            uncertainty_ns,
            last: None,
        }
    }

    /// The source name (`shm:N`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Judges one snapshot taken when the local clock read `now`.
    ///
    /// # Errors
    /// [`RefErrorKind::Malformed`] for an unknown mode or impossible fields,
    /// [`RefErrorKind::Unsynchronised`] for a stale sample or a writer reporting LI alarm.
    pub fn decode(&mut self, snap: &ShmSnapshot, now: Timestamp) -> Result<ShmRead, RefError> {
        let err = |kind| Err(RefError::new(&self.name, kind));
        match snap.mode {
            0 => {}
            1 if snap.count_before != snap.count_after => return Ok(ShmRead::Torn),
            1 => {}
            m => return err(RefErrorKind::Malformed(format!("unknown SHM mode {m}"))),
        }
        if snap.valid == 0 {
            return Ok(ShmRead::NoNewSample);
        }
        let clock = match to_timestamp(snap.clock_sec, snap.clock_usec, snap.clock_nsec) {
            Some(t) => t,
            None => {
                return err(RefErrorKind::Malformed(
                    "clock time fraction out of range".into(),
                ))
            }
        };
        let receive = match to_timestamp(snap.receive_sec, snap.receive_usec, snap.receive_nsec) {
            Some(t) => t,
            None => {
                return err(RefErrorKind::Malformed(
                    "receive time fraction out of range".into(),
                ))
            }
        };
        let key = (snap.count_before, clock, receive);
        if self.last == Some(key) {
            return Ok(ShmRead::NoNewSample);
        }
        self.last = Some(key);
        let age_ns = now.diff_ns(receive);
        let max_age_ns = i64::try_from(self.max_age.as_nanos()).unwrap_or(i64::MAX);
        if age_ns > max_age_ns {
            let why = format!(
                "sample taken {} ms ago, older than {} ms",
                age_ns / 1_000_000,
                max_age_ns / 1_000_000
            );
            return err(RefErrorKind::Unsynchronised(why));
        }
        let leap = LeapIndicator::from_bits((snap.leap & 3) as u8);
        if leap == LeapIndicator::Unsynchronised {
            return err(RefErrorKind::Unsynchronised(
                "writer reports leap indicator 3 (alarm)".into(),
            ));
        }
        Ok(ShmRead::Sample(TodSample {
            source: self.name.clone(),
            kind: SourceKind::Shm,
            local_time: receive,
            offset_ns: receive.diff_ns(clock),
            delay_ns: None,
            uncertainty_ns: self.uncertainty_ns,
            stratum: 0,
            leap,
            reference_id: self.reference_id,
            authenticated: false,
        }))
    }
}

/// Seconds and fraction as a timestamp, preferring nanoseconds when they agree with the
/// microseconds (ntpd's rule); `None` for an out-of-range fraction.
fn to_timestamp(sec: i64, usec: i32, nsec: u32) -> Option<Timestamp> {
    if !(0..1_000_000).contains(&usec) {
        return None;
    }
    let nsec = i64::from(nsec);
    let from_usec = i64::from(usec) * 1000;
    let frac = if (from_usec..from_usec + 1000).contains(&nsec) {
        nsec
    } else {
        from_usec
    };
    Some(Timestamp::new(sec, frac))
}

/// An attached segment and its decoder.
#[derive(Debug)]
pub struct ShmReader {
    segment: NtpShmSegment,
    decoder: ShmDecoder,
}

impl ShmReader {
    /// Attaches segment `unit` read-only.
    ///
    /// # Errors
    /// [`RefErrorKind::Io`] naming the segment, its key and the failed call.
    pub fn attach(unit: u8, max_age: Duration, uncertainty_ns: i64) -> Result<ShmReader, RefError> {
        let decoder = ShmDecoder::new(unit, max_age, uncertainty_ns);
        let segment = NtpShmSegment::attach(unit).map_err(|e| {
            let hint = match e.cause {
                crate::io::DeviceErrorCause::Os(libc::ENOENT) => " (no writer has created it yet)",
                crate::io::DeviceErrorCause::Os(libc::EACCES) => " (units 0 and 1 are root-only)",
                _ => "",
            };
            RefError::new(
                decoder.name(),
                RefErrorKind::Io {
                    op: e.op,
                    detail: format!("{e}{hint}"),
                },
            )
        })?;
        Ok(ShmReader { segment, decoder })
    }

    /// Looks at the segment once, with the local clock at `now`; retries a torn read up to
    /// three times before reporting it.
    ///
    /// # Errors
    /// As [`ShmDecoder::decode`].
    pub fn read(&mut self, now: Timestamp) -> Result<ShmRead, RefError> {
        for _ in 0..3 {
            match self.decoder.decode(&self.segment.snapshot(), now)? {
                ShmRead::Torn => std::hint::spin_loop(),
                other => return Ok(other),
            }
        }
        Ok(ShmRead::Torn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(mode: i32, count: i32) -> ShmSnapshot {
        ShmSnapshot {
            mode,
            count_before: count,
            count_after: count,
            valid: 1,
            clock_sec: 1_700_000_000,
            clock_usec: 0,
            clock_nsec: 0,
            receive_sec: 1_700_000_000,
            receive_usec: 250_000,
            receive_nsec: 250_000_123,
            leap: 0,
            precision: -20,
        }
    }

    fn now() -> Timestamp {
        Timestamp::new(1_700_000_001, 0)
    }

    fn decoder() -> ShmDecoder {
        ShmDecoder::new(2, Duration::from_secs(4), 1_000_000)
    }

    #[test]
    fn sample_offset_uses_consistent_nanoseconds() {
        let ShmRead::Sample(s) = decoder().decode(&snap(1, 5), now()).unwrap() else {
            panic!()
        };
        assert_eq!(s.offset_ns, 250_000_123);
        assert_eq!(s.local_time, Timestamp::new(1_700_000_000, 250_000_123));
        assert_eq!(s.source, "shm:2");
        assert_eq!(s.reference_id.to_string(), "SHM2");
        // Nanoseconds that contradict the microseconds are ignored.
        let mut x = snap(0, 0);
        x.receive_nsec = 999;
        let ShmRead::Sample(s) = decoder().decode(&x, now()).unwrap() else {
            panic!()
        };
        assert_eq!(s.offset_ns, 250_000_000);
    }

    #[test]
    fn torn_copy_in_mode_one_is_not_used() {
        let mut x = snap(1, 5);
        x.count_after = 6;
        assert_eq!(decoder().decode(&x, now()), Ok(ShmRead::Torn));
    }

    #[test]
    fn invalid_and_repeated_samples_are_not_new() {
        let mut d = decoder();
        let mut x = snap(1, 5);
        x.valid = 0;
        assert_eq!(d.decode(&x, now()), Ok(ShmRead::NoNewSample));
        assert!(matches!(
            d.decode(&snap(1, 5), now()),
            Ok(ShmRead::Sample(_))
        ));
        assert_eq!(d.decode(&snap(1, 5), now()), Ok(ShmRead::NoNewSample));
        assert!(matches!(
            d.decode(&snap(1, 7), now()),
            Ok(ShmRead::Sample(_))
        ));
    }

    #[test]
    fn stale_unknown_mode_and_bad_fields_are_errors() {
        let e = decoder()
            .decode(&snap(1, 5), now().add_ns(10_000_000_000))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("shm:2: reference not synchronised: sample taken 10749 ms ago"),
            "{e}"
        );
        let e = decoder().decode(&snap(2, 5), now()).unwrap_err();
        assert!(e.to_string().contains("unknown SHM mode 2"), "{e}");
        let mut x = snap(1, 5);
        x.clock_usec = 1_000_000;
        assert!(matches!(
            decoder().decode(&x, now()).unwrap_err().kind,
            RefErrorKind::Malformed(_)
        ));
        let mut x = snap(1, 5);
        x.leap = 3;
        assert!(matches!(
            decoder().decode(&x, now()).unwrap_err().kind,
            RefErrorKind::Unsynchronised(_)
        ));
        let mut x = snap(1, 5);
        x.leap = 2;
        let ShmRead::Sample(s) = decoder().decode(&x, now()).unwrap() else {
            panic!()
        };
        assert_eq!(s.leap, LeapIndicator::Delete);
    }
}

//! NTP packet header and timestamps (RFC 5905 §6–7), encoded and decoded without I/O.
//!
//! Timestamps are the 64-bit NTP format: 32 bits of seconds since 1900 and 32 bits of
//! fraction. The seconds wrap every 2^32 s (first in February 2036), so a timestamp alone does
//! not say which era it is in: [`NtpTimestamp::to_unix_near`] picks the era that puts it
//! nearest a local clock reading, which is right as long as the local clock is within 68
//! years of the truth. Conversions are integer only; this module never uses floating point
//! for an instant.

use crate::reference::{LeapIndicator, ReferenceId};
use crate::time::{Timestamp, NANOS_PER_SEC};

/// Length of the NTP header without extension fields.
pub const HEADER_LEN: usize = 48;
/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// A 64-bit NTP timestamp (seconds since 1900 modulo 2^32, and a 32-bit fraction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The all-zero timestamp, which NTP uses for "unknown".
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// A Unix instant in NTP format (its era is dropped, as the format requires).
    pub fn from_unix(t: Timestamp) -> NtpTimestamp {
        let secs = (t.sec() + NTP_UNIX_OFFSET_S).rem_euclid(1 << 32) as u64;
        // Round the nanoseconds to the nearest 2^-32 s; 999_999_999 ns stays below 2^32.
        let frac = ((u64::from(t.nsec()) << 32) + NANOS_PER_SEC as u64 / 2) / NANOS_PER_SEC as u64;
        NtpTimestamp((secs << 32) | frac)
    }

    /// The Unix instant this timestamp denotes in the era that puts it nearest `pivot`
    /// (within ±2^31 s, about 68 years). Correct across the 2036 wrap.
    pub fn to_unix_near(self, pivot: Timestamp) -> Timestamp {
        let secs = (self.0 >> 32) as i64;
        let pivot_ntp = pivot.sec() + NTP_UNIX_OFFSET_S;
        // Distance from the pivot's position in its era, wrapped into [-2^31, 2^31).
        let diff =
            (secs - pivot_ntp.rem_euclid(1 << 32) + (1 << 31)).rem_euclid(1 << 32) - (1 << 31);
        let ntp_secs = pivot_ntp + diff;
        let frac = self.0 & 0xffff_ffff;
        let nsec = ((frac * NANOS_PER_SEC as u64) + (1 << 31)) >> 32;
        Timestamp::new(ntp_secs - NTP_UNIX_OFFSET_S, nsec as i64)
    }

    /// True for the all-zero timestamp.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// An NTP "short format" value (16.16 fixed-point seconds) in nanoseconds.
pub fn short_to_ns(v: u32) -> i64 {
    ((u64::from(v) * NANOS_PER_SEC as u64 + (1 << 15)) >> 16) as i64
}

/// The association mode (RFC 5905 §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Client request (3).
    Client,
    /// Server reply (4).
    Server,
    /// Any other mode, by number.
    Other(u8),
}

impl Mode {
    fn from_bits(bits: u8) -> Mode {
        match bits & 7 {
            3 => Mode::Client,
            4 => Mode::Server,
            n => Mode::Other(n),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Other(n) => n & 7,
        }
    }
}

/// The 48-byte NTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpHeader {
    /// Leap indicator.
    pub leap: LeapIndicator,
    /// Version number (4 for NTPv4).
    pub version: u8,
    /// Association mode.
    pub mode: Mode,
    /// Stratum: 0 kiss-o'-death, 1 primary, 2–15 secondary, 16 unsynchronised.
    pub stratum: u8,
    /// Poll exponent, log2 s.
    pub poll: i8,
    /// Precision exponent, log2 s.
    pub precision: i8,
    /// Root delay, short format.
    pub root_delay: u32,
    /// Root dispersion, short format.
    pub root_dispersion: u32,
    /// Reference identifier (or kiss code when stratum is 0).
    pub reference_id: ReferenceId,
    /// When the server's clock was last set.
    pub reference_ts: NtpTimestamp,
    /// Origin: the request's transmit timestamp, echoed.
    pub origin_ts: NtpTimestamp,
    /// When the request arrived at the server (T2).
    pub receive_ts: NtpTimestamp,
    /// When the reply left the server (T3), or the request left the client.
    pub transmit_ts: NtpTimestamp,
}

impl NtpHeader {
    /// A client-mode NTPv4 request carrying only `transmit` (all else zero, as RFC 5905
    /// allows for a client that keeps no state across requests).
    pub fn client_request(transmit: NtpTimestamp) -> NtpHeader {
        NtpHeader {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: 0,
            root_dispersion: 0,
            reference_id: ReferenceId::default(),
            reference_ts: NtpTimestamp::ZERO,
            origin_ts: NtpTimestamp::ZERO,
            receive_ts: NtpTimestamp::ZERO,
            transmit_ts: transmit,
        }
    }

    /// The header's 48 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap.bits() << 6) | ((self.version & 7) << 3) | self.mode.bits();
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id.0);
        b[16..24].copy_from_slice(&self.reference_ts.0.to_be_bytes());
        b[24..32].copy_from_slice(&self.origin_ts.0.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive_ts.0.to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit_ts.0.to_be_bytes());
        b
    }

    /// Decodes the header at the start of `bytes`; the rest (extension fields, MAC) is the
    /// caller's.
    ///
    /// # Errors
    /// A description when `bytes` is shorter than a header.
    pub fn decode(bytes: &[u8]) -> Result<NtpHeader, String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte NTP header",
                bytes.len()
            ));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let ts_at =
            |i: usize| NtpTimestamp((u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4)));
        Ok(NtpHeader {
            leap: LeapIndicator::from_bits(bytes[0] >> 6),
            version: (bytes[0] >> 3) & 7,
            mode: Mode::from_bits(bytes[0]),
            stratum: bytes[1],
            poll: bytes[2] as i8,
            precision: bytes[3] as i8,
            root_delay: u32_at(4),
            root_dispersion: u32_at(8),
            reference_id: ReferenceId([bytes[12], bytes[13], bytes[14], bytes[15]]),
            reference_ts: ts_at(16),
            origin_ts: ts_at(24),
            receive_ts: ts_at(32),
            transmit_ts: ts_at(40),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_and_fraction_encode_exactly() {
        let t = NtpTimestamp::from_unix(Timestamp::new(0, 500_000_000));
        assert_eq!(t.0, (2_208_988_800u64 << 32) | 0x8000_0000);
        assert_eq!(
            t.to_unix_near(Timestamp::new(0, 0)),
            Timestamp::new(0, 500_000_000)
        );
    }

    #[test]
    fn round_trip_within_half_a_nanosecond_step() {
        // 2^-32 s is 0.23 ns, so a round trip through NTP format is exact to the nanosecond.
        for nsec in [0, 1, 123_456_789, 999_999_999] {
            let t = Timestamp::new(1_767_225_600, nsec);
            assert_eq!(NtpTimestamp::from_unix(t).to_unix_near(t), t);
        }
    }

    #[test]
    fn era_follows_the_local_clock_across_2036() {
        // 2036-02-07T06:28:16Z is NTP second 2^32: era 1 starts, the seconds field wraps to 0.
        let wrap_unix = (1i64 << 32) - NTP_UNIX_OFFSET_S;
        let after = Timestamp::new(wrap_unix + 10, 0);
        let before = Timestamp::new(wrap_unix - 10, 0);
        let ts_after = NtpTimestamp::from_unix(after);
        assert_eq!(ts_after.0 >> 32, 10, "seconds field wrapped");
        // A local clock just before the wrap still places the reply after it, and vice versa.
        assert_eq!(ts_after.to_unix_near(before), after);
        assert_eq!(NtpTimestamp::from_unix(before).to_unix_near(after), before);
        // Far into era 1 (2100).
        let t2100 = Timestamp::new(4_102_444_800, 42);
        assert_eq!(
            NtpTimestamp::from_unix(t2100).to_unix_near(t2100.add_ns(3_600_000_000_000)),
            t2100
        );
    }

    #[test]
    fn short_format_in_nanoseconds() {
        assert_eq!(short_to_ns(0x0001_0000), 1_000_000_000);
        assert_eq!(short_to_ns(0x0000_8000), 500_000_000);
        assert_eq!(short_to_ns(1), 15_259); // 2^-16 s = 15258.789 ns, rounded
    }

    #[test]
    fn header_round_trips_through_bytes() {
        let h = NtpHeader {
            leap: LeapIndicator::Insert,
            version: 4,
            mode: Mode::Server,
            stratum: 1,
            poll: 6,
            precision: -20,
            root_delay: 0x10,
            root_dispersion: 0x20,
            reference_id: ReferenceId(*b"GPS\0"),
            reference_ts: NtpTimestamp(1),
            origin_ts: NtpTimestamp(2),
            receive_ts: NtpTimestamp(3),
            transmit_ts: NtpTimestamp(u64::MAX),
        };
        let bytes = h.encode();
        assert_eq!(bytes[0], 0b01_100_100);
        assert_eq!(bytes[3], 0xec);
        assert_eq!(NtpHeader::decode(&bytes), Ok(h));
    }

    #[test]
    fn short_packet_is_refused() {
        let err = NtpHeader::decode(&[0u8; 47]).unwrap_err();
        assert!(err.contains("47 bytes"), "{err}");
    }
}

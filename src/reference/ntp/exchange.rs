//! One NTP client exchange without I/O: build a request, check a reply against it, and
//! compute offset and delay in integer nanoseconds.
//!
//! The request's transmit timestamp is 64 random bits, not the local time: a reply must echo
//! them as its origin timestamp, so an off-path attacker cannot forge a reply without seeing
//! the request, and the request does not reveal the local clock. T1 and T4 are local clock
//! readings kept here. Checks follow RFC 5905 §8 and §7.4: origin match first (so a forged
//! kiss-o'-death cannot stop us), then kiss codes, then synchronisation, then sanity.
//! Arithmetic is in i128 nanoseconds; nothing here uses floating point.

use super::packet::{short_to_ns, Mode, NtpHeader, NtpTimestamp};
use crate::reference::{LeapIndicator, RefErrorKind, ReferenceId};
use crate::time::Timestamp;
use std::fmt;

/// A kiss-o'-death code (RFC 5905 §7.4), carried in the reference id of a stratum-0 reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KissCode {
    /// `RATE`: we poll too often; back off before asking again.
    Rate,
    /// `DENY`: access denied; stop querying this server.
    Deny,
    /// `RSTR`: access restricted; stop querying this server.
    Rstr,
    /// Any other code; the server is not usable for this exchange.
    Other([u8; 4]),
}

impl KissCode {
    /// From the four reference-id bytes.
    pub fn from_bytes(b: [u8; 4]) -> KissCode {
        match &b {
            b"RATE" => KissCode::Rate,
            b"DENY" => KissCode::Deny,
            b"RSTR" => KissCode::Rstr,
            _ => KissCode::Other(b),
        }
    }

    /// True when the server asks never to be queried again (DENY, RSTR).
    pub fn stops_queries(self) -> bool {
        matches!(self, KissCode::Deny | KissCode::Rstr)
    }
}

impl fmt::Display for KissCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KissCode::Rate => f.write_str("RATE (polling too often; backing off)"),
            KissCode::Deny => f.write_str("DENY (access denied; server dropped)"),
            KissCode::Rstr => f.write_str("RSTR (access restricted; server dropped)"),
            KissCode::Other(b) => write!(f, "{}", ReferenceId(*b)),
        }
    }
}

/// The result of one valid exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement {
    /// Local clock minus server clock, ns (the negation of RFC 5905's θ).
    pub offset_ns: i64,
    /// Round-trip delay minus the server's processing time, ns (RFC 5905's δ).
    pub delay_ns: i64,
    /// Server's root delay, ns.
    pub root_delay_ns: i64,
    /// Server's root dispersion, ns.
    pub root_dispersion_ns: i64,
    /// Server's stratum.
    pub stratum: u8,
    /// Server's leap indicator.
    pub leap: LeapIndicator,
    /// Server's reference id.
    pub reference_id: ReferenceId,
    /// Local time when the reply arrived (T4).
    pub t4: Timestamp,
}

impl Measurement {
    /// Bound on the offset's error: half the round trip plus the server's root distance.
    pub fn uncertainty_ns(&self) -> i64 {
        self.delay_ns / 2 + self.root_delay_ns / 2 + self.root_dispersion_ns
    }
}

/// A request in flight: the random transmit timestamp sent and the local send time T1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// The random transmit timestamp; the reply must echo it as origin.
    pub transmit: NtpTimestamp,
    /// Local clock when the request was sent.
    pub t1: Timestamp,
}

impl ClientRequest {
    /// A request with a random transmit timestamp, sent at local time `t1`.
    pub fn new(rng: &mut impl rand::RngCore, t1: Timestamp) -> ClientRequest {
        let mut transmit = rng.next_u64();
        if transmit == 0 {
            transmit = 1; // zero means "unknown" and a server may treat it specially
        }
        ClientRequest {
            transmit: NtpTimestamp(transmit),
            t1,
        }
    }

    /// The request header.
    pub fn header(&self) -> NtpHeader {
        NtpHeader::client_request(self.transmit)
    }

    /// Checks `reply`, received at local time `t4`, against this request and measures.
    ///
    /// # Errors
    /// [`RefErrorKind::Mismatch`] when the reply is not an answer to this request (the caller
    /// should keep waiting: it may be forged or stale); [`RefErrorKind::Kiss`],
    /// [`RefErrorKind::Unsynchronised`] or [`RefErrorKind::Malformed`] for an answer that is
    /// ours but unusable.
    pub fn check_reply(
        &self,
        reply: &NtpHeader,
        t4: Timestamp,
    ) -> Result<Measurement, RefErrorKind> {
        if reply.mode != Mode::Server {
            return Err(RefErrorKind::Mismatch(format!(
                "mode {:?}, not a server reply",
                reply.mode
            )));
        }
        if reply.origin_ts != self.transmit {
            return Err(RefErrorKind::Mismatch(
                "origin timestamp differs from the request's transmit timestamp".into(),
            ));
        }
        if reply.stratum == 0 {
            return Err(RefErrorKind::Kiss(KissCode::from_bytes(
                reply.reference_id.0,
            )));
        }
        if !(1..=4).contains(&reply.version) {
            return Err(RefErrorKind::Malformed(format!(
                "NTP version {}",
                reply.version
            )));
        }
        if reply.stratum >= 16 || reply.leap == LeapIndicator::Unsynchronised {
            return Err(RefErrorKind::Unsynchronised(format!(
                "stratum {}, leap indicator {:?}",
                reply.stratum, reply.leap
            )));
        }
        if reply.receive_ts.is_zero() || reply.transmit_ts.is_zero() {
            return Err(RefErrorKind::Malformed(
                "zero receive or transmit timestamp".into(),
            ));
        }
        let ns = |t: Timestamp| i128::from(t.sec()) * 1_000_000_000 + i128::from(t.nsec());
        let t1 = ns(self.t1);
        let t2 = ns(reply.receive_ts.to_unix_near(self.t1));
        let t3 = ns(reply.transmit_ts.to_unix_near(self.t1));
        let t4n = ns(t4);
        if t3 < t2 {
            return Err(RefErrorKind::Malformed(
                "server transmit time before its receive time".into(),
            ));
        }
        let delay = (t4n - t1) - (t3 - t2);
        if delay < 0 {
            return Err(RefErrorKind::Malformed(format!(
                "negative round-trip delay {delay} ns (local clock stepped during the exchange?)"
            )));
        }
        // θ = ((T2 − T1) + (T3 − T4)) / 2 is server minus local; we report local minus server.
        let offset = -((t2 - t1) + (t3 - t4n)) / 2;
        let to_i64 = |v: i128, what: &str| {
            i64::try_from(v).map_err(|_| RefErrorKind::Malformed(format!("{what} out of range")))
        };
        Ok(Measurement {
            offset_ns: to_i64(offset, "offset")?,
            delay_ns: to_i64(delay, "delay")?,
            root_delay_ns: short_to_ns(reply.root_delay),
            root_dispersion_ns: short_to_ns(reply.root_dispersion),
            stratum: reply.stratum,
            leap: reply.leap,
            reference_id: reply.reference_id,
            t4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const T1: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn request() -> ClientRequest {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        ClientRequest::new(&mut rng, Timestamp::new(T1, 0))
    }

    /// A server reply to `req` whose clock is `server_ahead_ns` ahead of ours, 10 ms each way
    /// and 1 ms processing.
    fn reply(req: &ClientRequest, server_ahead_ns: i64) -> NtpHeader {
        let t2 = req.t1.add_ns(10_000_000 + server_ahead_ns);
        let t3 = t2.add_ns(1_000_000);
        NtpHeader {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 1,
            poll: 0,
            precision: -20,
            root_delay: 0,
            root_dispersion: 0x0000_0042,
            reference_id: ReferenceId(*b"LOCL"),
            reference_ts: NtpTimestamp::from_unix(t2),
            origin_ts: req.transmit,
            receive_ts: NtpTimestamp::from_unix(t2),
            transmit_ts: NtpTimestamp::from_unix(t3),
        }
    }

    fn t4(req: &ClientRequest) -> Timestamp {
        req.t1.add_ns(21_000_000)
    }

    #[test]
    fn request_carries_random_transmit_and_nothing_else() {
        let req = request();
        let bytes = req.header().encode();
        assert_eq!(bytes[0], 0x23, "LI 0, version 4, mode 3");
        assert!(bytes[1..40].iter().all(|b| *b == 0));
        assert_eq!(
            u64::from_be_bytes(bytes[40..48].try_into().unwrap()),
            req.transmit.0
        );
        // Not the local time: the seconds field is not T1's.
        assert_ne!(req.transmit, NtpTimestamp::from_unix(req.t1));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        assert_ne!(ClientRequest::new(&mut rng, req.t1).transmit, req.transmit);
    }

    #[test]
    fn offset_and_delay_in_integer_nanoseconds() {
        let req = request();
        let m = req
            .check_reply(&reply(&req, 2_500_000_123), t4(&req))
            .unwrap();
        assert_eq!(m.delay_ns, 20_000_000);
        assert_eq!(m.offset_ns, -2_500_000_123, "local is behind the server");
        assert_eq!(m.stratum, 1);
        assert_eq!(m.reference_id, ReferenceId(*b"LOCL"));
        assert_eq!(m.root_dispersion_ns, 1_007_080); // 0x42 / 65536 s
        assert_eq!(m.uncertainty_ns(), 10_000_000 + 1_007_080);
        let m = req.check_reply(&reply(&req, -7), t4(&req)).unwrap();
        assert_eq!(m.offset_ns, 7);
    }

    #[test]
    fn whole_day_offsets_survive() {
        let req = request();
        let m = req
            .check_reply(&reply(&req, -86_400_000_000_000), t4(&req))
            .unwrap();
        assert_eq!(m.offset_ns, 86_400_000_000_000);
    }

    #[test]
    fn wrong_origin_is_a_mismatch_even_for_a_kiss() {
        let req = request();
        let mut r = reply(&req, 0);
        r.origin_ts = NtpTimestamp(req.transmit.0 ^ 1);
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Mismatch(_))
        ));
        r.stratum = 0;
        r.reference_id = ReferenceId(*b"DENY");
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Mismatch(_))
        ));
        let mut r = reply(&req, 0);
        r.mode = Mode::Client;
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Mismatch(_))
        ));
    }

    #[test]
    fn kiss_codes_are_typed() {
        let req = request();
        for (code, want) in [
            (*b"RATE", KissCode::Rate),
            (*b"DENY", KissCode::Deny),
            (*b"RSTR", KissCode::Rstr),
            (*b"NTSN", KissCode::Other(*b"NTSN")),
        ] {
            let mut r = reply(&req, 0);
            r.stratum = 0;
            r.reference_id = ReferenceId(code);
            assert_eq!(req.check_reply(&r, t4(&req)), Err(RefErrorKind::Kiss(want)));
        }
        assert!(KissCode::Deny.stops_queries() && !KissCode::Rate.stops_queries());
    }

    #[test]
    fn unsynchronised_servers_are_refused() {
        let req = request();
        let mut r = reply(&req, 0);
        r.stratum = 16;
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Unsynchronised(_))
        ));
        let mut r = reply(&req, 0);
        r.leap = LeapIndicator::Unsynchronised;
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Unsynchronised(_))
        ));
        let mut r = reply(&req, 0);
        r.stratum = 200;
        assert!(req.check_reply(&r, t4(&req)).is_err());
    }

    #[test]
    fn leap_warning_is_passed_on() {
        let req = request();
        let mut r = reply(&req, 0);
        r.leap = LeapIndicator::Insert;
        assert_eq!(
            req.check_reply(&r, t4(&req)).unwrap().leap,
            LeapIndicator::Insert
        );
    }

    #[test]
    fn impossible_timestamps_are_malformed() {
        let req = request();
        let mut r = reply(&req, 0);
        r.transmit_ts = NtpTimestamp::ZERO;
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Malformed(_))
        ));
        let mut r = reply(&req, 0);
        std::mem::swap(&mut r.receive_ts, &mut r.transmit_ts);
        assert!(matches!(
            req.check_reply(&r, t4(&req)),
            Err(RefErrorKind::Malformed(_))
        ));
        // A reply "received" before it was sent: T4 earlier than T1.
        let r = reply(&req, 0);
        assert!(matches!(
            req.check_reply(&r, req.t1.add_ns(-1)),
            Err(RefErrorKind::Malformed(_))
        ));
    }

    #[test]
    fn exchange_across_the_2036_wrap() {
        // Local clock one second before the NTP era wrap, server two seconds ahead: its
        // timestamps are in era 1 with tiny seconds fields.
        let wrap_unix = (1i64 << 32) - super::super::packet::NTP_UNIX_OFFSET_S;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let req = ClientRequest::new(&mut rng, Timestamp::new(wrap_unix - 1, 0));
        let r = reply(&req, 2_000_000_000);
        assert!(r.receive_ts.0 >> 32 < 5, "server timestamps wrapped");
        let m = req.check_reply(&r, t4(&req)).unwrap();
        assert_eq!(m.offset_ns, -2_000_000_000);
        assert_eq!(m.delay_ns, 20_000_000);
    }
}

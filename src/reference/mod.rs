//! Time-of-day reference clients: NTP (RFC 5905), NTS (RFC 8915), gpsd and the NTP shared
//! memory segments that GPS tools export.
//!
//! A pulse says when a second starts, not which second it is; these clients supply the
//! number. Each produces a [`TodSample`]: integer nanoseconds, the local CLOCK_REALTIME time of
//! reception, and what the reference says about itself (stratum, leap warning, whether the
//! answer was authenticated). The engine decides what to trust; nothing here does.
//!
//! Shape: protocol code ([`ntp::packet`], [`nts::records`], [`nts::fields`], [`gpsd::json`]) is
//! sans-IO and tested with byte vectors. Network I/O is a set of non-blocking one-shot
//! queries ([`ntp::NtpQuery`], [`nts::NtsQuery`], [`gpsd::GpsdQuery`]) that implement
//! [`mio::event::Source`] and [`OneShot`], so the daemon's event loop drives them without a
//! thread per query; [`drive`] runs one to completion for tools and tests. The NTS-KE TLS
//! handshake is the one blocking exchange: [`nts::ke`] runs it on a worker thread, never on
//! the pulse path.
//!
//! This module must never set or adjust a clock, never block the caller except in the
//! explicitly blocking helpers ([`drive::run`], [`nts::ke::key_exchange`]), and never report
//! an unauthenticated answer as authenticated.

pub mod drive;
pub mod gpsd;
pub mod ntp;
pub mod nts;
pub mod shm;
mod udp;

use crate::time::Timestamp;
use std::fmt;
use std::time::{Duration, Instant};

pub use drive::{OneShot, QueryStatus};

/// The leap indicator a reference announces (NTP's LI bits; gpsd and SHM map onto it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LeapIndicator {
    /// No leap second announced.
    #[default]
    NoWarning,
    /// The last minute of the current UTC day has 61 seconds.
    Insert,
    /// The last minute of the current UTC day has 59 seconds.
    Delete,
    /// The reference is not synchronised (NTP's "alarm condition").
    Unsynchronised,
    /// The source does not announce leap seconds at all (gpsd's TPV reports): ask another.
    Unknown,
}

impl LeapIndicator {
    /// From the two LI bits.
    pub fn from_bits(bits: u8) -> LeapIndicator {
        match bits & 3 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::Insert,
            2 => LeapIndicator::Delete,
            _ => LeapIndicator::Unsynchronised,
        }
    }

    /// The two LI bits; [`Unknown`](Self::Unknown) has none and encodes as 0.
    pub fn bits(self) -> u8 {
        match self {
            LeapIndicator::NoWarning | LeapIndicator::Unknown => 0,
            LeapIndicator::Insert => 1,
            LeapIndicator::Delete => 2,
            LeapIndicator::Unsynchronised => 3,
        }
    }
}

/// The kind of client a sample came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// Plain NTP: unauthenticated, forgeable by anyone on the path.
    Ntp,
    /// NTP protected by NTS: server authenticated by TLS, replies by AEAD.
    Nts,
    /// gpsd's JSON stream (TPV reports).
    Gpsd,
    /// An NTP shared-memory segment written by a local receiver tool.
    Shm,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Ntp => "ntp",
            SourceKind::Nts => "nts",
            SourceKind::Gpsd => "gpsd",
            SourceKind::Shm => "shm",
        })
    }
}

/// The NTP reference identifier: four ASCII characters for a stratum-1 server (`GPS`,
/// `LOCL`), else an IPv4 address or a hash of the upstream's address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReferenceId(pub [u8; 4]);

impl fmt::Display for ReferenceId {
    /// Printable ASCII as text (`GPS`), anything else as hex (`7F000001`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<u8> = self.0.iter().copied().take_while(|b| *b != 0).collect();
        if !text.is_empty() && text.iter().all(|b| b.is_ascii_graphic()) {
            f.write_str(&String::from_utf8_lossy(&text))
        } else {
            write!(f, "{:08X}", u32::from_be_bytes(self.0))
        }
    }
}

/// One time-of-day reading from a reference, in integer nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TodSample {
    /// Which configured reference answered, as `kind:address` (`nts:time.example:4460`).
    pub source: String,
    /// The kind of client.
    pub kind: SourceKind,
    /// Local CLOCK_REALTIME when the answer arrived (NTP's T4).
    pub local_time: Timestamp,
    /// Local clock minus reference time, ns. May be whole seconds: that is what a reference
    /// is for. For gpsd it includes the report's delivery latency (see [`gpsd`]).
    pub offset_ns: i64,
    /// Round-trip delay, ns, for network references; `None` for local receivers.
    pub delay_ns: Option<i64>,
    /// A bound on how far `offset_ns` may be from the truth, ns: half the round trip plus the
    /// server's root distance for NTP; the configured latency bound for gpsd and SHM.
    pub uncertainty_ns: i64,
    /// The reference's stratum (0 for a receiver attached to this machine).
    pub stratum: u8,
    /// The leap second the reference announces.
    pub leap: LeapIndicator,
    /// The reference's own reference identifier.
    pub reference_id: ReferenceId,
    /// True only for a reply whose authenticity was cryptographically verified (NTS).
    pub authenticated: bool,
}

impl TodSample {
    /// The reference's time at [`local_time`](Self::local_time).
    pub fn reference_time(&self) -> Timestamp {
        self.local_time.add_ns(-self.offset_ns)
    }
}

/// A failed or refused reference reading, naming the source. Displays as one line:
/// `nts:127.0.0.1:4460: authentication failed: reply authenticator does not verify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefError {
    /// The source, as in [`TodSample::source`].
    pub source: String,
    /// What went wrong.
    pub kind: RefErrorKind,
}

/// What went wrong with a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefErrorKind {
    /// A socket or file operation failed.
    Io {
        /// The operation (`connect`, `recv`, `shmat`).
        op: &'static str,
        /// The system's description.
        detail: String,
    },
    /// No acceptable answer before the deadline; `rejected` describes the last answer that
    /// arrived but was refused, if any.
    Timeout {
        /// How long the query waited.
        after: Duration,
        /// The last refused answer's reason.
        rejected: Option<String>,
    },
    /// The answer is not valid protocol (bad length, field, record or JSON).
    Malformed(String),
    /// The server sent a kiss-o'-death.
    Kiss(ntp::KissCode),
    /// The reference says it is not synchronised (stratum 16, LI alarm, no fix).
    Unsynchronised(String),
    /// The answer does not belong to our request (origin timestamp, unique identifier).
    Mismatch(String),
    /// An NTS authenticator did not verify or was missing.
    Authentication(String),
    /// The TLS handshake or certificate check failed.
    Tls(String),
    /// The NTS-KE server refused or the negotiation failed.
    KeyExchange(String),
    /// The NTS server no longer accepts our cookies (NTS NAK): run NTS-KE again.
    NtsNak,
    /// No NTS cookie left: run NTS-KE again.
    NoCookies,
    /// The configuration cannot work (no address, empty trust store).
    Config(String),
}

impl RefError {
    /// An error for `source`.
    pub fn new(source: impl Into<String>, kind: RefErrorKind) -> RefError {
        RefError {
            source: source.into(),
            kind,
        }
    }

    /// An I/O error for `source` from a `std::io::Error`.
    pub fn io(source: impl Into<String>, op: &'static str, e: &std::io::Error) -> RefError {
        RefError::new(
            source,
            RefErrorKind::Io {
                op,
                detail: e.to_string(),
            },
        )
    }
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.source)?;
        match &self.kind {
            RefErrorKind::Io { op, detail } => write!(f, "{op}: {detail}"),
            RefErrorKind::Timeout { after, rejected } => {
                write!(f, "no valid answer within {} ms", after.as_millis())?;
                match rejected {
                    Some(why) => write!(f, " (last answer rejected: {why})"),
                    None => Ok(()),
                }
            }
            RefErrorKind::Malformed(why) => write!(f, "malformed answer: {why}"),
            RefErrorKind::Kiss(code) => write!(f, "kiss-o'-death {code}"),
            RefErrorKind::Unsynchronised(why) => write!(f, "reference not synchronised: {why}"),
            RefErrorKind::Mismatch(why) => write!(f, "answer does not match the request: {why}"),
            RefErrorKind::Authentication(why) => write!(f, "authentication failed: {why}"),
            RefErrorKind::Tls(why) => write!(f, "TLS: {why}"),
            RefErrorKind::KeyExchange(why) => write!(f, "NTS-KE: {why}"),
            RefErrorKind::NtsNak => f.write_str("NTS NAK: server refused our cookie, rerun NTS-KE"),
            RefErrorKind::NoCookies => f.write_str("no NTS cookie left, rerun NTS-KE"),
            RefErrorKind::Config(why) => write!(f, "configuration: {why}"),
        }
    }
}

impl std::error::Error for RefError {}

/// Reads CLOCK_REALTIME: the default clock the clients stamp receptions with.
pub fn realtime_now() -> Timestamp {
    crate::sys::clock::ClockId::Realtime.now()
}

/// The clock a query stamps sends and receptions with; tests substitute a shifted one.
pub type RealtimeClock = fn() -> Timestamp;

/// Time left until `deadline`, zero once past.
pub(crate) fn remaining(deadline: Instant, now: Instant) -> Duration {
    deadline.saturating_duration_since(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_bits_round_trip() {
        for bits in 0..4 {
            assert_eq!(LeapIndicator::from_bits(bits).bits(), bits);
        }
        assert_eq!(LeapIndicator::from_bits(7), LeapIndicator::Unsynchronised);
    }

    #[test]
    fn reference_id_prints_text_or_hex() {
        assert_eq!(ReferenceId(*b"GPS\0").to_string(), "GPS");
        assert_eq!(ReferenceId(*b"LOCL").to_string(), "LOCL");
        assert_eq!(ReferenceId([127, 0, 0, 1]).to_string(), "7F000001");
    }

    #[test]
    fn reference_time_undoes_offset() {
        let s = TodSample {
            source: "ntp:x".into(),
            kind: SourceKind::Ntp,
            local_time: Timestamp::new(1_000, 0),
            offset_ns: 2_500_000_000,
            delay_ns: Some(1),
            uncertainty_ns: 1,
            stratum: 1,
            leap: LeapIndicator::NoWarning,
            reference_id: ReferenceId::default(),
            authenticated: false,
        };
        assert_eq!(s.reference_time(), Timestamp::new(997, 500_000_000));
    }

    #[test]
    fn errors_are_one_line_naming_the_source() {
        let e = RefError::new(
            "nts:127.0.0.1:4460",
            RefErrorKind::Timeout {
                after: Duration::from_millis(1500),
                rejected: Some("authenticator does not verify".into()),
            },
        );
        let text = e.to_string();
        assert!(!text.contains('\n'));
        assert_eq!(
            text,
            "nts:127.0.0.1:4460: no valid answer within 1500 ms \
             (last answer rejected: authenticator does not verify)"
        );
    }
}

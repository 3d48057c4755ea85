//! Plain NTP client (RFC 5905 client mode): a one-shot, non-blocking query.
//!
//! [`NtpQuery`] sends one request from a fresh ephemeral port and waits, until its deadline,
//! for the reply that echoes the request's random transmit timestamp. Datagrams that do not
//! (forged, stale, duplicated) are recorded and ignored. A kiss-o'-death or an unsynchronised
//! server ends the query with a typed error: DENY and RSTR mean "drop this server", RATE
//! means "poll less often" ([`KissCode::stops_queries`]).
//!
//! Plain NTP is unauthenticated: anyone on the path can forge a reply that passes every check
//! here, so its samples carry `authenticated: false` and a TSA must not rest on them alone.

pub mod exchange;
pub mod packet;

pub use exchange::{ClientRequest, KissCode, Measurement};

use super::drive::delegate_source;
use super::drive::{OneShot, QueryStatus};
use super::udp::{poll_datagrams, DatagramQuery, UdpChannel};
use super::{realtime_now, RealtimeClock, RefError, RefErrorKind, SourceKind, TodSample};
use packet::NtpHeader;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One NTP request and the wait for its reply.
#[derive(Debug)]
pub struct NtpQuery {
    chan: UdpChannel,
    request: ClientRequest,
    clock: RealtimeClock,
}

impl NtpQuery {
    /// Sends a request to `server` and returns the query waiting for the reply, stamped with
    /// CLOCK_REALTIME.
    ///
    /// # Errors
    /// A socket error (bind, connect, send).
    pub fn start(server: SocketAddr, timeout: Duration) -> Result<NtpQuery, RefError> {
        NtpQuery::start_with_clock(server, timeout, realtime_now)
    }

    /// As [`start`](Self::start), stamping T1 and T4 with `clock`.
    ///
    /// # Errors
    /// A socket error (bind, connect, send).
    pub fn start_with_clock(
        server: SocketAddr,
        timeout: Duration,
        clock: RealtimeClock,
    ) -> Result<NtpQuery, RefError> {
        let chan = UdpChannel::open(format!("{}:{server}", SourceKind::Ntp), server, timeout)?;
        let mut request = ClientRequest::new(&mut rand::rngs::OsRng, clock());
        let bytes = request.header().encode();
        // T1 as close to the send as possible: the request does not contain it.
        request.t1 = clock();
        chan.send(&bytes)?;
        Ok(NtpQuery {
            chan,
            request,
            clock,
        })
    }

    /// Replies that arrived but were refused since the last call, for the log.
    pub fn take_rejections(&mut self) -> Vec<RefError> {
        self.chan.take_rejections()
    }

    /// Handles one datagram: `Some` ends the query.
    fn answer(&mut self, bytes: &[u8]) -> Option<Result<TodSample, RefError>> {
        let t4 = (self.clock)();
        let header = match NtpHeader::decode(bytes) {
            Ok(h) => h,
            Err(why) => {
                self.chan.reject(RefErrorKind::Malformed(why));
                return None;
            }
        };
        match self.request.check_reply(&header, t4) {
            Ok(m) => Some(Ok(sample(&self.chan.name, SourceKind::Ntp, &m, false))),
            Err(kind @ RefErrorKind::Mismatch(_)) => {
                self.chan.reject(kind);
                None
            }
            Err(kind) => Some(Err(RefError::new(&self.chan.name, kind))),
        }
    }
}

/// A sample from a measurement.
pub(crate) fn sample(
    name: &str,
    kind: SourceKind,
    m: &Measurement,
    authenticated: bool,
) -> TodSample {
    TodSample {
        source: name.to_string(),
        kind,
        local_time: m.t4,
        offset_ns: m.offset_ns,
        delay_ns: Some(m.delay_ns),
        uncertainty_ns: m.uncertainty_ns(),
        stratum: m.stratum,
        leap: m.leap,
        reference_id: m.reference_id,
        authenticated,
    }
}

impl DatagramQuery for NtpQuery {
    type Output = TodSample;

    fn chan(&mut self) -> &mut UdpChannel {
        &mut self.chan
    }

    fn on_datagram(&mut self, bytes: &[u8]) -> Option<Result<TodSample, RefError>> {
        self.answer(bytes)
    }
}

impl OneShot for NtpQuery {
    type Output = TodSample;

    fn interest(&self) -> mio::Interest {
        mio::Interest::READABLE
    }

    fn deadline(&self) -> Instant {
        self.chan.deadline
    }

    fn poll(&mut self, now: Instant) -> QueryStatus<TodSample> {
        poll_datagrams(self, now)
    }

    fn source_name(&self) -> &str {
        &self.chan.name
    }
}

delegate_source!(NtpQuery, chan.socket);

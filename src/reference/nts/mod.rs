//! NTS client (RFC 8915): an authenticated NTP query on a session established by NTS-KE.
//!
//! [`ke::key_exchange`] (blocking, on a worker thread) yields an [`NtsSession`]: the two AEAD
//! keys, a jar of cookies and the NTP server to ask. [`NtsSession::query`] consumes one cookie
//! per request and asks for as many new ones as the jar lacks; [`NtsSession::accept`] puts the
//! fresh cookies from a verified reply back into the jar. A reply is used only if its unique
//! identifier is ours, its authenticator verifies under the server-to-client key, and its NTP
//! header passes every plain NTP check (origin timestamp included); everything else is
//! recorded as a rejection and ignored until the deadline. An NTS NAK, or an empty jar, means
//! the session is spent: run NTS-KE again.
//!
//! Never marks a sample `authenticated` unless the authenticator verified; never reuses a
//! cookie (reuse would let an observer link our requests).

pub mod fields;
pub mod ke;
pub mod records;

use super::drive::delegate_source;
use super::drive::{OneShot, QueryStatus};
use super::ntp::packet::NtpHeader;
use super::ntp::{sample, ClientRequest};
use super::udp::{poll_datagrams, DatagramQuery, UdpChannel};
use super::{realtime_now, RealtimeClock, RefError, RefErrorKind, SourceKind, TodSample};
use fields::{AeadKey, ReplyError, NONCE_LEN, UID_LEN};
use rand::RngCore;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Cookies a session aims to hold (RFC 8915 suggests eight).
pub const COOKIE_JAR_SIZE: usize = 8;

/// Keys, cookies and server of one NTS-KE exchange.
#[derive(Debug)]
pub struct NtsSession {
    name: String,
    ntp_server: SocketAddr,
    c2s: AeadKey,
    s2c: AeadKey,
    cookies: VecDeque<Vec<u8>>,
}

impl NtsSession {
    /// A session from NTS-KE results.
    pub fn new(
        name: String,
        ntp_server: SocketAddr,
        c2s: AeadKey,
        s2c: AeadKey,
        cookies: Vec<Vec<u8>>,
    ) -> NtsSession {
        let mut cookies: VecDeque<Vec<u8>> = cookies.into();
        cookies.truncate(COOKIE_JAR_SIZE);
        NtsSession {
            name,
            ntp_server,
            c2s,
            s2c,
            cookies,
        }
    }

    /// The source name (`nts:host:keport`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The NTP server NTS-KE negotiated.
    pub fn ntp_server(&self) -> SocketAddr {
        self.ntp_server
    }

    /// Cookies left; at zero, run NTS-KE again.
    pub fn cookies_left(&self) -> usize {
        self.cookies.len()
    }

    /// Sends one NTS-protected request, consuming a cookie, stamped with CLOCK_REALTIME.
    ///
    /// # Errors
    /// [`RefErrorKind::NoCookies`] with an empty jar, or a socket error.
    pub fn query(&mut self, timeout: Duration) -> Result<NtsQuery, RefError> {
        self.query_with_clock(timeout, realtime_now)
    }

    /// As [`query`](Self::query), stamping T1 and T4 with `clock`.
    ///
    /// # Errors
    /// [`RefErrorKind::NoCookies`] with an empty jar, or a socket error.
    pub fn query_with_clock(
        &mut self,
        timeout: Duration,
        clock: RealtimeClock,
    ) -> Result<NtsQuery, RefError> {
        let cookie = self
            .cookies
            .pop_front()
            .ok_or_else(|| RefError::new(&self.name, RefErrorKind::NoCookies))?;
        let placeholders = COOKIE_JAR_SIZE.saturating_sub(self.cookies.len() + 1);
        let chan = UdpChannel::open(self.name.clone(), self.ntp_server, timeout)?;
        let mut rng = rand::rngs::OsRng;
        let mut uid = [0u8; UID_LEN];
        rng.fill_bytes(&mut uid);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut request = ClientRequest::new(&mut rng, clock());
        let bytes = fields::build_request(
            &request.header().encode(),
            &uid,
            &cookie,
            placeholders,
            &self.c2s,
            &nonce,
        );
        // T1 after the AEAD work, just before the send: the request does not contain it.
        request.t1 = clock();
        chan.send(&bytes)?;
        Ok(NtsQuery {
            chan,
            request,
            uid,
            s2c: self.s2c.clone(),
            clock,
        })
    }

    /// Takes a verified answer: keeps its fresh cookies and returns its sample.
    pub fn accept(&mut self, answer: NtsAnswer) -> TodSample {
        for c in answer.cookies {
            if self.cookies.len() < COOKIE_JAR_SIZE {
                self.cookies.push_back(c);
            }
        }
        answer.sample
    }
}

/// A verified NTS reply: the sample and the cookies to put back in the session's jar.
#[derive(Debug)]
pub struct NtsAnswer {
    /// The measurement, marked authenticated.
    pub sample: TodSample,
    /// Fresh cookies; give them to [`NtsSession::accept`].
    pub cookies: Vec<Vec<u8>>,
}

/// One NTS-protected request and the wait for its reply.
#[derive(Debug)]
pub struct NtsQuery {
    chan: UdpChannel,
    request: ClientRequest,
    uid: [u8; UID_LEN],
    s2c: AeadKey,
    clock: RealtimeClock,
}

impl NtsQuery {
    /// Replies that arrived but were refused since the last call, for the log.
    pub fn take_rejections(&mut self) -> Vec<RefError> {
        self.chan.take_rejections()
    }

    /// Handles one datagram: `Some` ends the query.
    fn answer(&mut self, bytes: &[u8]) -> Option<Result<NtsAnswer, RefError>> {
        let t4 = (self.clock)();
        let cookies = match fields::verify_reply(bytes, &self.uid, &self.s2c) {
            Ok(c) => c,
            Err(ReplyError::Nak) => {
                return Some(Err(RefError::new(&self.chan.name, RefErrorKind::NtsNak)))
            }
            Err(ReplyError::Malformed(why)) => return self.reject(RefErrorKind::Malformed(why)),
            Err(ReplyError::Mismatch(why)) => return self.reject(RefErrorKind::Mismatch(why)),
            Err(ReplyError::Authentication(why)) => {
                return self.reject(RefErrorKind::Authentication(why))
            }
        };
        // Authenticated from here on: a failed NTP check is the server's own answer.
        let header = match NtpHeader::decode(bytes) {
            Ok(h) => h,
            Err(why) => return self.reject(RefErrorKind::Malformed(why)),
        };
        match self.request.check_reply(&header, t4) {
            Ok(m) => Some(Ok(NtsAnswer {
                sample: sample(&self.chan.name, SourceKind::Nts, &m, true),
                cookies,
            })),
            Err(kind @ RefErrorKind::Mismatch(_)) => self.reject(kind),
            Err(kind) => Some(Err(RefError::new(&self.chan.name, kind))),
        }
    }

    fn reject(&mut self, kind: RefErrorKind) -> Option<Result<NtsAnswer, RefError>> {
        self.chan.reject(kind);
        None
    }
}

impl DatagramQuery for NtsQuery {
    type Output = NtsAnswer;

    fn chan(&mut self) -> &mut UdpChannel {
        &mut self.chan
    }

    fn on_datagram(&mut self, bytes: &[u8]) -> Option<Result<NtsAnswer, RefError>> {
        self.answer(bytes)
    }
}

impl OneShot for NtsQuery {
    type Output = NtsAnswer;

    fn interest(&self) -> mio::Interest {
        mio::Interest::READABLE
    }

    fn deadline(&self) -> Instant {
        self.chan.deadline
    }

    fn poll(&mut self, now: Instant) -> QueryStatus<NtsAnswer> {
        poll_datagrams(self, now)
    }

    fn source_name(&self) -> &str {
        &self.chan.name
    }
}

delegate_source!(NtsQuery, chan.socket);

#[cfg(test)]
mod tests {
    use super::*;

    fn session(cookies: usize) -> NtsSession {
        let server: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let jar = (0..cookies).map(|i| vec![i as u8; 64]).collect();
        NtsSession::new(
            "nts:test:4460".into(),
            server,
            AeadKey([1; 32]),
            AeadKey([2; 32]),
            jar,
        )
    }

    #[test]
    fn each_query_consumes_one_cookie() {
        let mut s = session(8);
        let q = s.query(Duration::from_millis(10)).unwrap();
        assert_eq!(s.cookies_left(), 7);
        drop(q);
        let mut s = session(3);
        let _q = s.query(Duration::from_millis(10)).unwrap();
        assert_eq!(s.cookies_left(), 2);
    }

    #[test]
    fn empty_jar_is_a_typed_error() {
        let mut s = session(0);
        let e = s.query(Duration::from_millis(10)).unwrap_err();
        assert_eq!(e.kind, RefErrorKind::NoCookies);
        assert!(e.to_string().contains("rerun NTS-KE"));
    }

    #[test]
    fn accept_refills_the_jar_up_to_its_size() {
        let mut s = session(7);
        let sample = TodSample {
            source: s.name().into(),
            kind: SourceKind::Nts,
            local_time: crate::time::Timestamp::ZERO,
            offset_ns: 0,
            delay_ns: Some(0),
            uncertainty_ns: 0,
            stratum: 1,
            leap: crate::reference::LeapIndicator::NoWarning,
            reference_id: crate::reference::ReferenceId::default(),
            authenticated: true,
        };
        let got = s.accept(NtsAnswer {
            sample: sample.clone(),
            cookies: vec![vec![9; 64]; 3],
        });
        assert_eq!(got, sample);
        assert_eq!(s.cookies_left(), COOKIE_JAR_SIZE);
    }
}

//! The configured time-of-day references, driven from the clock loop without blocking it:
//! NTP and gpsd queries are non-blocking one-shots registered with the loop's `mio::Poll`;
//! NTS runs its TLS key exchange on a worker thread and then queries like NTP; an NTP
//! shared-memory segment is read in place.
//!
//! Each source is asked every `interval_s` (sooner again after a failure, at most every 16 s).
//! Answers become the engine's time-of-day samples (offset with whole seconds, leap warning);
//! whether to trust them is the engine's business. Nothing here sets a clock or blocks: no
//! DNS on this thread (NTP and gpsd addresses are IP literals; NTS-KE resolves on its worker).

use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use crate::config::{ReferenceKind, ReferenceSection};
use crate::engine::{Leap, TodSample};
use crate::reference::gpsd::GpsdQuery;
use crate::reference::ntp::NtpQuery;
use crate::reference::nts::ke::{spawn_key_exchange, KeConfig};
use crate::reference::nts::{NtsQuery, NtsSession};
use crate::reference::shm::{ShmRead, ShmReader};
use crate::reference::{self, LeapIndicator, OneShot, QueryStatus, RefError, RefErrorKind};

/// First mio token used for reference sockets; source `i` uses `TOKEN_BASE + i`.
pub const TOKEN_BASE: usize = 100;
/// Longest wait before retrying a failed source.
const RETRY_MAX: Duration = Duration::from_secs(16);

/// What servicing the references produced.
#[derive(Debug)]
pub enum RefOutcome {
    /// A reading for the engine, and the source's name.
    Sample(TodSample, String),
    /// A failure or a refused answer, one line naming the source.
    Problem(String),
}

enum Query {
    Ntp(NtpQuery),
    Nts(NtsQuery),
    Gpsd(GpsdQuery),
}

struct Source {
    cfg: ReferenceSection,
    name: String,
    token: Token,
    next_at: Instant,
    query: Option<Query>,
    session: Option<NtsSession>,
    key_exchange: Option<Receiver<Result<NtsSession, RefError>>>,
    shm: Option<ShmReader>,
}

/// All configured references.
pub struct References {
    sources: Vec<Source>,
}

/// The engine's sample from a reference reading.
pub fn to_engine(s: &reference::TodSample) -> TodSample {
    TodSample {
        offset_ns: s.offset_ns,
        leap: match s.leap {
            LeapIndicator::Insert => Leap::Insert,
            LeapIndicator::Delete => Leap::Delete,
            _ => Leap::None,
        },
        authenticated: s.authenticated,
    }
}

/// `host[:port]` of an NTS-KE server (port 4460 by default; `[v6]:port` for IPv6 literals).
pub fn nts_host_port(address: &str) -> (String, u16) {
    if let Some(rest) = address.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_string(), port.unwrap_or(4460));
        }
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            (host.to_string(), port.parse().unwrap_or(4460))
        }
        _ => (address.to_string(), 4460),
    }
}

/// The name a source goes by in logs and in the shm record (`nts:time.example`).
pub fn source_name(cfg: &ReferenceSection) -> String {
    match cfg.kind {
        ReferenceKind::Nts => format!("nts:{}", cfg.address),
        ReferenceKind::Ntp => format!("ntp:{}", cfg.address),
        ReferenceKind::Gpsd => format!("gpsd:{}", cfg.address),
        ReferenceKind::Shm => format!("shm:{}", cfg.unit),
    }
}

impl References {
    /// Sources for `cfgs`, all due at `now`.
    pub fn new(cfgs: &[ReferenceSection], now: Instant) -> References {
        let sources = cfgs
            .iter()
            .enumerate()
            .map(|(i, cfg)| Source {
                name: source_name(cfg),
                cfg: cfg.clone(),
                token: Token(TOKEN_BASE + i),
                next_at: now,
                query: None,
                session: None,
                key_exchange: None,
                shm: None,
            })
            .collect();
        References { sources }
    }

    /// Drops every query in flight (before the set is replaced on reload).
    pub fn close(&mut self, registry: &Registry) {
        for s in &mut self.sources {
            s.drop_query(registry);
        }
    }

    /// The earliest instant something is due (a query to start, or a deadline).
    pub fn next_due(&self) -> Option<Instant> {
        self.sources
            .iter()
            .map(|s| match &s.query {
                Some(q) => q.deadline(),
                None if s.key_exchange.is_some() => Instant::now() + Duration::from_millis(250),
                None => s.next_at,
            })
            .min()
    }

    /// Advances every source: polls queries in flight, collects key exchanges, starts what is
    /// due. Results go to `out`.
    pub fn service(&mut self, now: Instant, registry: &Registry, out: &mut Vec<RefOutcome>) {
        for s in &mut self.sources {
            s.service(now, registry, out);
        }
    }
}

impl Query {
    fn deadline(&self) -> Instant {
        match self {
            Query::Ntp(q) => q.deadline(),
            Query::Nts(q) => q.deadline(),
            Query::Gpsd(q) => q.deadline(),
        }
    }
}

impl Source {
    fn retry(&mut self, now: Instant) {
        let interval = Duration::from_secs(self.cfg.interval_s as u64);
        self.next_at = now + interval.min(RETRY_MAX);
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.timeout_ms as u64)
    }

    fn drop_query(&mut self, registry: &Registry) {
        if let Some(q) = self.query.take() {
            let _ = match q {
                Query::Ntp(mut q) => registry.deregister(&mut q),
                Query::Nts(mut q) => registry.deregister(&mut q),
                Query::Gpsd(mut q) => registry.deregister(&mut q),
            };
        }
    }

    fn service(&mut self, now: Instant, registry: &Registry, out: &mut Vec<RefOutcome>) {
        if self.query.is_some() {
            self.poll_query(now, registry, out);
        }
        self.collect_key_exchange(now, out);
        if self.query.is_none() && self.key_exchange.is_none() && now >= self.next_at {
            self.start(now, registry, out);
        }
    }

    fn collect_key_exchange(&mut self, now: Instant, out: &mut Vec<RefOutcome>) {
        let Some(rx) = &self.key_exchange else { return };
        match rx.try_recv() {
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                self.key_exchange = None;
                out.push(RefOutcome::Problem(format!(
                    "{}: NTS-KE worker vanished",
                    self.name
                )));
                self.retry(now);
            }
            Ok(Ok(session)) => {
                self.key_exchange = None;
                self.session = Some(session);
                self.next_at = now;
            }
            Ok(Err(e)) => {
                self.key_exchange = None;
                out.push(RefOutcome::Problem(e.to_string()));
                self.retry(now);
            }
        }
    }

    fn start(&mut self, now: Instant, registry: &Registry, out: &mut Vec<RefOutcome>) {
        let timeout = self.timeout();
        let started = match self.cfg.kind {
            ReferenceKind::Shm => return self.read_shm(now, out),
            ReferenceKind::Nts if self.session.is_none() => {
                let (host, port) = nts_host_port(&self.cfg.address);
                let mut ke = KeConfig::new(host, port);
                ke.ca_file = self.cfg.ca_file.clone();
                ke.timeout = Duration::from_secs(5).max(timeout);
                self.key_exchange = Some(spawn_key_exchange(ke));
                return;
            }
            ReferenceKind::Nts => match self.session.as_mut().map(|s| s.query(timeout)) {
                Some(Ok(q)) => Ok(Query::Nts(q)),
                Some(Err(e)) => Err(e),
                None => return,
            },
            ReferenceKind::Ntp | ReferenceKind::Gpsd => {
                let addr = self.cfg.address.parse::<SocketAddr>().map_err(|_| {
                    RefError::new(
                        &self.name,
                        RefErrorKind::Config("address is not IP:port".into()),
                    )
                });
                match (self.cfg.kind, addr) {
                    (_, Err(e)) => Err(e),
                    (ReferenceKind::Ntp, Ok(a)) => NtpQuery::start(a, timeout).map(Query::Ntp),
                    (_, Ok(a)) => GpsdQuery::start(a, timeout).map(Query::Gpsd),
                }
            }
        };
        let mut query = match started {
            Ok(q) => q,
            Err(e) => return self.failed(e, now, out),
        };
        let token = self.token;
        let registered = match &mut query {
            Query::Ntp(q) => registry.register(q, token, q.interest()),
            Query::Nts(q) => registry.register(q, token, q.interest()),
            Query::Gpsd(q) => registry.register(q, token, q.interest()),
        };
        if let Err(e) = registered {
            let e = RefError::io(&self.name, "epoll_ctl", &e);
            return self.failed(e, now, out);
        }
        self.query = Some(query);
        self.next_at = now + Duration::from_secs(self.cfg.interval_s as u64);
    }

    fn failed(&mut self, e: RefError, now: Instant, out: &mut Vec<RefOutcome>) {
        if matches!(e.kind, RefErrorKind::NtsNak | RefErrorKind::NoCookies) {
            self.session = None;
            self.next_at = now;
        } else {
            self.retry(now);
        }
        out.push(RefOutcome::Problem(e.to_string()));
    }

    fn poll_query(&mut self, now: Instant, registry: &Registry, out: &mut Vec<RefOutcome>) {
        let result = match self.query.as_mut() {
            Some(Query::Ntp(q)) => match q.poll(now) {
                QueryStatus::Pending => return,
                QueryStatus::Done(r) => r,
            },
            Some(Query::Gpsd(q)) => match q.poll(now) {
                QueryStatus::Pending => return,
                QueryStatus::Done(r) => r,
            },
            Some(Query::Nts(q)) => match q.poll(now) {
                QueryStatus::Pending => return,
                QueryStatus::Done(Ok(answer)) => match self.session.as_mut() {
                    Some(session) => Ok(session.accept(answer)),
                    None => Ok(answer.sample),
                },
                QueryStatus::Done(Err(e)) => Err(e),
            },
            None => return,
        };
        self.drop_query(registry);
        match result {
            Ok(sample) => out.push(RefOutcome::Sample(to_engine(&sample), self.name.clone())),
            Err(e) => self.failed(e, now, out),
        }
    }

    fn read_shm(&mut self, now: Instant, out: &mut Vec<RefOutcome>) {
        self.next_at = now + Duration::from_secs(self.cfg.interval_s as u64);
        if self.shm.is_none() {
            let max_age =
                Duration::from_secs(self.cfg.interval_s as u64).max(Duration::from_secs(2));
            match ShmReader::attach(self.cfg.unit as u8, max_age, 1_000_000_000) {
                Ok(r) => self.shm = Some(r),
                Err(e) => return self.failed(e, now, out),
            }
        }
        let Some(reader) = self.shm.as_mut() else {
            return;
        };
        match reader.read(reference::realtime_now()) {
            Ok(ShmRead::Sample(s)) => {
                out.push(RefOutcome::Sample(to_engine(&s), self.name.clone()))
            }
            Ok(ShmRead::NoNewSample | ShmRead::Torn) => {}
            Err(e) => {
                self.shm = None;
                self.failed(e, now, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn nts_addresses_default_to_port_4460() {
        assert_eq!(nts_host_port("time.example"), ("time.example".into(), 4460));
        assert_eq!(
            nts_host_port("time.example:1234"),
            ("time.example".into(), 1234)
        );
        assert_eq!(nts_host_port("[::1]:4461"), ("::1".into(), 4461));
        assert_eq!(nts_host_port("::1"), ("::1".into(), 4460));
    }

    #[test]
    fn leap_warnings_map_and_unsynchronised_never_arms_a_leap() {
        let mut s = reference::TodSample {
            source: "ntp:x".into(),
            kind: reference::SourceKind::Ntp,
            local_time: crate::time::Timestamp::ZERO,
            offset_ns: -2_000_000_123,
            delay_ns: None,
            uncertainty_ns: 1,
            stratum: 1,
            leap: LeapIndicator::Insert,
            reference_id: reference::ReferenceId::default(),
            authenticated: false,
        };
        assert_eq!(
            to_engine(&s),
            TodSample {
                offset_ns: -2_000_000_123,
                leap: Leap::Insert,
                authenticated: false,
            }
        );
        s.leap = LeapIndicator::Unknown;
        assert_eq!(to_engine(&s).leap, Leap::None);
    }

    #[test]
    fn an_unanswered_ntp_query_times_out_and_is_retried() {
        // A bound UDP socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = ReferenceSection {
            kind: ReferenceKind::Ntp,
            address: silent.local_addr().unwrap().to_string(),
            interval_s: 64,
            timeout_ms: 30,
            ..ReferenceSection::default()
        };
        let poll = mio::Poll::new().unwrap();
        let t0 = Instant::now();
        let mut refs = References::new(&[cfg], t0);
        let mut out = Vec::new();
        refs.service(t0, poll.registry(), &mut out);
        assert!(out.is_empty());
        let deadline = refs.next_due().unwrap();
        assert!(deadline <= t0 + Duration::from_millis(40));
        std::thread::sleep(Duration::from_millis(40));
        refs.service(Instant::now(), poll.registry(), &mut out);
        match out.as_slice() {
            [RefOutcome::Problem(p)] => assert!(p.contains("no valid answer"), "{p}"),
            other => panic!("{other:?}"),
        }
        let retry = refs.next_due().unwrap();
        assert!(
            retry > Instant::now() + Duration::from_secs(10),
            "retried after 16 s"
        );
    }
}

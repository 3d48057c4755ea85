//! gpsd client: JSON over TCP, reading the time of each fix from TPV reports.
//!
//! [`GpsdClient`] connects without blocking, sends `?WATCH={"enable":true,"json":true}` and
//! turns each complete line into a [`GpsdEvent`]. A TPV with a fix (mode ≥ 2) and a time
//! becomes a [`TodSample`]; one without a fix is reported as unusable and its time is never
//! used. [`GpsdQuery`] wraps a client as a one-shot query for the first usable time.
//!
//! What a TPV time is good for: it names the second of the fix epoch, but arrives after the
//! receiver's serial output and gpsd's processing, typically 0.05–0.6 s late. The sample's
//! `offset_ns` includes that latency and its `uncertainty_ns` is the configured latency bound
//! (default 1 s): enough to number the seconds of a pulse, not to measure its phase. gpsd
//! TPV reports carry no leap-second warning, so samples say [`LeapIndicator::Unknown`].
//! This client only reads; it never asks gpsd to configure a device.

pub mod json;

use super::drive::delegate_source;
use super::drive::{spent, OneShot, QueryStatus};
use super::LeapIndicator;
use super::{
    realtime_now, RealtimeClock, RefError, RefErrorKind, ReferenceId, SourceKind, TodSample,
};
use json::{Report, TimeOffset};
use mio::net::TcpStream;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Longest line accepted from gpsd; its longest reports (SKY) are a few kilobytes.
const MAX_LINE: usize = 65_536;
/// Default bound on a TPV report's delivery latency.
pub const DEFAULT_LATENCY_BOUND: Duration = Duration::from_secs(1);

/// Something gpsd reported.
#[derive(Clone, Debug, PartialEq)]
pub enum GpsdEvent {
    /// A TPV with a fix and a time.
    Time(TodSample),
    /// A TPV whose time must not be used, and why.
    Unusable(String),
    /// A TOFF report (serial-message time against the local clock).
    Toff(TimeOffset),
    /// A PPS report (pulse time against the local clock).
    Pps(TimeOffset),
    /// gpsd's version banner.
    Version(String),
    /// An ERROR report from gpsd.
    Error(String),
}

/// A streaming connection to gpsd.
#[derive(Debug)]
pub struct GpsdClient {
    name: String,
    stream: TcpStream,
    pending: Vec<u8>,
    line: Vec<u8>,
    latency_bound: Duration,
    clock: RealtimeClock,
}

impl GpsdClient {
    /// Starts connecting to gpsd at `addr` (non-blocking) and queues the WATCH command.
    ///
    /// # Errors
    /// A socket error.
    pub fn connect(addr: SocketAddr) -> Result<GpsdClient, RefError> {
        GpsdClient::connect_with(addr, DEFAULT_LATENCY_BOUND, realtime_now)
    }

    /// As [`connect`](Self::connect) with a latency bound and a clock to stamp reports with.
    ///
    /// # Errors
    /// A socket error.
    pub fn connect_with(
        addr: SocketAddr,
        latency_bound: Duration,
        clock: RealtimeClock,
    ) -> Result<GpsdClient, RefError> {
        let name = format!("{}:{addr}", SourceKind::Gpsd);
        let stream = TcpStream::connect(addr).map_err(|e| RefError::io(&name, "connect", &e))?;
        Ok(GpsdClient {
            name,
            stream,
            pending: json::WATCH_COMMAND.to_vec(),
            line: Vec::new(),
            latency_bound,
            clock,
        })
    }

    /// The source name (`gpsd:addr`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends what is queued and reads everything available; call on readiness.
    ///
    /// # Errors
    /// A connection error or a closed connection; the client is then unusable.
    pub fn poll(&mut self) -> Result<Vec<GpsdEvent>, RefError> {
        if let Ok(Some(e)) | Err(e) = self.stream.take_error() {
            return Err(RefError::io(&self.name, "connect", &e));
        }
        self.flush()?;
        let mut events = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    let detail = "gpsd closed the connection".to_string();
                    return Err(RefError::new(
                        &self.name,
                        RefErrorKind::Io { op: "recv", detail },
                    ));
                }
                Ok(n) => self.take_bytes(&buf[..n], &mut events)?,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {
                    break
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(RefError::io(&self.name, "recv", &e)),
            }
        }
        Ok(events)
    }

    fn flush(&mut self) -> Result<(), RefError> {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {
                    break
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(RefError::io(&self.name, "send", &e)),
            }
        }
        Ok(())
    }

    /// Splits received bytes into lines and parses each complete one.
    fn take_bytes(&mut self, bytes: &[u8], events: &mut Vec<GpsdEvent>) -> Result<(), RefError> {
        let now = (self.clock)();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                if self.line.len() > MAX_LINE {
                    let why = format!("line longer than {MAX_LINE} bytes");
                    return Err(RefError::new(&self.name, RefErrorKind::Malformed(why)));
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if !text.is_empty() {
                events.push(self.event(text, now));
            }
        }
        Ok(())
    }

    /// The event for one line received at local time `now`.
    fn event(&self, line: &str, now: crate::time::Timestamp) -> GpsdEvent {
        match json::parse_line(line) {
            Ok(Report::Tpv(tpv)) => self.tpv_event(&tpv, now),
            Ok(Report::Toff(t)) => GpsdEvent::Toff(t),
            Ok(Report::Pps(t)) => GpsdEvent::Pps(t),
            Ok(Report::Version(v)) => GpsdEvent::Version(v),
            Ok(Report::Error(m)) => GpsdEvent::Error(m),
            Ok(Report::Other(class)) => GpsdEvent::Unusable(format!("{class} report ignored")),
            Err(why) => GpsdEvent::Unusable(why),
        }
    }

    fn tpv_event(&self, tpv: &json::Tpv, now: crate::time::Timestamp) -> GpsdEvent {
        if tpv.mode < 2 {
            return GpsdEvent::Unusable(format!("TPV mode {} (no fix): time not used", tpv.mode));
        }
        let Some(time) = &tpv.time else {
            return GpsdEvent::Unusable("TPV with a fix but no time".into());
        };
        match json::parse_time(time) {
            Ok(reference) => GpsdEvent::Time(TodSample {
                source: self.name.clone(),
                kind: SourceKind::Gpsd,
                local_time: now,
                offset_ns: now.diff_ns(reference),
                delay_ns: None,
                uncertainty_ns: i64::try_from(self.latency_bound.as_nanos()).unwrap_or(i64::MAX),
                stratum: 0,
                leap: LeapIndicator::Unknown,
                reference_id: ReferenceId(*b"GPSD"),
                authenticated: false,
            }),
            Err(why) => GpsdEvent::Unusable(why),
        }
    }
}

delegate_source!(GpsdClient, stream);

/// Waits, until a deadline, for the first TPV with a fix and a time.
#[derive(Debug)]
pub struct GpsdQuery {
    client: GpsdClient,
    deadline: Instant,
    timeout: Duration,
    last_unusable: Option<String>,
    done: bool,
}

impl GpsdQuery {
    /// A query on a new connection to `addr`.
    ///
    /// # Errors
    /// A socket error.
    pub fn start(addr: SocketAddr, timeout: Duration) -> Result<GpsdQuery, RefError> {
        Ok(GpsdQuery::new(GpsdClient::connect(addr)?, timeout))
    }

    /// A query on an existing client.
    pub fn new(client: GpsdClient, timeout: Duration) -> GpsdQuery {
        GpsdQuery {
            client,
            deadline: Instant::now() + timeout,
            timeout,
            last_unusable: None,
            done: false,
        }
    }
}

impl OneShot for GpsdQuery {
    type Output = TodSample;

    fn interest(&self) -> mio::Interest {
        mio::Interest::READABLE | mio::Interest::WRITABLE
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn poll(&mut self, now: Instant) -> QueryStatus<TodSample> {
        if self.done {
            return QueryStatus::Done(Err(spent(&self.client.name)));
        }
        let result = match self.client.poll() {
            Err(e) => Some(Err(e)),
            Ok(events) => events.into_iter().find_map(|ev| match ev {
                GpsdEvent::Time(s) => Some(Ok(s)),
                GpsdEvent::Unusable(why) | GpsdEvent::Error(why) => {
                    self.last_unusable = Some(why);
                    None
                }
                _ => None,
            }),
        };
        let result = match result {
            None if now >= self.deadline => Some(Err(RefError::new(
                &self.client.name,
                RefErrorKind::Timeout {
                    after: self.timeout,
                    rejected: self.last_unusable.take(),
                },
            ))),
            other => other,
        };
        match result {
            Some(r) => {
                self.done = true;
                QueryStatus::Done(r)
            }
            None => QueryStatus::Pending,
        }
    }

    fn source_name(&self) -> &str {
        &self.client.name
    }
}

delegate_source!(GpsdQuery, client);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_clock() -> crate::time::Timestamp {
        crate::time::Timestamp::new(1_709_210_097, 250_000_000)
    }

    /// A one-connection fake gpsd on loopback that sends `lines` after reading the WATCH.
    fn fake_gpsd(lines: &'static str) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut watch = [0u8; 64];
            let mut got = 0;
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while got < json::WATCH_COMMAND.len() {
                match std::io::Read::read(&mut s, &mut watch[got..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got += n,
                }
            }
            assert_eq!(&watch[..got], json::WATCH_COMMAND);
            s.write_all(lines.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        addr
    }

    #[test]
    fn first_fixed_tpv_gives_the_sample_and_unfixed_ones_are_skipped() {
        let addr = fake_gpsd(concat!(
            "{\"class\":\"VERSION\",\"release\":\"3.22\"}\n",
            "{\"class\":\"TPV\",\"mode\":1,\"time\":\"2001-01-01T00:00:00.000Z\"}\n",
            "{\"class\":\"TPV\",\"mode\":3,\"time\":\"2024-02-29T12:34:56.000Z\"}\n",
        ));
        let client = GpsdClient::connect_with(addr, DEFAULT_LATENCY_BOUND, fixed_clock).unwrap();
        let s =
            super::super::drive::run(&mut GpsdQuery::new(client, Duration::from_secs(5))).unwrap();
        assert_eq!(
            s.reference_time(),
            crate::time::Timestamp::new(1_709_210_096, 0)
        );
        assert_eq!(s.offset_ns, 1_250_000_000);
        assert_eq!(s.leap, LeapIndicator::Unknown);
        assert!(!s.authenticated);
    }

    #[test]
    fn no_fix_until_deadline_says_why() {
        let addr = fake_gpsd("{\"class\":\"TPV\",\"mode\":1}\n");
        let e = super::super::drive::run(
            &mut GpsdQuery::start(addr, Duration::from_millis(300)).unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("mode 1 (no fix)"), "{e}");
    }

    #[test]
    fn closed_connection_is_an_error() {
        let addr = fake_gpsd("");
        let e =
            super::super::drive::run(&mut GpsdQuery::start(addr, Duration::from_secs(3)).unwrap())
                .unwrap_err();
        assert!(e.to_string().contains("gpsd closed the connection"), "{e}");
    }

    #[test]
    fn refused_connection_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e =
            super::super::drive::run(&mut GpsdQuery::start(addr, Duration::from_secs(3)).unwrap())
                .unwrap_err();
        assert!(matches!(e.kind, RefErrorKind::Io { .. }), "{e}");
    }
}

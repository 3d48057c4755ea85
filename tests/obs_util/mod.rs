//! Test utility for the HTTP tests: a test-owned mio loop serving real pages from metrics fed
//! by a few engine actions, and blocking clients on 127.0.0.1. Shared by the `obs_http*` tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use ppsd::engine::servo::ServoState;
use ppsd::engine::{Action, Stamp, SyncState, TrustState};
use ppsd::publish::http::{HttpConfig, HttpServer, Snapshot};
use ppsd::publish::metrics::{Metrics, MetricsConfig};
use ppsd::publish::status::StatusInfo;
use ppsd::time::Timestamp;

/// First token of the server (the daemon keeps lower ones for itself).
pub const BASE: Token = Token(1_000);
const EPOCH: i64 = 1_767_225_600;

/// A loop with the server on it.
pub struct Harness {
    pub poll: Poll,
    events: Events,
    pub server: HttpServer,
    pub metrics: Metrics,
    start: Instant,
}

impl Harness {
    /// A server on 127.0.0.1 (ephemeral port) with `cfg`, its metrics holding one INSYNC state.
    pub fn new(cfg: HttpConfig) -> Harness {
        let poll = Poll::new().expect("epoll");
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = HttpServer::bind(addr, cfg, poll.registry(), BASE).expect("bind");
        let mut metrics = Metrics::new(MetricsConfig::default());
        let start = Instant::now();
        let ts = TrustState {
            state: SyncState::InSync,
            bound_ns: 800,
            offset_ns: -25,
            freq_ppb: 12_345.0,
            last_pulse: Some(Timestamp::new(EPOCH, 0)),
            updated_mono_ns: 0,
            valid_until_mono_ns: 3_600_000_000_000,
            ..TrustState::default()
        };
        metrics.on_action(stamp(0), &Action::Publish(ts));
        Harness {
            poll,
            events: Events::with_capacity(64),
            server,
            metrics,
            start,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr().unwrap()
    }

    /// Host monotonic ns since the harness started.
    pub fn now_ns(&self) -> i64 {
        self.start.elapsed().as_nanos() as i64
    }

    /// One loop iteration: waits at most `max_wait` (less if the server has a deadline),
    /// dispatches the events, ticks. Returns the time spent in the server's calls, ns.
    pub fn turn(&mut self, max_wait: Duration) -> i64 {
        let now = self.now_ns();
        let mut wait = max_wait;
        if let Some(d) = self.server.next_deadline() {
            wait = wait.min(Duration::from_nanos(d.saturating_sub(now).max(0) as u64));
        }
        self.poll.poll(&mut self.events, Some(wait)).expect("poll");
        let t0 = Instant::now();
        let now = self.now_ns();
        let mut pages = Snapshot {
            metrics: &self.metrics,
            info: info(),
            now: stamp(now),
        };
        for ev in self.events.iter() {
            if self.server.owns(ev.token()) {
                self.server
                    .on_event(self.poll.registry(), ev, now, &mut pages);
            }
        }
        self.server.tick(self.poll.registry(), self.now_ns());
        t0.elapsed().as_nanos() as i64
    }

    /// Runs the loop until `client` finishes (at most `limit`), then returns its result.
    pub fn serve<T>(&mut self, client: JoinHandle<T>, limit: Duration) -> T {
        let end = Instant::now() + limit;
        while !client.is_finished() {
            assert!(
                Instant::now() < end,
                "client did not finish within {limit:?}"
            );
            self.turn(Duration::from_millis(5));
        }
        client.join().expect("client thread")
    }
}

/// The engine-clock stamp at host ns `t`.
pub fn stamp(t: i64) -> Stamp {
    Stamp {
        mono_ns: t,
        real: Timestamp::new(EPOCH, t),
    }
}

pub fn info() -> StatusInfo<'static> {
    StatusInfo {
        servo: "kalman",
        servo_state: ServoState::LockedStable,
        pulse_source: "sim:test",
        reference: "sim:tod",
        config_version: 0x1234_abcd,
        leap_reference: "sim:tod",
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: Option<u16>,
    pub head: String,
    pub body: Vec<u8>,
    /// The server closed the connection (EOF or reset) before the client's timeout.
    pub closed: bool,
}

/// Sends `req`, half-closes unless `keep_open`, reads until the server closes (5 s at most).
pub fn exchange(addr: SocketAddr, req: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(req);
    read_reply(&mut s)
}

/// Reads until EOF, reset or timeout and splits the reply.
pub fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16_384];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| head.starts_with("HTTP/1.1 "));
    Reply {
        status,
        head,
        body: raw[split..].to_vec(),
        closed,
    }
}

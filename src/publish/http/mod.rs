//! The HTTP server for `/metrics`, `/status` and `/state`, run on the daemon's own mio loop.
//!
//! The loop owns the `mio::Poll`; the server registers its listener and connections on the
//! loop's `Registry` under a range of tokens ([`HttpServer::owns`]), and is driven by
//! [`HttpServer::on_event`] for those tokens and [`HttpServer::tick`] when
//! [`HttpServer::next_deadline`] passes. Pages are rendered by a [`Pages`] value the loop hands
//! over with each event, so the server knows nothing of the engine.
//!
//! It must never block or stall the loop: every socket is non-blocking; a call does a bounded
//! amount of work (accepts at most `accept_budget` connections, then re-arms the listener to
//! be woken again; reads at most one request buffer; writes what the socket takes); request
//! heads are bounded in bytes and header count; connections are bounded in number (beyond it a
//! client gets a best-effort 503 and is closed) and in time (a per-connection deadline closes
//! slow or stalled clients, the slowloris kind included); pages are rendered at most once per
//! `cache_ns` and shared between responses. It binds loopback addresses only unless
//! `allow_remote` is set. Times are host CLOCK_MONOTONIC ns given by the caller.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Interest, Registry, Token};

mod conn;
pub mod pages;
pub mod request;

use conn::{canned, Body, Conn, Phase, Progress};
pub use pages::Snapshot;
pub use request::{Page, Parsed, Status};

/// Renders the pages; the loop implements it over its current state ([`Snapshot`]).
pub trait Pages {
    /// Appends the body of `page` to `out` and returns its `Content-Type`.
    fn render(&mut self, page: Page, out: &mut String) -> &'static str;
}

/// Server limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request head, bytes.
    pub max_request_bytes: usize,
    /// Most request headers.
    pub max_headers: usize,
    /// Time a connection has from accept to the end of its response, ns.
    pub deadline_ns: i64,
    /// Time to wait for the client to close after the response, ns.
    pub linger_ns: i64,
    /// Bytes discarded while lingering before closing anyway.
    pub linger_bytes: usize,
    /// Connections accepted per listener event before yielding to the loop.
    pub accept_budget: usize,
    /// A rendered page is reused for this long, ns (0: render every request).
    pub cache_ns: i64,
    /// Bind addresses other than loopback.
    pub allow_remote: bool,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            max_connections: 64,
            max_request_bytes: 4096,
            max_headers: 32,
            deadline_ns: 5_000_000_000,
            linger_ns: 500_000_000,
            linger_bytes: 65_536,
            accept_budget: 16,
            cache_ns: 100_000_000,
            allow_remote: false,
        }
    }
}

/// What the server has done, for tests and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Connections accepted into a slot.
    pub accepted: u64,
    /// Connections refused (no free slot): 503 attempted, closed.
    pub refused: u64,
    /// Responses started, by status (indexed like [`Status::ALL`]).
    pub responses: [u64; 8],
    /// Connections closed at their deadline.
    pub timed_out: u64,
    /// Connections closed (any reason).
    pub closed: u64,
    /// accept() failures (descriptor exhaustion pauses accepting for a while).
    pub accept_errors: u64,
    /// Page renders (cache misses).
    pub renders: u64,
    /// Most connections open at once.
    pub peak_open: usize,
}

/// Pause after accept() fails for lack of descriptors or memory, ns.
const ACCEPT_PAUSE_NS: i64 = 100_000_000;

/// A rendered page: when (host ns), its content type, its body.
type Cached = (i64, &'static str, Arc<[u8]>);

/// The server.
pub struct HttpServer {
    listener: TcpListener,
    cfg: HttpConfig,
    base: usize,
    conns: Vec<Option<Conn>>,
    spare: Vec<(Box<[u8]>, Vec<u8>)>,
    free: Vec<usize>,
    cache: [Option<Cached>; 3],
    scratch: String,
    paused_until: Option<i64>,
    stats: HttpStats,
}

impl HttpServer {
    /// Binds `addr` and registers the listener on `registry` with token `base`; connection
    /// `i` uses token `base + 1 + i`, so tokens `base ..= base + max_connections` are the
    /// server's.
    ///
    /// # Errors
    /// One line naming the address: not loopback while `allow_remote` is off, or the bind or
    /// registration failure.
    pub fn bind(
        addr: SocketAddr,
        cfg: HttpConfig,
        registry: &Registry,
        base: Token,
    ) -> Result<HttpServer, String> {
        if !addr.ip().is_loopback() && !cfg.allow_remote {
            return Err(format!(
                "http listen {addr}: not a loopback address; allow remote clients explicitly to serve other hosts"
            ));
        }
        let max = cfg.max_connections.max(1);
        let mut listener =
            TcpListener::bind(addr).map_err(|e| format!("http listen {addr}: bind: {e}"))?;
        registry
            .register(&mut listener, base, Interest::READABLE)
            .map_err(|e| format!("http listen {addr}: epoll_ctl: {e}"))?;
        let req_bytes = cfg.max_request_bytes.max(64);
        Ok(HttpServer {
            listener,
            base: base.0,
            conns: (0..max).map(|_| None).collect(),
            spare: (0..max)
                .map(|_| {
                    (
                        vec![0; req_bytes].into_boxed_slice(),
                        Vec::with_capacity(256),
                    )
                })
                .collect(),
            free: (0..max).rev().collect(),
            cache: [None, None, None],
            scratch: String::new(),
            paused_until: None,
            stats: HttpStats::default(),
            cfg: HttpConfig {
                max_connections: max,
                max_request_bytes: req_bytes,
                ..cfg
            },
        })
    }

    /// The bound address (useful after binding port 0).
    ///
    /// # Errors
    /// The socket's `getsockname` failure.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// True for the tokens this server registered.
    pub fn owns(&self, token: Token) -> bool {
        (self.base..=self.base + self.cfg.max_connections).contains(&token.0)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.cfg.max_connections - self.free.len()
    }

    /// What the server has done.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Bytes of connection buffers and cached pages held now: fixed at bind apart from the
    /// response heads (a few hundred bytes each) and the three cached pages.
    pub fn buffer_bytes(&self) -> usize {
        let spare: usize = self.spare.iter().map(|(b, h)| b.len() + h.capacity()).sum();
        let live: usize = self.conns.iter().flatten().map(Conn::buffer_bytes).sum();
        let cache: usize = self.cache.iter().flatten().map(|(_, _, b)| b.len()).sum();
        spare + live + cache + self.scratch.capacity()
    }

    /// The earliest instant (host monotonic ns) at which [`tick`](Self::tick) has work.
    pub fn next_deadline(&self) -> Option<i64> {
        let conns = self.conns.iter().flatten().map(|c| c.deadline_ns).min();
        match (conns, self.paused_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles a readiness event for one of this server's tokens at host monotonic `now_ns`.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        event: &Event,
        now_ns: i64,
        pages: &mut dyn Pages,
    ) {
        let token = event.token().0;
        if token == self.base {
            self.accept(registry, now_ns);
        } else if let Some(slot) = token.checked_sub(self.base + 1) {
            if slot < self.conns.len() {
                self.drive(registry, slot, now_ns, pages);
            }
        }
    }

    /// Closes connections past their deadline and resumes a paused listener.
    pub fn tick(&mut self, registry: &Registry, now_ns: i64) {
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            if c.deadline_ns > now_ns {
                continue;
            }
            if c.phase == Phase::Reading {
                // Best effort: one non-blocking write of a canned 408.
                let _ = c.stream.write(canned(Status::RequestTimeout));
                self.stats.responses[Status::RequestTimeout.index()] += 1;
            }
            self.stats.timed_out += 1;
            self.close(registry, slot);
        }
        if self.paused_until.is_some_and(|t| t <= now_ns) {
            self.paused_until = None;
            // Re-arming reports the listener again if connections are still waiting.
            let _ = registry.reregister(&mut self.listener, Token(self.base), Interest::READABLE);
        }
    }

    /// Closes every connection and deregisters the listener.
    pub fn shutdown(&mut self, registry: &Registry) {
        for slot in 0..self.conns.len() {
            if self.conns[slot].is_some() {
                self.close(registry, slot);
            }
        }
        let _ = registry.deregister(&mut self.listener);
    }

    fn accept(&mut self, registry: &Registry, now_ns: i64) {
        if self.paused_until.is_some() {
            return;
        }
        for _ in 0..self.cfg.accept_budget.max(1) {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(registry, stream, now_ns),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stats.accept_errors += 1;
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) {
                        self.paused_until = Some(now_ns.saturating_add(ACCEPT_PAUSE_NS));
                        return;
                    }
                }
            }
        }
        // Budget spent with connections possibly still queued: re-arm to be woken again after
        // the loop has seen to its other work.
        let _ = registry.reregister(&mut self.listener, Token(self.base), Interest::READABLE);
    }

    fn admit(&mut self, registry: &Registry, mut stream: mio::net::TcpStream, now_ns: i64) {
        let Some(slot) = self.free.pop() else {
            self.stats.refused += 1;
            self.stats.responses[Status::Unavailable.index()] += 1;
            let _ = stream.write(canned(Status::Unavailable));
            return;
        };
        let token = Token(self.base + 1 + slot);
        if registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.free.push(slot);
            self.stats.accept_errors += 1;
            return;
        }
        let (buf, head) = self.spare.pop().unwrap_or_else(|| {
            (
                vec![0; self.cfg.max_request_bytes].into_boxed_slice(),
                Vec::new(),
            )
        });
        let deadline = now_ns.saturating_add(self.cfg.deadline_ns);
        self.conns[slot] = Some(Conn::new(stream, buf, head, deadline));
        self.stats.accepted += 1;
        self.stats.peak_open = self.stats.peak_open.max(self.open_connections());
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = registry.deregister(&mut c.stream);
            self.spare.push(c.into_buffers());
            self.free.push(slot);
            self.stats.closed += 1;
        }
    }

    /// Moves one connection as far as its socket allows.
    fn drive(&mut self, registry: &Registry, slot: usize, now_ns: i64, pages: &mut dyn Pages) {
        loop {
            let Some(c) = self.conns[slot].as_mut() else {
                return;
            };
            let progress = match c.phase {
                Phase::Reading => match c.fill() {
                    Progress::Done => {
                        match request::parse(c.received(), c.full(), self.cfg.max_headers) {
                            Parsed::Partial => Progress::Wait,
                            Parsed::Page { page, head_only } => {
                                let (ctype, body) = self.page(page, now_ns, pages);
                                self.respond(
                                    slot,
                                    Status::Ok,
                                    ctype,
                                    Body::Shared(body),
                                    head_only,
                                );
                                continue;
                            }
                            Parsed::Error(status) => {
                                self.respond(
                                    slot,
                                    status,
                                    "text/plain; charset=utf-8",
                                    Body::Static(error_body(status)),
                                    false,
                                );
                                continue;
                            }
                        }
                    }
                    other => other,
                },
                Phase::Writing => match c.flush() {
                    Progress::Done => {
                        c.start_linger(now_ns.saturating_add(self.cfg.linger_ns));
                        continue;
                    }
                    other => other,
                },
                Phase::Lingering => c.drain(self.cfg.linger_bytes),
            };
            if progress == Progress::Close {
                self.close(registry, slot);
            }
            return;
        }
    }

    fn respond(&mut self, slot: usize, status: Status, ctype: &str, body: Body, head_only: bool) {
        self.stats.responses[status.index()] += 1;
        if let Some(c) = self.conns[slot].as_mut() {
            c.respond(status, ctype, body, head_only);
        }
    }

    /// The page's body, from the cache when fresh enough.
    fn page(
        &mut self,
        page: Page,
        now_ns: i64,
        pages: &mut dyn Pages,
    ) -> (&'static str, Arc<[u8]>) {
        let i = page.index();
        if let Some((at, ctype, body)) = &self.cache[i] {
            if now_ns.saturating_sub(*at) < self.cfg.cache_ns {
                return (ctype, Arc::clone(body));
            }
        }
        self.scratch.clear();
        let ctype = pages.render(page, &mut self.scratch);
        let body: Arc<[u8]> = Arc::from(self.scratch.as_bytes());
        self.stats.renders += 1;
        self.cache[i] = Some((now_ns, ctype, Arc::clone(&body)));
        (ctype, body)
    }
}

fn error_body(status: Status) -> &'static [u8] {
    match status {
        Status::BadRequest => b"bad request\n",
        Status::NotFound => b"not found: try /metrics, /status or /state\n",
        Status::MethodNotAllowed => b"only GET and HEAD\n",
        Status::UriTooLong => b"request line too long\n",
        Status::HeadersTooLarge => b"request headers too large\n",
        Status::RequestTimeout => b"request timeout\n",
        Status::Unavailable => b"too many connections\n",
        Status::Ok => b"",
    }
}

//! The non-blocking UDP socket a one-shot NTP or NTS query runs on.
//!
//! The socket is connected to the server, so the kernel drops datagrams from any other
//! address and reports ICMP "port unreachable" as `ECONNREFUSED`. Datagrams that arrive but
//! fail a check are recorded as rejections (for the log) and do not end the query: an
//! attacker who can send us a datagram must not be able to cancel a measurement with it.
//! Nothing here blocks.

use super::drive::{spent, QueryStatus};
use super::{RefError, RefErrorKind};
use mio::net::UdpSocket;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Largest datagram we accept: an NTS reply with eight cookies fits with room to spare.
pub(crate) const MAX_DATAGRAM: usize = 4096;
/// Rejections kept per query for the log; later ones only replace the last.
const MAX_REJECTIONS: usize = 16;

/// A connected, non-blocking UDP socket with a deadline and a record of rejected datagrams.
#[derive(Debug)]
pub(crate) struct UdpChannel {
    pub(crate) socket: UdpSocket,
    pub(crate) name: String,
    pub(crate) deadline: Instant,
    /// The query has ended; the channel takes no more answers.
    done: bool,
    timeout: Duration,
    rejections: Vec<RefError>,
}

impl UdpChannel {
    /// Binds an ephemeral port of `server`'s family and connects it to `server`.
    pub(crate) fn open(
        name: String,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<UdpChannel, RefError> {
        let local: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(|e| RefError::io(&name, "bind", &e))?;
        socket
            .connect(server)
            .map_err(|e| RefError::io(&name, "connect", &e))?;
        Ok(UdpChannel {
            socket,
            name,
            deadline: Instant::now() + timeout,
            done: false,
            timeout,
            rejections: Vec::new(),
        })
    }

    /// Sends one datagram.
    pub(crate) fn send(&self, bytes: &[u8]) -> Result<(), RefError> {
        match self.socket.send(bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(n) => Err(RefError::new(
                &self.name,
                RefErrorKind::Io {
                    op: "send",
                    detail: format!("sent {n} of {} bytes", bytes.len()),
                },
            )),
            Err(e) => Err(RefError::io(&self.name, "send", &e)),
        }
    }

    /// Receives one datagram into `buf`; `Ok(None)` when none is waiting.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, RefError> {
        loop {
            match self.socket.recv(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RefError::io(&self.name, "recv", &e)),
            }
        }
    }

    /// Records a datagram that arrived but was refused.
    pub(crate) fn reject(&mut self, kind: RefErrorKind) {
        let e = RefError::new(&self.name, kind);
        if self.rejections.len() < MAX_REJECTIONS {
            self.rejections.push(e);
        } else if let Some(last) = self.rejections.last_mut() {
            *last = e;
        }
    }

    /// Takes the rejections recorded so far, for the caller to log.
    pub(crate) fn take_rejections(&mut self) -> Vec<RefError> {
        std::mem::take(&mut self.rejections)
    }

    /// The timeout error, naming the last rejection.
    pub(crate) fn timeout_error(&self) -> RefError {
        let rejected = self.rejections.last().map(|e| describe(&e.kind));
        RefError::new(
            &self.name,
            RefErrorKind::Timeout {
                after: self.timeout,
                rejected,
            },
        )
    }
}

/// A one-shot query over a [`UdpChannel`] that waits for one good answer datagram.
pub(crate) trait DatagramQuery {
    /// What a good answer yields.
    type Output;
    /// The query's channel.
    fn chan(&mut self) -> &mut UdpChannel;
    /// Handles one datagram: `Some` ends the query.
    fn on_datagram(&mut self, bytes: &[u8]) -> Option<Result<Self::Output, RefError>>;
}

/// The receive loop every datagram query shares: reads all the socket holds (readiness is
/// edge-triggered), ends the query on its first answer, an error or the deadline, and answers
/// an error after that.
pub(crate) fn poll_datagrams<Q: DatagramQuery>(
    query: &mut Q,
    now: Instant,
) -> QueryStatus<Q::Output> {
    if query.chan().done {
        return QueryStatus::Done(Err(spent(&query.chan().name)));
    }
    let mut buf = [0u8; MAX_DATAGRAM];
    let result = loop {
        match query.chan().recv(&mut buf) {
            Ok(Some(n)) => {
                if let Some(r) = query.on_datagram(&buf[..n]) {
                    break r;
                }
            }
            Ok(None) if now >= query.chan().deadline => break Err(query.chan().timeout_error()),
            Ok(None) => return QueryStatus::Pending,
            Err(e) => break Err(e),
        }
    };
    query.chan().done = true;
    QueryStatus::Done(result)
}

/// An error kind as text without the source prefix.
fn describe(kind: &RefErrorKind) -> String {
    let full = RefError::new("", kind.clone()).to_string();
    full.trim_start_matches(": ").to_string()
}

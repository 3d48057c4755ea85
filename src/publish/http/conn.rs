//! One client connection: a fixed request buffer, the response being sent, and the phase.
//!
//! A connection reads one request head (never more than the buffer holds), is answered once,
//! half-closes its side, and then drains and discards what the client still sends until the
//! client closes or a short linger ends (closing with unread input would make the kernel reset
//! the connection and could destroy the response in flight). Every step is non-blocking: a
//! call does what the socket allows now and returns. Nothing here knows about pages or time.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use mio::net::TcpStream;

use super::request::Status;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading the request head.
    Reading,
    /// Sending the response.
    Writing,
    /// Response sent, write side shut: discarding input until the client closes.
    Lingering,
}

/// A response body: static for errors, shared with the page cache for pages.
#[derive(Clone, Debug)]
pub enum Body {
    /// A fixed text.
    Static(&'static [u8]),
    /// A rendered page.
    Shared(Arc<[u8]>),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Shared(b) => b,
        }
    }
}

/// What a step on the socket came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing more can be done until the socket is ready again.
    Wait,
    /// This phase is finished.
    Done,
    /// The connection is over (peer closed, error, or limit): close it.
    Close,
}

/// One connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// The phase.
    pub phase: Phase,
    /// Host monotonic instant (ns) by which the connection must be finished.
    pub deadline_ns: i64,
    buf: Box<[u8]>,
    len: usize,
    head: Vec<u8>,
    body: Body,
    send_body: bool,
    sent: usize,
    discarded: usize,
}

impl Conn {
    /// A new connection reading into a buffer of `buf` (its capacity is the request limit).
    pub fn new(stream: TcpStream, buf: Box<[u8]>, head: Vec<u8>, deadline_ns: i64) -> Conn {
        Conn {
            stream,
            phase: Phase::Reading,
            deadline_ns,
            buf,
            len: 0,
            head,
            body: Body::Static(b""),
            send_body: false,
            sent: 0,
            discarded: 0,
        }
    }

    /// Gives back the buffers for the next connection in this slot.
    pub fn into_buffers(self) -> (Box<[u8]>, Vec<u8>) {
        (self.buf, self.head)
    }

    /// Bytes held by the request buffer and the response head.
    pub fn buffer_bytes(&self) -> usize {
        self.buf.len() + self.head.capacity()
    }

    /// The request bytes received so far.
    pub fn received(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// True when the buffer is full.
    pub fn full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Reads what is available into the request buffer. `Done` when something new arrived or
    /// the buffer is full, `Wait` when nothing new, `Close` on end of input or error.
    pub fn fill(&mut self) -> Progress {
        let mut got = false;
        while self.len < self.buf.len() {
            match self.stream.read(&mut self.buf[self.len..]) {
                Ok(0) => return Progress::Close,
                Ok(n) => {
                    self.len += n;
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Close,
            }
        }
        if got || self.full() {
            Progress::Done
        } else {
            Progress::Wait
        }
    }

    /// Sets the response: status line and headers, then `body` unless `head_only`.
    pub fn respond(&mut self, status: Status, content_type: &str, body: Body, head_only: bool) {
        self.head.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(
            self.head,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            status.code(),
            status.reason(),
            content_type,
            body.bytes().len()
        );
        match status {
            Status::MethodNotAllowed => self.head.extend_from_slice(b"Allow: GET, HEAD\r\n"),
            Status::Unavailable => self.head.extend_from_slice(b"Retry-After: 1\r\n"),
            _ => {}
        }
        self.head.extend_from_slice(b"\r\n");
        self.body = body;
        self.send_body = !head_only;
        self.sent = 0;
        self.phase = Phase::Writing;
    }

    /// Sends what the socket takes of the response. `Done` once all of it is sent.
    pub fn flush(&mut self) -> Progress {
        loop {
            let body: &[u8] = if self.send_body {
                self.body.bytes()
            } else {
                b""
            };
            let total = self.head.len() + body.len();
            if self.sent >= total {
                return Progress::Done;
            }
            let (h, b) = if self.sent < self.head.len() {
                (&self.head[self.sent..], body)
            } else {
                (&[][..], &body[self.sent - self.head.len()..])
            };
            match self
                .stream
                .write_vectored(&[IoSlice::new(h), IoSlice::new(b)])
            {
                Ok(0) => return Progress::Close,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Close,
            }
        }
    }

    /// Shuts the write side and starts lingering until `until_ns` (or the deadline, if sooner).
    pub fn start_linger(&mut self, until_ns: i64) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.phase = Phase::Lingering;
        self.deadline_ns = self.deadline_ns.min(until_ns);
    }

    /// Reads and discards input. `Close` when the client has closed, on error, or past
    /// `max_bytes` discarded; `Wait` otherwise.
    pub fn drain(&mut self, max_bytes: usize) -> Progress {
        loop {
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Progress::Close,
                Ok(n) => {
                    self.discarded += n;
                    if self.discarded > max_bytes {
                        return Progress::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Close,
            }
        }
    }
}

/// A complete canned response, for a single best-effort write on a socket that is about to
/// be closed (503 when full, 408 on timeout).
pub fn canned(status: Status) -> &'static [u8] {
    match status {
        Status::Unavailable => {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
              Content-Length: 20\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\
              too many connections"
        }
        _ => {
            b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n\
              Content-Length: 15\r\nConnection: close\r\n\r\nrequest timeout"
        }
    }
}

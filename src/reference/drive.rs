//! One-shot queries and a blocking driver for them.
//!
//! A query ([`OneShot`]) is a non-blocking state machine over one socket: the daemon's event
//! loop registers it with its `mio::Poll`, calls [`OneShot::poll`] when the socket is ready or
//! the deadline passes, and takes the result when it is [`QueryStatus::Done`]. [`run`] does
//! the same with a private `mio::Poll` for tools and tests; it blocks the calling thread and
//! so must never be called on the pulse path.

use super::{RefError, RefErrorKind};
use mio::{Events, Interest, Poll, Token};
use std::time::Instant;

/// Where a one-shot query stands.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryStatus<T> {
    /// Waiting for the socket; poll again on readiness or at the deadline.
    Pending,
    /// Finished, with a result (a timeout is an error result).
    Done(Result<T, RefError>),
}

/// A non-blocking query with a deadline, driven by readiness events.
pub trait OneShot: mio::event::Source {
    /// What a successful query yields.
    type Output;

    /// The readiness the query waits for.
    fn interest(&self) -> Interest;

    /// When the query gives up; [`poll`](Self::poll) at or after it returns `Done`.
    fn deadline(&self) -> Instant;

    /// Advances the query: reads everything the socket holds (readiness is edge-triggered),
    /// sends what is due, and reports a result once there is one. After `Done`, the query is
    /// spent and further calls return an error.
    fn poll(&mut self, now: Instant) -> QueryStatus<Self::Output>;

    /// The source name, for errors.
    fn source_name(&self) -> &str;
}

/// Runs `query` to completion on a private poller, blocking the calling thread until it
/// succeeds, fails or reaches its deadline. The query stays the caller's, so its rejected
/// answers can be taken for the log afterwards.
///
/// # Errors
/// The query's own error, or an I/O error from the poller.
pub fn run<Q: OneShot>(query: &mut Q) -> Result<Q::Output, RefError> {
    let name = query.source_name().to_string();
    let io_err = |op, e: std::io::Error| RefError::io(name.clone(), op, &e);
    let mut poll = Poll::new().map_err(|e| io_err("epoll_create", e))?;
    let interest = query.interest();
    poll.registry()
        .register(query, Token(0), interest)
        .map_err(|e| io_err("epoll_ctl", e))?;
    let mut events = Events::with_capacity(4);
    loop {
        let now = Instant::now();
        if let QueryStatus::Done(result) = query.poll(now) {
            let _ = poll.registry().deregister(query);
            return result;
        }
        let wait = super::remaining(query.deadline(), now);
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("epoll_wait", e)),
        }
    }
}

/// The error a spent query returns when polled again.
pub(crate) fn spent(name: &str) -> RefError {
    RefError::new(
        name,
        RefErrorKind::Config("query polled after it finished".into()),
    )
}

/// Implements `mio::event::Source` for a query type by delegating to its channel's socket.
macro_rules! delegate_source {
    ($ty:ty, $($field:ident).+) => {
        impl mio::event::Source for $ty {
            fn register(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> std::io::Result<()> {
                self.$($field).+.register(registry, token, interests)
            }

            fn reregister(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> std::io::Result<()> {
                self.$($field).+.reregister(registry, token, interests)
            }

            fn deregister(&mut self, registry: &mio::Registry) -> std::io::Result<()> {
                self.$($field).+.deregister(registry)
            }
        }
    };
}
pub(crate) use delegate_source;

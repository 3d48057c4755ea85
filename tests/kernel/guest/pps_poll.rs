//! `kernel-guest sys`, poll part: what epoll says about a PPS fd on this kernel.
//!
//! Kernels without the 2025 fix "pps: fix poll support" report a PPS fd readable at all times;
//! with it, readable only while an event this file has not fetched is waiting. ppsd must work
//! on both, so this only records which one the guest's kernel is (a NOTE), and checks what
//! both must do: report the fd readable once a pulse has arrived. Registration uses mio, as
//! the daemon's event loop does (edge-triggered epoll). It must never assert the kernel's
//! poll flavour: both are kernels ppsd supports.

use crate::port::ParallelPort;
use crate::report::{ensure, Report};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppsd::sys::pps::PpsDevice;
use std::os::unix::io::{AsFd, AsRawFd};
use std::time::Duration;

/// How long each poll waits.
const WAIT: Duration = Duration::from_millis(200);

/// Runs the poll check on `dev`, firing pulses through `port`.
pub fn run(r: &mut Report, dev: &PpsDevice, port: &ParallelPort) {
    let outcome = check(r, dev, port);
    r.check("pps.poll_pulse", outcome);
}

/// True when `poll` reports an event for the PPS fd within [`WAIT`].
fn readable(poll: &mut Poll, events: &mut Events) -> Result<bool, String> {
    poll.poll(events, Some(WAIT))
        .map_err(|e| format!("epoll_wait: {e}"))?;
    Ok(events
        .iter()
        .any(|e| e.token() == Token(0) && e.is_readable()))
}

fn check(r: &mut Report, dev: &PpsDevice, port: &ParallelPort) -> Result<String, String> {
    // Fetch first, so no event is left unfetched on this file.
    let before = dev.fetch(Some(Duration::ZERO)).map_err(|e| e.to_string())?;
    let mut poll = Poll::new().map_err(|e| format!("epoll_create: {e}"))?;
    let mut events = Events::with_capacity(4);
    let fd = dev.as_fd().as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
        .map_err(|e| format!("epoll_ctl: {e}"))?;
    let idle = readable(&mut poll, &mut events)?;
    r.note(if idle {
        "poll: the PPS fd is readable with no unfetched event (a kernel without the 2025 poll fix)"
    } else {
        "poll: the PPS fd waits for an unfetched event (a kernel with the 2025 poll fix)"
    });
    port.fire()?;
    let after = readable(&mut poll, &mut events)?;
    let f = dev.fetch(Some(Duration::ZERO)).map_err(|e| e.to_string())?;
    ensure(f.assert_seq == before.assert_seq.wrapping_add(1), || {
        format!(
            "seq {} after {}, want one more",
            f.assert_seq, before.assert_seq
        )
    })?;
    ensure(after, || "no readiness within 200 ms of a pulse".into())?;
    Ok(format!(
        "epoll reported the fd readable after a pulse (seq {}); readable before it: {idle}",
        f.assert_seq
    ))
}

//! systemd's notification protocol (`sd_notify`): `READY=1`, `STATUS=`, `WATCHDOG=1`,
//! `STOPPING=1` as datagrams to the socket named by `NOTIFY_SOCKET`, and the watchdog interval
//! from `WATCHDOG_USEC` (pinged at half of it).
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) every call does nothing. A failed send is
//! ignored: notification is advisory and must never stop the clock loop. Messages are sent
//! with a non-blocking socket, so a full receive queue never blocks the loop.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A connection to systemd's notification socket, if there is one.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let addr = socket_addr(path.as_encoded_bytes())?;
            let sock = UnixDatagram::unbound().ok()?;
            sock.set_nonblocking(true).ok()?;
            Some((sock, addr))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .map_or(true, |pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(|u| Duration::from_micros(u / 2));
        Notifier { socket, watchdog }
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier {
            socket: None,
            watchdog: None,
        }
    }

    /// How often to send `WATCHDOG=1`, if systemd asked for it.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends one message (`READY=1`, `STATUS=...`, several separated by newlines).
    pub fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.socket {
            let _ = sock.send_to_addr(msg.as_bytes(), addr);
        }
    }
}

/// The socket address `NOTIFY_SOCKET` names: a path, or `@name` for the abstract namespace.
fn socket_addr(bytes: &[u8]) -> Option<SocketAddr> {
    match bytes.split_first() {
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name).ok()
        }
        Some((b'/', _)) => {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(bytes));
            SocketAddr::from_pathname(path).ok()
        }
        _ => None,
    }
}

use std::os::unix::ffi::OsStrExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("ppsd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let addr = socket_addr(path.as_os_str().as_bytes()).unwrap();
        let n = Notifier {
            socket: Some((UnixDatagram::unbound().unwrap(), addr)),
            watchdog: None,
        };
        n.send("READY=1\nSTATUS=INSYNC");
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=INSYNC");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_and_bad_addresses() {
        assert!(socket_addr(b"@ppsd-test").is_some());
        assert!(socket_addr(b"relative").is_none());
        assert!(socket_addr(b"").is_none());
        Notifier::none().send("READY=1");
    }
}

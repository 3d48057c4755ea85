//! One bounded HTTP/1.1 GET for `ppsd status`: asks the daemon's `/status` page and returns its
//! JSON document. Connect, write and every read share one deadline, the answer is capped in
//! size, and the response is parsed with `httparse`.
//!
//! It must never hang on an address that does not answer, never resolve a name (it takes a
//! socket address), never follow a redirect, and never panic on what a server sends.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Largest response accepted, head and body (the daemon's `/status` is a few KiB).
pub const MAX_RESPONSE: usize = 1 << 20;

/// Most response headers accepted.
const MAX_HEADERS: usize = 32;

/// GETs `path` from `addr` and parses the body as one JSON object. `timeout` bounds the
/// connection attempt and, separately, the whole exchange after it.
///
/// # Errors
/// One line saying what went wrong: connect refused or timed out, no answer in time, a
/// malformed or truncated response, a status other than 200, a body that is not a JSON object.
pub fn get_json(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Value, String> {
    let raw = exchange(addr, path, timeout)?;
    let body = body_of(&raw)?.ok_or("response ended before it was complete")?;
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("body is JSON but not an object".to_string())
    }
}

/// Sends the request and reads the response until the server closes, the announced length
/// has arrived, the size cap is passed or the deadline expires.
fn exchange(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let timeout = timeout.max(Duration::from_millis(1));
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    let deadline = Instant::now() + timeout;
    let late = || format!("no complete answer within {} ms", timeout.as_millis());
    s.set_write_timeout(Some(timeout))
        .map_err(|e| format!("setsockopt: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => late(),
        _ => format!("send: {e}"),
    })?;
    let mut raw = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(late());
        }
        s.set_read_timeout(Some(left))
            .map_err(|e| format!("setsockopt: {e}"))?;
        match s.read(&mut chunk) {
            Ok(0) => return Ok(raw),
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_RESPONSE {
                    return Err(format!("response larger than {MAX_RESPONSE} bytes"));
                }
                // Stop once the announced body is complete, or the head is already wrong
                // (the caller's parse reports it).
                match body_of(&raw) {
                    Err(_) => return Ok(raw),
                    Ok(Some(_)) if has_length(&raw) => return Ok(raw),
                    Ok(_) => {}
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(late())
            }
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
}

/// True when the response head is complete and announces a Content-Length (so the end of the
/// body is known without waiting for the server to close).
fn has_length(raw: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    matches!(resp.parse(raw), Ok(httparse::Status::Complete(_)))
        && resp
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("content-length"))
}

/// The body of a complete 200 response in `raw`; `None` while the head or the announced body
/// is incomplete.
///
/// # Errors
/// A malformed head, a status other than 200, a chunked or unparsable length, a body longer
/// than announced is cut to the announced length (not an error).
fn body_of(raw: &[u8]) -> Result<Option<&[u8]>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed response: {e}")),
    };
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(format!("HTTP {code} {}", resp.reason.unwrap_or("")));
    }
    let mut length = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked transfer encoding is not supported".to_string());
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("malformed Content-Length")?;
            length = Some(n);
        }
    }
    let body = &raw[head_len..];
    match length {
        Some(n) if body.len() < n => Ok(None),
        Some(n) => Ok(Some(&body[..n])),
        None => Ok(Some(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-shot server on 127.0.0.1 that reads the request head, then sends `reply` (and
    /// keeps the connection open for `hold` before closing).
    fn serve(reply: &'static [u8], hold: Duration) -> (SocketAddr, thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&b[..n]),
                }
            }
            let _ = c.write_all(reply);
            thread::sleep(hold);
            String::from_utf8_lossy(&req).into_owned()
        });
        (addr, h)
    }

    const LONG: Duration = Duration::from_secs(5);

    #[test]
    fn reads_a_json_object_by_length_without_waiting_for_close() {
        let (addr, h) = serve(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"state\":\"INSYNC\"}trailing",
            Duration::from_secs(3),
        );
        let t0 = Instant::now();
        let v = get_json(addr, "/status", LONG).unwrap();
        assert_eq!(v["state"], "INSYNC");
        // Returned on the length, not on the server's close 3 s later.
        assert!(t0.elapsed() < Duration::from_secs(3));
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /status HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Connection: close\r\n"));
    }

    #[test]
    fn reads_until_close_without_length() {
        let (addr, _h) = serve(b"HTTP/1.0 200 OK\r\n\r\n{\"a\": 1}", Duration::ZERO);
        assert_eq!(get_json(addr, "/status", LONG).unwrap()["a"], 1);
    }

    #[test]
    fn errors_name_what_went_wrong() {
        let cases: [(&'static [u8], &str); 6] = [
            (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                "HTTP 404 Not Found",
            ),
            (b"\x16\x03\x01garbage\r\n\r\n", "malformed response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}",
                "ended before",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}",
                "Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n[1]",
                "not an object",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{{{",
                "not JSON",
            ),
        ];
        for (reply, want) in cases {
            let (addr, _h) = serve(reply, Duration::ZERO);
            let e = get_json(addr, "/status", LONG).unwrap_err();
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
    }

    #[test]
    fn a_silent_server_costs_the_timeout_not_a_hang() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // The kernel completes the handshake; nobody ever answers.
        let t0 = Instant::now();
        let e = get_json(addr, "/status", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("within 200 ms"), "{e}");
        assert!(t0.elapsed() >= Duration::from_millis(200));
        drop(l);
    }

    #[test]
    fn a_closed_port_is_refused() {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let e = get_json(addr, "/status", LONG).unwrap_err();
        assert!(e.starts_with("connect: "), "{e}");
    }

    #[test]
    fn an_endless_answer_is_capped() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            // Read the request, so closing does not reset the connection early.
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            let junk = [b' '; 65_536];
            for _ in 0..400 {
                if c.write_all(&junk).is_err() {
                    break;
                }
            }
        });
        let e = get_json(addr, "/status", LONG).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        h.join().unwrap();
    }
}

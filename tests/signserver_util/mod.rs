//! The SignServer tests' HTTP server: std `TcpListener` on 127.0.0.1, one thread per
//! connection (keep-alive), recording each request with the instant it was complete, and
//! answering as its [`Mode`] says. Bounded: at most 500 connections, 180 s, stops on drop.

#![allow(dead_code)]

pub mod decode;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 200 with a small body.
    Ok,
    /// 500.
    Fail500,
    /// Reads the request and never answers (closes after 3 s).
    Hang,
    /// 200, this many ms after the request.
    Slow(u64),
    /// An empty answer with this status (e.g. 204, 302).
    Status(u16),
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Post {
    pub at: Instant,
    pub head: String,
    pub body: Vec<u8>,
}

pub struct Server {
    pub port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Server {
    pub fn start(mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&posts), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut conns = 0;
            let end = Instant::now() + Duration::from_secs(180);
            while !s.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((c, _)) if conns < 500 => {
                        conns += 1;
                        let (p, s) = (Arc::clone(&p), Arc::clone(&s));
                        std::thread::spawn(move || connection(c, mode, &p, &s));
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server { port, posts, stop }
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

/// Serves requests on one connection (keep-alive) until EOF, an error, or stop.
fn connection(mut c: TcpStream, mode: Mode, posts: &Mutex<Vec<Post>>, stop: &AtomicBool) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let opened = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) && opened.elapsed() < Duration::from_secs(60) {
        if let Some((head, body, used)) = split_request(&buf) {
            buf.drain(..used);
            posts.lock().unwrap().push(Post {
                at: Instant::now(),
                head,
                body,
            });
            let reply: &[u8] = match mode {
                Mode::Ok => {
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
                }
                Mode::Fail500 => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                Mode::Hang => {
                    std::thread::sleep(Duration::from_secs(3));
                    return;
                }
                Mode::Slow(ms) => {
                    std::thread::sleep(Duration::from_millis(ms));
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                }
                Mode::Status(code) => {
                    let head = format!(
                        "HTTP/1.1 {code} Other\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
                    );
                    if c.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    continue;
                }
            };
            if c.write_all(reply).is_err() {
                return;
            }
            continue;
        }
        match c.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// A complete request at the start of `buf`: (head, body, bytes used).
fn split_request(buf: &[u8]) -> Option<(String, Vec<u8>, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (buf.len() >= end + len).then(|| (head, buf[end..end + len].to_vec(), end + len))
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

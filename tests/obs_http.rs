//! The HTTP server with real sockets on 127.0.0.1, driven by a test-owned mio loop: routes and
//! their content, and bad clients (garbage, oversize heads, too many headers, slowloris, idle
//! connections holding every slot) answered with an error or closed, never left hanging.

mod obs_util;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use obs_util::{exchange, read_reply, Harness};
use ppsd::publish::http::{HttpConfig, HttpServer};

fn serve_one(h: &mut Harness, req: &'static [u8]) -> obs_util::Reply {
    let addr = h.addr();
    let client = thread::spawn(move || exchange(addr, req));
    h.serve(client, Duration::from_secs(10))
}

#[test]
fn pages_are_served() {
    let mut h = Harness::new(HttpConfig::default());
    let r = serve_one(&mut h, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, Some(200), "{}", r.head);
    assert!(r.head.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(r.closed);
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("ppsd_sync_state{state=\"INSYNC\"} 1"),
        "{text}"
    );
    assert!(r
        .head
        .contains(&format!("Content-Length: {}\r\n", text.len())));

    let r = serve_one(&mut h, b"GET /status HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, Some(200));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["state"], "INSYNC");
    assert_eq!(v["offset_ns"], -25);

    let r = serve_one(&mut h, b"GET /state HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, Some(200));
    let line = String::from_utf8(r.body).unwrap();
    let fields: Vec<&str> = line.trim_end().split(',').collect();
    assert_eq!(fields.len(), 9, "{line}");
    assert_eq!(&fields[1..5], ["INSYNC", "REPORTED", "NONE", "1234abcd"]);

    let r = serve_one(&mut h, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, Some(200));
    assert!(r.body.is_empty(), "HEAD sends no body");
    assert!(!r.head.contains("Content-Length: 0\r\n"));
}

#[test]
fn wrong_paths_methods_and_garbage_are_refused_and_closed() {
    let mut h = Harness::new(HttpConfig::default());
    let r = serve_one(&mut h, b"GET /metrics/x HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, Some(404));
    let r = serve_one(&mut h, b"DELETE /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, Some(405));
    assert!(r.head.contains("Allow: GET, HEAD\r\n"));
    let r = serve_one(
        &mut h,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\0\0\r\n\r\n",
    );
    assert_eq!(r.status, Some(400));
    assert!(r.closed);
    let r = serve_one(&mut h, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(r.status, Some(400));
    // Seeded random binary: 400 or closed, never a page and never a hang.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let junk: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let addr = h.addr();
        let client = thread::spawn(move || exchange(addr, &junk));
        let r = h.serve(client, Duration::from_secs(10));
        assert!(r.closed);
        assert!(matches!(r.status, Some(400) | None), "{r:?}");
    }
    assert_eq!(h.server.open_connections(), 0);
}

#[test]
fn oversize_heads_are_refused() {
    let mut h = Harness::new(HttpConfig::default());
    let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(10_000));
    let addr = h.addr();
    let client = thread::spawn(move || exchange(addr, line.as_bytes()));
    let r = h.serve(client, Duration::from_secs(10));
    assert!(r.closed);
    assert_eq!(r.status, Some(414), "{r:?}");

    let head = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "b".repeat(10_000)
    );
    let client = thread::spawn(move || exchange(addr, head.as_bytes()));
    let r = h.serve(client, Duration::from_secs(10));
    assert!(r.closed);
    assert_eq!(r.status, Some(431), "{r:?}");

    let many: String = (0..40).map(|i| format!("H{i}: v\r\n")).collect();
    let req = format!("GET /metrics HTTP/1.1\r\n{many}\r\n");
    let client = thread::spawn(move || exchange(addr, req.as_bytes()));
    let r = h.serve(client, Duration::from_secs(10));
    assert_eq!(r.status, Some(431));

    // A megabyte of junk: refused and closed; the server reads no more than its buffer.
    let client = thread::spawn(move || exchange(addr, &vec![b'A'; 1 << 20]));
    let r = h.serve(client, Duration::from_secs(10));
    assert!(r.closed);
    assert!(matches!(r.status, Some(414) | None), "{r:?}");
    assert!(h.server.stats().responses[5] >= 1, "414 counted");
}

#[test]
fn slowloris_is_closed_by_the_deadline() {
    let cfg = HttpConfig {
        deadline_ns: 300_000_000,
        ..HttpConfig::default()
    };
    let mut h = Harness::new(cfg);
    let addr = h.addr();
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let t0 = Instant::now();
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        // One header byte every 50 ms, for up to 3 s: the server must cut this off.
        let mut closed_after = None;
        for _ in 0..60 {
            thread::sleep(Duration::from_millis(50));
            if s.write_all(b"X").is_err() {
                closed_after = Some(t0.elapsed());
                break;
            }
        }
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let r = read_reply(&mut s);
        (closed_after.unwrap_or(t0.elapsed()), r)
    });
    let (elapsed, r) = h.serve(client, Duration::from_secs(10));
    assert!(r.closed, "server closed the slow client");
    assert!(matches!(r.status, Some(408) | None), "{r:?}");
    assert!(
        elapsed < Duration::from_millis(1_500),
        "closed after {elapsed:?}"
    );
    assert_eq!(h.server.stats().timed_out, 1);
    assert_eq!(h.server.open_connections(), 0);
}

#[test]
fn connections_beyond_the_limit_get_503_and_idle_ones_expire() {
    let cfg = HttpConfig {
        max_connections: 4,
        deadline_ns: 400_000_000,
        ..HttpConfig::default()
    };
    let mut h = Harness::new(cfg);
    let addr = h.addr();
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let t0 = Instant::now();
    while h.server.open_connections() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        h.turn(Duration::from_millis(10));
    }
    let client = thread::spawn(move || exchange(addr, b"GET /state HTTP/1.1\r\n\r\n"));
    let r = h.serve(client, Duration::from_secs(10));
    assert_eq!(r.status, Some(503), "{r:?}");
    assert!(r.head.contains("Retry-After: 1"));
    assert_eq!(h.server.open_connections(), 4);
    // The idle ones are closed at their deadline, then a new client is served.
    while h.server.open_connections() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "idle connections not expired"
        );
        h.turn(Duration::from_millis(10));
    }
    let r = serve_one(&mut h, b"GET /state HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, Some(200));
    assert_eq!(h.server.stats().refused, 1);
    assert_eq!(h.server.stats().peak_open, 4);
    drop(idle);
}

#[test]
fn pages_are_rendered_at_most_once_per_cache_period() {
    let cfg = HttpConfig {
        cache_ns: 60_000_000_000,
        ..HttpConfig::default()
    };
    let mut h = Harness::new(cfg);
    for _ in 0..3 {
        assert_eq!(
            serve_one(&mut h, b"GET /metrics HTTP/1.1\r\n\r\n").status,
            Some(200)
        );
    }
    assert_eq!(h.server.stats().renders, 1);
}

#[test]
fn only_loopback_unless_allowed() {
    let poll = mio::Poll::new().unwrap();
    let any = "0.0.0.0:0".parse().unwrap();
    let err = HttpServer::bind(any, HttpConfig::default(), poll.registry(), mio::Token(1))
        .err()
        .expect("refused");
    assert!(
        err.contains("0.0.0.0:0") && err.contains("loopback"),
        "{err}"
    );
    let cfg = HttpConfig {
        allow_remote: true,
        ..HttpConfig::default()
    };
    assert!(HttpServer::bind(any, cfg, poll.registry(), mio::Token(1)).is_ok());
}

//! ppsd's gpsd client against a real gpsd fed by gpsfake.
//!
//! The test writes an NMEA log whose times it chooses: five seconds without a fix
//! (2025-06-15 10:20:25–29, RMC status V, GGA quality 0), then ten with a 3-D fix
//! (10:20:30–39), each second as RMC, GGA and ZDA. gpsfake replays it in a loop through a
//! pseudo-terminal into a gpsd it starts with `-n` on a free non-default port; gpsd never
//! touches the clock. ppsd must read exactly the fixed seconds and never a no-fix one (gpsd
//! does report times without a fix, with mode 1).

mod ref_util;

use ppsd::reference::drive;
use ppsd::reference::gpsd::{GpsdClient, GpsdEvent, GpsdQuery};
use ppsd::reference::LeapIndicator;
use ppsd::time::Timestamp;
use ref_util::{free_tcp_port, require_binary, wait_for, ServerGuard, TempDir};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// 2025-06-15T10:20:00Z.
const BASE: i64 = 1_749_982_800;

fn sentence(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}\r\n")
}

fn nmea_log() -> String {
    let mut out = String::new();
    for s in 25..30 {
        let t = format!("1020{s:02}.00");
        out += &sentence(&format!("GPRMC,{t},V,,,,,,,150625,,,N"));
        out += &sentence(&format!("GPGGA,{t},,,,,0,00,,,,,,,"));
        out += &sentence(&format!("GPZDA,{t},15,06,2025,00,00"));
    }
    for s in 30..40 {
        let t = format!("1020{s:02}.00");
        out += &sentence(&format!(
            "GPRMC,{t},A,5005.0000,N,01425.0000,E,0.0,0.0,150625,,,A"
        ));
        out += &sentence(&format!(
            "GPGGA,{t},5005.0000,N,01425.0000,E,1,08,1.0,300.0,M,45.0,M,,"
        ));
        out += &sentence(&format!("GPZDA,{t},15,06,2025,00,00"));
    }
    out
}

struct Gpsd {
    addr: SocketAddr,
    server: ServerGuard,
    _dir: TempDir,
}

fn start_gpsd() -> Gpsd {
    let gpsfake = require_binary("gpsfake", "gpsd-clients");
    require_binary("gpsd", "gpsd");
    let dir = TempDir::new("ppsd-ref-gpsd");
    let log = dir.path().join("fix.nmea");
    std::fs::write(&log, nmea_log()).unwrap();
    let port = free_tcp_port();
    let mut cmd = Command::new(gpsfake);
    // -n: gpsd reads the device without waiting for a client; -c: 50 ms between sentences.
    cmd.args(["-q", "-n", "-c", "0.05", "-P", &port.to_string()])
        .arg(&log)
        .env("TMPDIR", dir.path()); // gpsfake's control socket goes here
    let mut server = ServerGuard::spawn("gpsfake", cmd, dir.path().join("gpsfake.log"));
    // gpsfake gives its gpsd a System V segment keyed by the port ("0x4770" + port in hex)
    // for gpsd's own shared-memory export, which gpsd leaves behind: remove it once gpsd has
    // stopped. The NTP SHM segments 0-7 gpsd creates are shared with any other gpsd on the
    // host and are left alone.
    let mut ipcrm = Command::new("ipcrm");
    ipcrm.args(["-M", &format!("0x4770{port:04X}")]);
    server.after_stop(ipcrm);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut gpsd = Gpsd {
        addr,
        server,
        _dir: dir,
    };
    let up = wait_for(Duration::from_secs(10), || {
        gpsd.server.assert_running();
        TcpStream::connect(addr).ok()
    });
    assert!(
        up.is_some(),
        "gpsd did not listen on {addr}:\n{}",
        gpsd.server.log()
    );
    gpsd
}

fn assert_fixed_second(t: Timestamp) {
    assert_eq!(t.nsec(), 0, "NMEA times are whole seconds");
    let s = t.sec() - BASE;
    assert!(
        (30..40).contains(&s),
        "second 10:20:{s:02} is not one with a fix"
    );
}

#[test]
fn first_fixed_tpv_names_the_expected_second() {
    let mut gpsd = start_gpsd();
    let mut q = GpsdQuery::start(gpsd.addr, Duration::from_secs(8)).unwrap();
    let s = drive::run(&mut q).unwrap_or_else(|e| panic!("{e}\n{}", gpsd.server.log()));
    gpsd.server.assert_running();
    assert_fixed_second(s.reference_time());
    assert_eq!(s.leap, LeapIndicator::Unknown);
    assert!(!s.authenticated);
    println!(
        "gpsd: read {} (2025-06-15T10:20:{:02}Z), offset to local clock {} s",
        s.reference_time(),
        s.reference_time().sec() - BASE,
        s.offset_ns / 1_000_000_000
    );
}

#[test]
fn stream_uses_fixed_seconds_only_and_reports_no_fix() {
    let gpsd = start_gpsd();
    let mut client = GpsdClient::connect(gpsd.addr).unwrap();
    let mut poll = mio::Poll::new().unwrap();
    poll.registry()
        .register(
            &mut client,
            mio::Token(0),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
        .unwrap();
    let mut events = mio::Events::with_capacity(8);
    let (mut seconds, mut no_fix) = (Vec::new(), 0);
    // One pass of the log takes 15 × 3 × 50 ms = 2.25 s; watch for up to 8 s.
    let end = Instant::now() + Duration::from_secs(8);
    while Instant::now() < end && (seconds.len() < 12 || no_fix < 3) {
        poll.poll(&mut events, Some(Duration::from_millis(200)))
            .unwrap();
        for ev in client
            .poll()
            .unwrap_or_else(|e| panic!("{e}\n{}", gpsd.server.log()))
        {
            match ev {
                GpsdEvent::Time(s) => seconds.push(s.reference_time()),
                GpsdEvent::Unusable(why) if why.contains("no fix") => no_fix += 1,
                _ => {}
            }
        }
    }
    assert!(
        seconds.len() >= 12,
        "fixed TPVs seen: {seconds:?}\n{}",
        gpsd.server.log()
    );
    assert!(no_fix >= 3, "no-fix TPVs seen: {no_fix}");
    for t in &seconds {
        assert_fixed_second(*t);
    }
    // Consecutive fixed seconds follow each other, except where the log starts over.
    let steps = seconds
        .windows(2)
        .filter(|w| w[1].sec() == w[0].sec() + 1)
        .count();
    assert!(
        steps >= seconds.len() / 2,
        "seconds not in sequence: {seconds:?}"
    );
    println!(
        "gpsd stream: {} fixed seconds read, {} no-fix reports refused; first {:?}",
        seconds.len(),
        no_fix,
        seconds
            .iter()
            .take(10)
            .map(|t| t.sec() - BASE)
            .collect::<Vec<_>>()
    );
}

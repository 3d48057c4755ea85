//! The SignServer publisher end to end: `ppsd run --simulate` as a child POSTs its updates to a
//! small HTTP server written here (std `TcpListener` on 127.0.0.1, one thread per
//! connection). Checked: the form encoding; every property, decoded by a
//! `java.util.Properties` reader written here from the format's definition; EXPIRATION moving
//! forward; a simulated loss of sync (someone else steps the clock) reported as `false` before
//! the previous `true` expires (and a clean stop ending with `false`); an expired leap-seconds
//! list making LEAPSECOND vanish; LEAPSECOND going POSITIVE -> NONE across a leap second with
//! the change held back one update; and a SignServer that hangs, refuses connections or
//! answers 500 neither delaying pulses nor growing the daemon's memory, with FAILED_TO_REPORT
//! in `/state`, logged once.
//!
//! Every wait is bounded, every address is loopback, and only the simulated clock is ever
//! adjusted.

mod ref_util;
use ref_util::TempDir;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod signserver_util;
use signserver_util::decode::{form_decode, properties_decode};
use signserver_util::{header, Mode, Post, Server};

const BIN: &str = env!("CARGO_BIN_EXE_ppsd");

#[test]
fn the_decoders_follow_the_definitions() {
    let form = form_decode(b"workerName=A+b%26&data=x%3Dy%0A");
    assert_eq!(form[0], ("workerName".into(), b"A b&".to_vec()));
    assert_eq!(form[1], ("data".into(), b"x=y\n".to_vec()));
    let p = properties_decode(
        b"# comment\n  ! another\n\nk1 = v1\nk\\ 2:v\\\n    2\r\nk3\t\\u20ACx\\=\\:\\\\\\n\xe9\n k4=\\  lead\n",
    );
    assert_eq!(p["k1"], "v1");
    assert_eq!(p["k 2"], "v2");
    assert_eq!(p["k3"], "\u{20ac}x=:\\\n\u{e9}");
    assert_eq!(p["k4"], "  lead");
    assert_eq!(p.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// The daemon.

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A child daemon with its standard error read line by line (each line stamped on arrival);
/// killed on drop.
struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    http: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(dir: &Path, scenario: &str, leap: &Path, endpoint: &str) -> Daemon {
        let http = free_port();
        let config = dir.join("ppsd.toml");
        std::fs::write(
            &config,
            format!(
                "[trust]\nmin_samples = 4\nlifetime_ms = 1500\n[leap]\nfile = \"{}\"\n\
                 [http]\nlisten = \"127.0.0.1:{http}\"\n[signserver]\nendpoint = \"{endpoint}\"\n",
                leap.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "--simulate"])
            .arg(manifest(scenario))
            .arg("--config")
            .arg(&config)
            .arg("--shm")
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                l.lock().unwrap().push((Instant::now(), line));
            }
        });
        Daemon { child, lines, http }
    }

    fn log(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// The body of GET `path` on the daemon's listener; empty while it is not up yet.
    fn get(&self, path: &str) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.http)) else {
            return String::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    fn vm_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{body}"))
}

/// Polls `f` every 20 ms for at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One received update, decoded.
#[derive(Debug)]
struct Update {
    at: Instant,
    raw: String,
    data: Vec<u8>,
    props: BTreeMap<String, String>,
}

impl Update {
    fn parse(p: &Post) -> Update {
        assert!(
            p.head.starts_with("POST /signserver/process HTTP/1.1\r\n"),
            "{}",
            p.head
        );
        assert_eq!(
            header(&p.head, "content-type"),
            Some("application/x-www-form-urlencoded"),
            "{}",
            p.head
        );
        let form = form_decode(&p.body);
        let names: Vec<&str> = form.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["workerName", "data"]);
        assert_eq!(form[0].1, b"StatusPropertiesWorker");
        let data = form[1].1.clone();
        Update {
            at: p.at,
            raw: String::from_utf8(p.body.clone()).expect("a form body is ASCII"),
            props: properties_decode(&data),
            data,
        }
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.props.get(k).map(String::as_str)
    }

    fn int(&self, k: &str) -> i64 {
        self.get(k)
            .unwrap_or_else(|| panic!("no {k} in {:?}", self.props))
            .parse()
            .unwrap_or_else(|_| panic!("{k} not an integer in {:?}", self.props))
    }

    fn insync(&self) -> bool {
        match self.get("TIMESOURCE0_INSYNC.VALUE") {
            Some("true") => true,
            Some("false") => false,
            v => panic!("TIMESOURCE0_INSYNC.VALUE {v:?}"),
        }
    }

    /// The /state line's fields.
    fn state(&self) -> Vec<String> {
        let line = self
            .get("TIMEMONITOR_STATE.VALUE")
            .expect("TIMEMONITOR_STATE");
        let f: Vec<String> = line.split(',').map(str::to_string).collect();
        assert_eq!(f.len(), 9, "{line}");
        f
    }

    /// When the expiration was computed (the state line's first field), ms.
    fn built_ms(&self) -> i64 {
        self.state()[0].parse().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn updates_follow_the_state_and_report_a_loss_of_sync_before_expiry() {
    let dir = TempDir::new("ppsd-ss-flip");
    let server = Server::start(Mode::Ok);
    let endpoint = format!("http://127.0.0.1:{}/signserver/process", server.port);
    let leap = manifest("tests/data/leap/leap-seconds.list");
    let d = Daemon::start(&dir.0, "tests/data/signserver/step.toml", &leap, &endpoint);

    // Until a `false` follows a `true`, then a little more (at most 90 s on a loaded machine).
    let flipped = |posts: &[Post]| {
        let u: Vec<bool> = posts.iter().map(|p| Update::parse(p).insync()).collect();
        u.iter()
            .position(|&v| v)
            .and_then(|t| u[t..].iter().position(|&v| !v).map(|f| t + f))
    };
    let flip = wait_for(Duration::from_secs(90), || flipped(&server.posts()))
        .expect("no update went from true to false within 90 s");
    std::thread::sleep(Duration::from_millis(1_500));
    let state_page = d.get("/state");
    let metrics = d.get("/metrics");
    let posts = server.posts();
    let log = d.log();
    let updates: Vec<Update> = posts.iter().map(Update::parse).collect();
    assert!(updates.len() > flip + 3, "updates go on after the flip");

    // Every update: the properties TimeMonitor sends, consistent with each other.
    for u in &updates {
        let built = u.built_ms();
        let expiration = u.int("TIMESOURCE0_INSYNC.EXPIRATION");
        let state = u.state();
        if u.insync() {
            assert!(
                expiration > built && expiration <= built + 900,
                "true expires within status_expire_ms: {:?}",
                u.props
            );
            assert!(
                ["INSYNC", "SOON_OUT_OF_SYNC"].contains(&state[1].as_str()),
                "{state:?}"
            );
        } else {
            assert_eq!(expiration, 0, "false carries EXPIRATION 0");
        }
        assert_eq!(u.get("LEAPSECOND.VALUE"), Some("NONE"), "{:?}", u.props);
        assert_eq!(u.int("LEAPSECOND.EXPIRATION"), built + 60_000);
        assert_eq!(state[3], "NONE");
        assert!([
            "REPORTED",
            "REPORTED_BUT_EXPIRE_TIME_SHORT",
            "FAILED_TO_REPORT"
        ]
        .contains(&state[2].as_str()));
        let known = [
            "TIMESOURCE0_INSYNC.VALUE",
            "TIMESOURCE0_INSYNC.EXPIRATION",
            "LEAPSECOND.VALUE",
            "LEAPSECOND.EXPIRATION",
            "TIMEMONITOR_STATE.VALUE",
            "TIMEMONITOR_LOG.VALUE",
        ];
        for k in u.props.keys() {
            assert!(known.contains(&k.as_str()), "unexpected property {k}");
        }
    }

    // EXPIRATION moves forward while true.
    let trues: Vec<&Update> = updates[..flip].iter().filter(|u| u.insync()).collect();
    assert!(
        trues.len() >= 4,
        "{} true updates before the flip",
        trues.len()
    );
    for w in trues.windows(2) {
        assert!(
            w[1].int("TIMESOURCE0_INSYNC.EXPIRATION") > w[0].int("TIMESOURCE0_INSYNC.EXPIRATION"),
            "EXPIRATION moves forward"
        );
    }
    // Updates come at least every interval (250 ms), give or take a loaded machine.
    let gaps: Vec<u128> = updates[..flip]
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect();
    let mut sorted = gaps.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!((150..=400).contains(&median), "median gap {median} ms");

    // The flip: `false` reaches the server before the last `true` it follows expires. That
    // update was built after the server had received the one before it (the worker sends
    // one at a time), so its expiry came at least (EXPIRATION − built) after that receipt.
    let (last_true, before) = (&updates[flip - 1], &updates[flip - 2]);
    let left_ms = last_true.int("TIMESOURCE0_INSYNC.EXPIRATION") - last_true.built_ms();
    let flip_at = updates[flip].at;
    let since_before = flip_at.duration_since(before.at).as_millis() as i64;
    assert!(
        since_before < left_ms,
        "false arrived {since_before} ms after the update before the last true, which had \
         {left_ms} ms left"
    );
    assert!(updates[flip].built_ms() < last_true.int("TIMESOURCE0_INSYNC.EXPIRATION"));
    assert_eq!(updates[flip].state()[1], "OUT_OF_SYNC");

    // The delay from the event log's state change to the POST reporting it.
    let (changed_at, _) = log
        .iter()
        .find(|(_, l)| l.contains("event=\"state_changed\"") && l.contains("to=\"OUT_OF_SYNC\""))
        .expect("the state change in the event log");
    let delay_ms = if flip_at >= *changed_at {
        flip_at.duration_since(*changed_at).as_secs_f64() * 1e3
    } else {
        -(changed_at.duration_since(flip_at).as_secs_f64() * 1e3)
    };
    let margin_ms = last_true.int("TIMESOURCE0_INSYNC.EXPIRATION") - updates[flip].built_ms();
    println!(
        "loss of sync: event log line to the POST reporting it: {delay_ms:.1} ms; `false` built \
         {margin_ms} ms before the last `true` expired"
    );
    assert!(delay_ms < left_ms as f64, "{delay_ms} ms");

    // TIMEMONITOR_LOG: sent when the log changed, not with every update; it names the change.
    let with_log: Vec<&Update> = updates
        .iter()
        .filter(|u| u.get("TIMEMONITOR_LOG.VALUE").is_some())
        .collect();
    assert!(
        !with_log.is_empty() && with_log.len() < updates.len() / 2,
        "{} of {}",
        with_log.len(),
        updates.len()
    );
    assert!(updates[flip..]
        .iter()
        .filter_map(|u| u.get("TIMEMONITOR_LOG.VALUE"))
        .any(|l| l.contains("sync state INSYNC -> OUT_OF_SYNC") && l.lines().count() <= 10));

    // /state and /metrics show this publisher's result.
    let fields: Vec<&str> = state_page.trim().split(',').collect();
    assert_eq!(fields.len(), 9, "{state_page}");
    assert!(fields[2].starts_with("REPORTED"), "{state_page}");
    assert_eq!(
        metric(&metrics, "ppsd_signserver_report_failures_total"),
        0.0
    );

    // A clean stop ends with `false`, so signers stop at once.
    let ok = Command::new("kill")
        .args(["-s", "TERM", &d.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut d = d;
    wait_for(Duration::from_secs(10), || d.child.try_wait().unwrap()).expect("stopped");
    let last = Update::parse(server.posts().last().unwrap());
    assert!(!last.insync(), "{:?}", last.props);
    assert_eq!(last.int("TIMESOURCE0_INSYNC.EXPIRATION"), 0);
    assert_eq!(last.state()[1], "UNKNOWN");

    let sample = &updates[flip];
    std::fs::write(
        std::env::temp_dir().join("ppsd-signserver-sample.txt"),
        format!(
            "raw body:\n{}\n\ndecoded data:\n{}\ndelay_ms {delay_ms:.1}\nmargin_ms {margin_ms}\n",
            sample.raw,
            String::from_utf8_lossy(&sample.data)
        ),
    )
    .unwrap();
}

/// Writes the real list with its expiry moved to 2025-12-28 (before the simulated start) and
/// the `#h` hash recomputed by the format's rule.
fn expired_leap_list(dir: &Path) -> PathBuf {
    use sha1::{Digest, Sha1};
    let real = std::fs::read_to_string(manifest("tests/data/leap/leap-seconds.list")).unwrap();
    let expired = 1_766_880_000i64 + 2_208_988_800;
    let mut lines: Vec<String> = real
        .lines()
        .filter(|l| !l.starts_with("#h"))
        .map(|l| {
            if l.starts_with("#@") {
                format!("#@\t{expired}")
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut digits = String::new();
    for l in &lines {
        if let Some(v) = l.strip_prefix("#$").or_else(|| l.strip_prefix("#@")) {
            digits.push_str(v);
        }
    }
    for l in lines.iter().filter(|l| !l.starts_with('#')) {
        digits.push_str(l.split('#').next().unwrap());
    }
    digits.retain(|c| c.is_ascii_digit());
    let h = Sha1::digest(digits.as_bytes());
    let words: Vec<String> = h
        .chunks(4)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    lines.push(format!("#h\t{}", words.join(" ")));
    let path = dir.join("expired.list");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn an_expired_leap_list_makes_leapsecond_vanish() {
    let dir = TempDir::new("ppsd-ss-leap");
    let leap = expired_leap_list(&dir.0);
    let server = Server::start(Mode::Ok);
    let endpoint = format!("http://127.0.0.1:{}/signserver/process", server.port);
    let d = Daemon::start(&dir.0, "tests/data/daemon/fast-lab.toml", &leap, &endpoint);
    let posts = wait_for(Duration::from_secs(30), || {
        let p = server.posts();
        (p.len() >= 8).then_some(p)
    })
    .expect("8 updates within 30 s");
    let log = d.log();
    assert!(
        log.iter().any(|(_, l)| l.contains("leap_file_expired")),
        "the list was read, and found expired: {log:?}"
    );
    for p in &posts {
        let u = Update::parse(p);
        assert!(u.get("LEAPSECOND.VALUE").is_none(), "{:?}", u.props);
        assert!(u.get("LEAPSECOND.EXPIRATION").is_none(), "{:?}", u.props);
        assert_eq!(u.state()[3], "UNKNOWN");
        assert!(u.get("TIMESOURCE0_INSYNC.VALUE").is_some());
    }
}

#[test]
fn leapsecond_back_to_none_at_midnight_is_held_one_update() {
    let dir = TempDir::new("ppsd-ss-midnight");
    let server = Server::start(Mode::Ok);
    let endpoint = format!("http://127.0.0.1:{}/signserver/process", server.port);
    let leap = manifest("tests/data/leap/future-positive.list");
    let _d = Daemon::start(&dir.0, "tests/data/signserver/leap.toml", &leap, &endpoint);
    // 2027-01-01T00:00:00Z, after the invented leap second of that list.
    const MIDNIGHT_MS: i64 = 1_798_761_600_000;
    let updates = wait_for(Duration::from_secs(60), || {
        let u: Vec<Update> = server.posts().iter().map(Update::parse).collect();
        u.last()
            .is_some_and(|l| l.built_ms() > MIDNIGHT_MS + 2_000)
            .then_some(u)
    })
    .expect("updates until 2 s past midnight within 60 s");
    let leap_of = |u: &Update| u.get("LEAPSECOND.VALUE").map(str::to_string);
    // The record's leap state is the state line's LEAP field.
    let first_none = updates
        .iter()
        .position(|u| u.state()[3] == "NONE")
        .expect("the record's leap state went back to NONE");
    assert!(first_none > 0, "POSITIVE before midnight");
    for u in &updates[..first_none] {
        assert_eq!(u.state()[3], "POSITIVE");
        assert_eq!(leap_of(u).as_deref(), Some("POSITIVE"), "{:?}", u.props);
        assert_eq!(u.int("LEAPSECOND.EXPIRATION"), u.built_ms() + 60_000);
    }
    let held = &updates[first_none];
    let built = held.built_ms();
    assert!(
        (MIDNIGHT_MS - 60_000..MIDNIGHT_MS + 60_000).contains(&built),
        "the change comes between 23:59 and 00:01: {built}"
    );
    assert_eq!(
        leap_of(held).as_deref(),
        Some("POSITIVE"),
        "held one update"
    );
    for u in &updates[first_none + 1..] {
        assert_eq!(u.state()[3], "NONE");
        assert_eq!(
            leap_of(u).as_deref(),
            Some("NONE"),
            "then NONE: {:?}",
            u.props
        );
    }
}

/// What one daemon against a failing SignServer showed.
struct Outcome {
    what: &'static str,
    state_line: String,
    failures: f64,
    lost: f64,
    accepted: f64,
    seconds: f64,
    max_fetch_delay_ms: f64,
    rss_kib: (u64, u64),
    failed_lines: usize,
}

fn against_failing(what: &'static str, mode: Option<Mode>) -> Outcome {
    let dir = TempDir::new(what);
    let server = mode.map(Server::start);
    let port = server.as_ref().map_or_else(free_port, |s| s.port);
    let endpoint = format!("http://127.0.0.1:{port}/signserver/process");
    let leap = manifest("tests/data/leap/leap-seconds.list");
    let d = Daemon::start(&dir.0, "tests/data/daemon/fast-lab.toml", &leap, &endpoint);
    wait_for(Duration::from_secs(20), || {
        let m = d.get("/metrics");
        (m.contains("ppsd_pulses_accepted_total")
            && metric(&m, "ppsd_pulses_accepted_total") >= 3.0)
            .then_some(())
    })
    .expect("pulses within 20 s");
    let start = Instant::now();
    let first = metric(&d.get("/metrics"), "ppsd_pulses_accepted_total");
    let rss0 = d.vm_rss_kib();
    let mut max_delay: f64 = 0.0;
    while start.elapsed() < Duration::from_secs(12) {
        let m = d.get("/metrics");
        max_delay = max_delay.max(metric(&m, "ppsd_pulse_fetch_delay_seconds") * 1e3);
        std::thread::sleep(Duration::from_millis(300));
    }
    let m = d.get("/metrics");
    let seconds = start.elapsed().as_secs_f64();
    let out = Outcome {
        what,
        state_line: d.get("/state"),
        failures: metric(&m, "ppsd_signserver_report_failures_total"),
        lost: metric(&m, "ppsd_pulses_lost_total"),
        accepted: metric(&m, "ppsd_pulses_accepted_total") - first,
        seconds,
        max_fetch_delay_ms: max_delay,
        rss_kib: (rss0, d.vm_rss_kib()),
        failed_lines: d
            .log()
            .iter()
            .filter(|(_, l)| l.contains("report to SignServer failed"))
            .count(),
    };
    if let Some(s) = &server {
        assert!(!s.posts().is_empty(), "{what}: the server saw the requests");
    }
    out
}

#[test]
fn a_hanging_refusing_or_failing_signserver_delays_no_pulse() {
    let runs = [
        ("hang", Some(Mode::Hang)),
        ("refuse", None),
        ("http500", Some(Mode::Fail500)),
    ];
    let threads: Vec<_> = runs
        .into_iter()
        .map(|(what, mode)| std::thread::spawn(move || against_failing(what, mode)))
        .collect();
    for t in threads {
        let o = t.join().expect("run");
        println!(
            "{}: {:.0} pulses in {:.1} s, {} lost, fetch delay max {:.1} ms, {} failed reports, \
             VmRSS {} -> {} KiB, /state {}",
            o.what,
            o.accepted,
            o.seconds,
            o.lost,
            o.max_fetch_delay_ms,
            o.failures,
            o.rss_kib.0,
            o.rss_kib.1,
            o.state_line.trim()
        );
        let w = o.what;
        assert_eq!(
            o.state_line.split(',').nth(2),
            Some("FAILED_TO_REPORT"),
            "{w}"
        );
        assert!(o.failures >= 5.0, "{w}: {} failures counted", o.failures);
        assert_eq!(
            o.failed_lines, 1,
            "{w}: the failure is logged once, not per attempt"
        );
        assert_eq!(o.lost, 0.0, "{w}: no pulse lost");
        assert!(
            o.accepted >= o.seconds.floor() - 2.0,
            "{w}: {} pulses accepted in {:.1} s",
            o.accepted,
            o.seconds
        );
        // The loop fetches 10 ms after each edge; a request on the loop would hold it for
        // the 400 ms timeout.
        assert!(
            o.max_fetch_delay_ms < 200.0,
            "{w}: fetch delay {} ms",
            o.max_fetch_delay_ms
        );
        assert!(
            o.rss_kib.1 <= o.rss_kib.0 + 2_048,
            "{w}: VmRSS grew {} -> {} KiB",
            o.rss_kib.0,
            o.rss_kib.1
        );
    }
}

//! `ppsd run --simulate` as a child process, observed through the ppsd-shm reader library as a
//! signer would: it reaches INSYNC and the reader agrees; a second instance is refused; a bad
//! configuration at SIGHUP keeps the old one; SIGTERM leaves a closed, non-INSYNC record and
//! exit code 0; after SIGKILL the record stays valid at most the state lifetime (1.5 s)
//! and readers then refuse it as expired.
//!
//! systemd's notifications (READY, STATUS, WATCHDOG, STOPPING) go to a socket the test holds.
//! Every wait is bounded; the whole file runs in about 10 s (three daemons in parallel). The
//! simulated world only: nothing here can touch the host's clock.

mod ref_util;
use ref_util::TempDir;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ppsd_shm::{Reader, Reason, SyncState};

const BIN: &str = env!("CARGO_BIN_EXE_ppsd");

/// A child daemon, killed on drop if still running.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A configuration for fast convergence with the test leap list, in `dir`.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let leap = manifest("tests/data/leap/leap-seconds.list");
    let text = format!(
        "[trust]\nmin_samples = 4\nlifetime_ms = 1500\n[leap]\nfile = \"{}\"\n{extra}",
        leap.display()
    );
    let path = dir.join("ppsd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn(config: &Path, shm: &Path) -> Daemon {
    spawn_with(config, shm, &[])
}

fn spawn_with(config: &Path, shm: &Path, env: &[(&str, &str)]) -> Daemon {
    let child = Command::new(BIN)
        .envs(env.iter().copied())
        .args(["run", "--simulate"])
        .arg(manifest("tests/data/daemon/fast-lab.toml"))
        .arg("--config")
        .arg(config)
        .arg("--shm")
        .arg(shm)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Daemon(child)
}

/// Polls until `f` returns `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn wait_exit(d: &mut Daemon, limit: Duration) -> ExitStatus {
    wait_for(limit, || d.0.try_wait().unwrap()).expect("daemon did not exit in time")
}

fn stderr_of(d: &mut Daemon) -> String {
    let mut s = String::new();
    d.0.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// Waits for the record to appear and a signer to be allowed to sign.
fn wait_insync(shm: &Path) -> Reader {
    let mut reader = wait_for(Duration::from_secs(10), || Reader::open(shm).ok())
        .expect("record never appeared");
    let v = wait_for(Duration::from_secs(40), || {
        let v = reader.check();
        v.may_sign.then_some(v)
    })
    .expect("never INSYNC within 40 s");
    assert_eq!(v.state, SyncState::InSync);
    reader
}

fn signal(d: &Daemon, sig: &str) {
    let ok = Command::new("kill")
        .args(["-s", sig, &d.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -s {sig}");
}

#[test]
fn insync_second_instance_refused_bad_reload_kept_sigterm_closes() {
    let dir = TempDir::new("ppsd-it-term");
    let config = write_config(&dir.0, "");
    let shm = dir.0.join("state");
    let mut d = spawn(&config, &shm);
    let mut reader = wait_insync(&shm);
    let snap = reader.snapshot().unwrap();
    assert_eq!(snap.writer_pid, d.0.id());
    assert_eq!(
        snap.state.tai_offset_s, 37,
        "from the leap list at the simulated date"
    );
    assert!(snap.state.error_bound_ns <= snap.state.declared_accuracy_ns);
    assert!(snap.state.pulse_source_id.as_string().starts_with("sim:"));

    // A second instance on the same record is refused and leaves the first one alone.
    let mut second = spawn(&config, &shm);
    let status = wait_exit(&mut second, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    let err = stderr_of(&mut second);
    assert!(err.contains("another ppsd"), "{err}");
    assert!(
        reader.check().may_sign,
        "the first instance keeps publishing"
    );

    // A configuration error at SIGHUP keeps the configuration in force.
    std::fs::write(&config, "[trust]\ndeclared_accuracy_ns = 5_000_000_000\n").unwrap();
    signal(&d, "HUP");
    std::thread::sleep(Duration::from_millis(600));
    assert!(reader.check().may_sign, "still INSYNC after a bad reload");

    signal(&d, "TERM");
    let status = wait_exit(&mut d, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    let v = reader.check();
    assert!(!v.may_sign);
    assert_eq!(v.reason, Some(Reason::WriterGone));
    assert_eq!(v.state, SyncState::Unknown);
    let err = stderr_of(&mut d);
    assert!(err.contains("keeping the configuration in force"), "{err}");
    assert!(err.contains("trust.declared_accuracy_ns"), "{err}");
    assert!(err.contains("to=\"INSYNC\""), "{err}");
    assert!(err.contains("record closed"), "{err}");
}

#[test]
fn after_sigkill_the_record_expires_within_the_lifetime() {
    let dir = TempDir::new("ppsd-it-kill");
    let config = write_config(&dir.0, "");
    let shm = dir.0.join("state");
    let mut d = spawn(&config, &shm);
    let mut reader = wait_insync(&shm);
    d.0.kill().unwrap();
    let _ = d.0.wait();
    // The daemon is dead by now: nothing it published can outlive this instant by more than
    // the state lifetime.
    let dead_by = ppsd_shm::monotonic_ns();
    let last = reader.snapshot().unwrap().state;
    let left = last.valid_until_mono_ns - dead_by;
    assert!(
        left <= 1_500_000_000,
        "record valid {left} ns after SIGKILL"
    );
    let v = wait_for(Duration::from_secs(5), || {
        let v = reader.check();
        (!v.may_sign).then_some((v, ppsd_shm::monotonic_ns()))
    });
    let (v, seen_at) = v.expect("record never expired");
    assert_eq!(v.reason, Some(Reason::Expired));
    assert!(
        seen_at >= last.valid_until_mono_ns,
        "refused only once expired"
    );
}

#[test]
fn systemd_notifications_ready_status_watchdog_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("ppsd-it-notify");
    let config = write_config(&dir.0, "");
    let shm = dir.0.join("state");
    let sock_path = dir.0.join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let env = [
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ];
    let mut d = spawn_with(&config, &shm, &env);
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 256];
    let mut recv_until = |got: &mut Vec<String>, limit: Duration, want: &str| {
        let start = Instant::now();
        while start.elapsed() < limit {
            if got.iter().any(|m| m.contains(want)) {
                return true;
            }
            if let Ok(n) = sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        got.iter().any(|m| m.contains(want))
    };
    assert!(
        recv_until(&mut got, Duration::from_secs(10), "READY=1"),
        "{got:?}"
    );
    assert!(
        recv_until(&mut got, Duration::from_secs(40), "STATUS=INSYNC, bound "),
        "{got:?}"
    );
    let pings = |got: &Vec<String>| got.iter().filter(|m| *m == "WATCHDOG=1").count();
    let before = pings(&got);
    recv_until(&mut got, Duration::from_secs(1), "never");
    assert!(pings(&got) >= before + 3, "watchdog every 200 ms: {got:?}");
    let ready = got.iter().position(|m| m == "READY=1").unwrap();
    assert!(got[ready + 1].starts_with("STATUS=UNKNOWN"), "{got:?}");
    signal(&d, "TERM");
    assert!(
        recv_until(&mut got, Duration::from_secs(10), "STOPPING=1"),
        "{got:?}"
    );
    assert_eq!(wait_exit(&mut d, Duration::from_secs(10)).code(), Some(0));
}

/// One HTTP GET on loopback with bounded waits; returns the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of the sample line `name` in an exposition.
fn sample(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn metrics_state_and_status_are_served_by_the_running_daemon() {
    let dir = TempDir::new("ppsd-it-http");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = write_config(&dir.0, &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"));
    let shm = dir.0.join("state");
    let _d = spawn(&config, &shm);
    wait_insync(&shm);
    let (status, body) = http_get(port, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    let accepted = sample(&body, "ppsd_pulses_accepted_total");
    let counted = sample(&body, "ppsd_pulse_offset_seconds_count");
    println!("/metrics: {accepted} pulses accepted, {counted} in the offset histogram");
    assert!(accepted >= 4.0, "{accepted} pulses");
    assert_eq!(
        accepted, counted,
        "every accepted pulse is in the histogram"
    );
    assert_eq!(sample(&body, "ppsd_sync_state{state=\"INSYNC\"}"), 1.0);
    let file = dir.0.join("metrics.txt");
    std::fs::write(&file, &body).unwrap();
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool missing: apt-get install prometheus (scripts/install-test-deps)");
    assert!(
        promtool.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
    let (status, line) = http_get(port, "/state");
    assert!(status.contains(" 200 "), "{status}");
    println!("/state: {}", line.trim());
    assert_eq!(line.trim().split(',').nth(1), Some("INSYNC"), "{line}");
    let (status, json) = http_get(port, "/status");
    assert!(status.contains(" 200 "), "{status}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("/status is JSON");
    assert_eq!(v["state"], "INSYNC", "{json}");
}

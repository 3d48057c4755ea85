//! `ppsd status` against `ppsd run --simulate` as a child process: text and `--json` with the
//! daemon's `/status` merged (HTTP address from `--http` or from `--config`), without it
//! (`--no-http`, an unreachable address), and the exit codes: 0 while a signer may sign, 1
//! once the daemon has stopped and closed the record, 2 for a missing record, a garbage file
//! and bad arguments (a clear message, never a panic).
//!
//! The daemon listens on 127.0.0.1 port 0 and the test reads the bound address from its event
//! log. Every wait is bounded; the simulated world only, nothing here can touch the host's clock.

mod ref_util;
use ref_util::TempDir;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ppsd_shm::{Reader, SyncState};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ppsd");

/// A child daemon, killed on drop if still running, with its event log drained by a thread.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Fast convergence, the test leap list (so the leap state is known), HTTP on an ephemeral
/// loopback port.
fn spawn(dir: &Path, shm: &Path) -> Daemon {
    let leap = manifest("tests/data/leap/leap-seconds.list");
    let config = dir.join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "[trust]\nmin_samples = 4\nlifetime_ms = 1500\n[leap]\nfile = \"{}\"\n",
            leap.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--simulate"])
        .arg(manifest("tests/data/daemon/fast-lab.toml"))
        .arg("--config")
        .arg(&config)
        .arg("--shm")
        .arg(shm)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Daemon { child, lines }
}

/// The address the daemon's HTTP listener bound, from its `http_listening` event.
fn listen_addr(d: &Daemon) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(line) = d.lines.recv_timeout(left) else {
            break;
        };
        if line.contains("http_listening") {
            if let Some(rest) = line.split("addr=").nth(1) {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
    }
    panic!("no http_listening event within 20 s");
}

/// Polls until `f` returns `Some`, for at most `limit`.
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

fn wait_insync(shm: &Path) -> Reader {
    let mut reader = wait_for(Duration::from_secs(10), || Reader::open(shm).ok())
        .expect("record never appeared");
    wait_for(Duration::from_secs(40), || {
        reader.check().may_sign.then_some(())
    })
    .expect("never INSYNC within 40 s");
    reader
}

fn status(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("status")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `ppsd status ARGS` until it exits 0 (a loaded machine may delay the daemon past a
/// renewal once), at most 10 times; returns the last output.
fn status_may_sign(args: &[&str]) -> Output {
    let mut last = status(args);
    for _ in 0..10 {
        if last.status.code() == Some(0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        last = status(args);
    }
    assert_eq!(last.status.code(), Some(0), "{}", text(&last));
    last
}

/// The documented `--json` keys: every one of them, and nothing else.
const KEYS: [&str; 25] = [
    "shm",
    "state",
    "published_state",
    "may_sign",
    "reason",
    "reason_code",
    "error_bound_ns",
    "declared_accuracy_ns",
    "offset_ns",
    "frequency_ppm",
    "leap",
    "tai_offset_s",
    "next_leap_utc",
    "last_pulse_utc",
    "pulse_source",
    "reference",
    "updated_age_ms",
    "valid_for_ms",
    "writer_pid",
    "writer_generation",
    "closed",
    "record_error",
    "http",
    "daemon_error",
    "daemon",
];

fn json_of(o: &Output) -> Value {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
    let obj = v.as_object().expect("one JSON object");
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut sorted = KEYS.to_vec();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "the --json keys are the documented ones");
    v
}

#[test]
fn status_of_a_running_daemon_with_and_without_its_http_page_then_stopped() {
    let dir = TempDir::new("ppsd-st-run");
    let shm = dir.0.join("state");
    let mut d = spawn(&dir.0, &shm);
    let addr = listen_addr(&d);
    let mut reader = wait_insync(&shm);
    let shm_arg = shm.to_str().unwrap();
    let pid = d.child.id();

    // Text, with /status merged: the lines a chronyc user looks for.
    let o = status_may_sign(&[
        "--shm",
        shm_arg,
        "--http",
        &addr,
        "--http-timeout-ms",
        "5000",
    ]);
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    println!("{out}");
    for name in [
        "Reference ID",
        "Verdict        : may sign",
        "State          : ",
        "Error bound",
        "System time",
        "Frequency",
        "Last pulse",
        "Leap status    : Normal",
        "TAI-UTC        : 37 s",
        "Servo          : ",
        "Uptime",
        "Update age",
        "Writer         : pid ",
    ] {
        assert!(out.contains(name), "no {name:?} in\n{out}");
    }
    assert!(
        out.contains(&format!("Daemon /status : from {addr}")),
        "{out}"
    );
    assert!(
        out.contains(" s ago)"),
        "the pulse age comes from /status: {out}"
    );

    // JSON, with /status merged: the same state as the reader library sees.
    let o = status_may_sign(&[
        "--json",
        "--shm",
        shm_arg,
        "--http",
        &addr,
        "--http-timeout-ms",
        "5000",
    ]);
    let v = json_of(&o);
    let seen = reader.check();
    assert_eq!(v["may_sign"], true);
    assert!(v["reason"].is_null());
    assert_eq!(v["state"], v["published_state"]);
    let state = v["state"].as_str().unwrap();
    assert!(
        state == SyncState::InSync.name() || state == SyncState::SoonOutOfSync.name(),
        "{v}"
    );
    if seen.may_sign {
        assert_eq!(state, seen.state.name(), "the shm reader agrees");
    }
    assert_eq!(v["writer_pid"], pid);
    assert_eq!(v["closed"], false);
    assert_eq!(v["leap"], "NONE");
    assert_eq!(v["tai_offset_s"], 37);
    assert!(v["error_bound_ns"].as_u64().unwrap() <= v["declared_accuracy_ns"].as_u64().unwrap());
    assert!(
        v["pulse_source"].as_str().unwrap().starts_with("sim:"),
        "{v}"
    );
    assert!(v["updated_age_ms"].as_i64().unwrap() >= 0);
    assert_eq!(v["http"], addr.as_str());
    assert!(v["daemon_error"].is_null(), "{v}");
    let daemon = &v["daemon"];
    assert_eq!(
        daemon["pid"], pid,
        "the page of the daemon that writes the record"
    );
    assert!(daemon["servo"]["state"].is_string(), "{daemon}");
    assert!(daemon["running_ns"].as_i64().unwrap() > 0);
    assert!(daemon["counters"]["pulses_accepted"].as_u64().unwrap() >= 4);

    // Without HTTP: the record alone, still exit 0.
    let o = status_may_sign(&["--json", "--shm", shm_arg, "--no-http"]);
    let v = json_of(&o);
    assert!(v["daemon"].is_null());
    assert!(v["http"].is_null());
    assert_eq!(v["daemon_error"], "--no-http");
    let o = status_may_sign(&["--shm", shm_arg, "--no-http"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("Daemon /status : not asked (--no-http)"),
        "{out}"
    );
    assert!(!out.contains("Servo"), "{out}");

    // An address where nobody listens: noted, not an error, not a hang.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let o = status_may_sign(&["--json", "--shm", shm_arg, "--http", &dead]);
    let v = json_of(&o);
    assert!(v["daemon"].is_null());
    assert!(
        v["daemon_error"].as_str().unwrap().starts_with("connect: "),
        "{v}"
    );

    // The address (and the record) from a configuration file.
    let cfg = dir.0.join("status.toml");
    std::fs::write(
        &cfg,
        format!("[shm]\npath = \"{shm_arg}\"\n[http]\nlisten = \"{addr}\"\n"),
    )
    .unwrap();
    let o = status_may_sign(&[
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "--http-timeout-ms",
        "5000",
    ]);
    let v = json_of(&o);
    assert_eq!(v["shm"], shm_arg);
    assert_eq!(v["http"], addr.as_str());
    assert_eq!(v["daemon"]["pid"], pid, "{v}");

    // Stopped: the closed record says UNKNOWN and exit 1; the gone page is only noted.
    let ok = Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let code = wait_for(Duration::from_secs(10), || d.child.try_wait().unwrap())
        .expect("daemon did not stop");
    assert_eq!(code.code(), Some(0));
    let o = status(&["--json", "--shm", shm_arg, "--http", &addr]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json_of(&o);
    assert_eq!(v["state"], "UNKNOWN");
    assert_eq!(v["may_sign"], false);
    assert_eq!(v["closed"], true);
    assert_eq!(v["reason"], "writer has gone");
    assert!(
        v["offset_ns"].is_null() && v["error_bound_ns"].is_null(),
        "{v}"
    );
    assert!(v["daemon"].is_null());
    let o = status(&["--shm", shm_arg, "--no-http"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("may not sign: writer has gone"), "{out}");
    assert!(out.contains("closed (the daemon stopped)"), "{out}");
}

#[test]
fn missing_garbage_and_bad_arguments_exit_2_with_a_clear_message() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("ppsd-st-bad");
    let missing = dir.0.join("nothing-here");
    let o = status(&["--shm", missing.to_str().unwrap(), "--no-http"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nothing-here") && err.contains("no such file"),
        "{err}"
    );
    assert!(o.stdout.is_empty());

    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("garbage", b"GARBAGE!".repeat(100), "not a ppsd state file"),
        ("empty", Vec::new(), "empty file"),
        ("short", b"xy".to_vec(), "too short"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.0.join(name);
        std::fs::write(&p, &bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        for json in [false, true] {
            let mut args = vec!["--shm", p.to_str().unwrap(), "--no-http"];
            if json {
                args.push("--json");
            }
            let o = status(&args);
            assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(name) && err.contains(want), "{name}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }

    let o = status(&["--shm", missing.to_str().unwrap(), "--http", "localhost"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--http: needs ADDR:PORT"));

    let cfg = dir.0.join("bad.toml");
    std::fs::write(&cfg, "[http]\nlisten = \"nowhere\"\n").unwrap();
    let o = status(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml:2") && err.contains("http.listen"),
        "{err}"
    );
}

//! `ppsd check-config`, `ppsd status` and the refusals of `ppsd run` on real devices, as a
//! user meets them. The real-mode runs here stop before any clock write: a device path that
//! does not exist fails at open, and a process without CAP_SYS_TIME is refused before it opens
//! anything. No test writes the host clock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ppsd");

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ppsd-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ppsd(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_config_prints_the_effective_config_or_one_error_line() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/ppsd.toml");
    let out = ppsd(&["check-config", shipped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("declared_accuracy_ns = 1000000"),
        "{printed}"
    );
    assert!(text(&out.stderr).contains("warning: no [[reference]]"));

    let dir = temp_dir("check");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[pps]\ndevice = \"/dev/pps1\"\n\n[trust]\ndeclared_accuracy_ns = 2e9\n",
    )
    .unwrap();
    let out = ppsd(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "{}:5: trust.declared_accuracy_ns: invalid type",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_without_a_daemon_says_where_it_looked() {
    let out = ppsd(&["status", "--shm", "/nonexistent/ppsd/state"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/ppsd/state"));
}

/// A configuration whose files all live in `dir` and whose device does not exist.
fn real_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("ppsd.toml");
    let text = format!(
        "[pps]\ndevice = \"{d}/no-such-pps\"\n[shm]\npath = \"{d}/state\"\n\
         [runtime]\nlock_file = \"{d}/ppsd.lock\"\ncpu_dma_latency = false\n",
        d = dir.display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn has_cap_sys_time() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap();
    caps & (1 << 25) != 0
}

#[test]
fn real_mode_with_a_missing_device_fails_before_touching_the_clock() {
    if !has_cap_sys_time() {
        eprintln!("skipped: needs CAP_SYS_TIME to get past the capability check");
        return;
    }
    let dir = temp_dir("nodev");
    let cfg = real_config(&dir);
    let out = ppsd(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no-such-pps: open: No such file or directory"),
        "{err}"
    );
    assert!(
        !dir.join("state").exists(),
        "no record before the device opened"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn real_mode_without_cap_sys_time_is_refused_in_one_line() {
    let dir = temp_dir("nocap");
    let cfg = real_config(&dir);
    let mut cmd = if has_cap_sys_time() {
        // Run as nobody with no capabilities at all.
        let ok = Command::new("setpriv").arg("--version").output().is_ok();
        if !ok {
            eprintln!("skipped: setpriv not installed");
            return;
        }
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("needs CAP_SYS_TIME"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_outside_the_source_tree_uses_the_built_in_scenario_and_bad_ones_are_refused() {
    let dir = temp_dir("sim");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "duration_s = 100\n[clock]\nfreq_ppm = 5000\n").unwrap();
    let out = ppsd(&[
        "run",
        "--simulate",
        bad.to_str().unwrap(),
        "--shm",
        "/nonexistent/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:3: clock.freq_ppm: must be between"),
        "{err}"
    );
    // From a directory without scenarios/, the default scenario is the built-in copy: it
    // starts (and is stopped at once by a missing record directory it cannot create).
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args(["run", "--simulate", "--shm", "/proc/ppsd-no/state"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("/proc/ppsd-no: cannot create directory"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

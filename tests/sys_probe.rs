//! `ppsd probe` on bad input, run as the built binary: each case gives one line on stderr
//! naming the path (or option) and the cause, a non-zero exit code, and no panic.

use std::path::PathBuf;
use std::process::{Command, Output};

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ppsd"))
        .arg("probe")
        .args(args)
        .output()
        .expect("run ppsd")
}

/// Asserts exit `code`, nothing on stdout, and exactly `line` on stderr.
fn assert_fails(out: &Output, code: i32, line: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr, format!("{line}\n"));
}

#[test]
fn nonexistent_path() {
    assert_fails(
        &probe(&["/dev/nonexistent"]),
        2,
        "ppsd probe: /dev/nonexistent: open: No such file or directory (os error 2)",
    );
}

#[test]
fn dev_null_is_not_a_pps_device() {
    assert_fails(
        &probe(&["/dev/null"]),
        2,
        "ppsd probe: /dev/null: PPS_GETCAP: not a PPS device (ENOTTY: Inappropriate ioctl for device)",
    );
}

#[test]
fn regular_file() {
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("probe-regular-{}", std::process::id()));
    std::fs::write(&file, b"not a device").unwrap();
    let out = probe(&[file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_fails(
        &out,
        2,
        &format!(
            "ppsd probe: {}: open: not a PPS device: a regular file",
            file.display()
        ),
    );
}

#[test]
fn directory() {
    assert_fails(
        &probe(&["/tmp"]),
        2,
        "ppsd probe: /tmp: open: not a PPS device: a directory",
    );
}

#[test]
fn bad_options_are_usage_errors() {
    for (args, needle) in [
        (
            &["/dev/pps0", "--timeout", "0"][..],
            "0 s is outside 0 < SECS <= 3600",
        ),
        (
            &["/dev/pps0", "--timeout", "soon"][..],
            "`soon` is not a number of seconds",
        ),
        (&["/dev/pps0", "--count", "0"][..], "--count <COUNT>"),
        (&["/dev/pps0", "--edge", "rising"][..], "--edge <EDGE>"),
        (&[][..], "<DEVICE>"),
    ] {
        let out = probe(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

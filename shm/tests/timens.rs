//! Time namespaces: a reader whose CLOCK_MONOTONIC is offset from the writer's must refuse
//! (it would misjudge `valid_until`). Runs `ppsd-shm-check` inside namespaces made with
//! `unshare -T --fork --monotonic N` (util-linux, root, a kernel with CONFIG_TIME_NS). Set
//! PPSD_SHM_SKIP_TIMENS=1 to skip on a host without them.

mod common;

use common::{insync_for, publish_and_leave, ScratchDir};
use std::path::Path;
use std::process::{Command, Output};

const CHECK: &str = env!("CARGO_BIN_EXE_ppsd-shm-check");

fn check_in_namespace(offset_s: Option<i64>, path: &Path) -> Output {
    let mut cmd = match offset_s {
        None => Command::new(CHECK),
        Some(offset) => {
            let mut c = Command::new("unshare");
            c.args(["-T", "--fork", "--monotonic", &offset.to_string(), CHECK]);
            c
        }
    };
    cmd.arg(path)
        .output()
        .expect("run ppsd-shm-check (is unshare installed?)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn reader_in_a_shifted_time_namespace_refuses() {
    if std::env::var_os("PPSD_SHM_SKIP_TIMENS").is_some() {
        println!("skipped: PPSD_SHM_SKIP_TIMENS is set");
        return;
    }
    let dir = ScratchDir::new("timens");
    let path = dir.path("state");
    publish_and_leave(&path, &insync_for(8_000_000_000));

    let home = check_in_namespace(None, &path);
    assert_eq!(home.status.code(), Some(0), "{}", text(&home));
    assert!(
        text(&home).starts_with("may sign: INSYNC"),
        "{}",
        text(&home)
    );

    let uptime_s = ppsd_shm::monotonic_ns() / 1_000_000_000;
    let mut offsets = vec![1000];
    if uptime_s > 120 {
        // Behind the writer: the dangerous direction, where expiry would come too late.
        offsets.push(-60);
    }
    for offset in offsets {
        let out = check_in_namespace(Some(offset), &path);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "offset {offset}: {t}");
        assert!(
            t.contains("not signing: reader's monotonic clock differs from the writer's"),
            "offset {offset}: {t}"
        );
    }
}

//! A record file truncated under a reader's mapping (`harness = false`: the checks run in child
//! processes, since one of them is expected to die). Without the SIGBUS guard the reader is
//! killed by SIGBUS on its next check; with `install_sigbus_guard()` the check refuses with
//! `FileShrunk` and the process lives; a SIGBUS outside the reader's mappings (here: the
//! writer's own mapping) still gets the default action.

mod common;

use common::{insync_for, publish_and_leave, ScratchDir};
use ppsd_shm::{install_sigbus_guard, Reader, Reason, Writer};
use std::fs::OpenOptions;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

fn truncate(path: &str) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for truncation");
    file.set_len(0).expect("truncate");
}

fn child(mode: &str, path: &str) {
    match mode {
        "guard" | "noguard" => {
            if mode == "guard" {
                install_sigbus_guard().expect("install guard");
            }
            let mut reader = Reader::open(path).expect("open record");
            println!(
                "before={}",
                if reader.check().may_sign {
                    "may sign"
                } else {
                    "refused"
                }
            );
            truncate(path);
            let v = reader.check();
            println!(
                "after={} reason={}",
                v.may_sign,
                v.reason.map_or("none", Reason::describe)
            );
            println!("snapshot={:?}", reader.snapshot().err());
        }
        "foreign" => {
            install_sigbus_guard().expect("install guard");
            let mut writer = Writer::create(path).expect("create record");
            truncate(path);
            println!("publishing into a truncated writer mapping");
            writer.publish(&insync_for(1_000_000_000));
            println!("survived");
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn run_child(mode: &str, path: &std::path::Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--child", mode, path.to_str().expect("utf-8 path")])
        .output()
        .expect("spawn child");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn parent() -> (u32, u32) {
    let dir = ScratchDir::new("shrink");
    let (mut passed, mut failed) = (0, 0);
    let mut verdict = |name: &str, ok: bool, detail: &str| {
        println!("shrink: {name} ... {}", if ok { "ok" } else { "FAILED" });
        if ok {
            passed += 1;
        } else {
            failed += 1;
            println!("{detail}");
        }
    };

    let guarded = dir.path("guarded");
    publish_and_leave(&guarded, &insync_for(9_000_000_000));
    let (status, out) = run_child("guard", &guarded);
    let ok = status.success()
        && out.contains("before=may sign")
        && out.contains("after=false reason=record file truncated under the mapping")
        && out.contains("snapshot=Some(Unknown)");
    verdict(
        "guarded reader refuses and lives",
        ok,
        &format!("{status}\n{out}"),
    );

    let unguarded = dir.path("unguarded");
    publish_and_leave(&unguarded, &insync_for(9_000_000_000));
    let (status, out) = run_child("noguard", &unguarded);
    let ok = status.signal() == Some(libc::SIGBUS) && out.contains("before=may sign");
    verdict(
        "unguarded reader dies of SIGBUS",
        ok,
        &format!("{status}\n{out}"),
    );

    let (status, out) = run_child("foreign", &dir.path("foreign"));
    let ok = status.signal() == Some(libc::SIGBUS) && !out.contains("survived");
    verdict(
        "foreign SIGBUS is not swallowed",
        ok,
        &format!("{status}\n{out}"),
    );
    (passed, failed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1], &args[2]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("shrink: test");
        return;
    }
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !a.contains("shrink"))
    {
        println!("shrink: skipped (filtered out)");
        return;
    }
    let (passed, failed) = parent();
    println!("shrink: {passed} passed, {failed} failed");
    std::process::exit(i32::from(failed > 0));
}

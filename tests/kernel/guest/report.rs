//! Result lines of the guest helper, the only thing the host reads from the results port.
//!
//! `CHECK name PASS detail`, `CHECK name FAIL detail`, `MEASURE name value unit`, one per
//! line on stdout, flushed as they happen so a guest that hangs still shows how far it got.
//! The host (`tests/kernel/run`) fails the scenario on any FAIL and on any expected check that
//! never printed PASS; this module must never print PASS for something it did not check.

use std::fmt::Display;
use std::process::ExitCode;

/// Collects the outcome of the checks while printing them.
#[derive(Debug, Default)]
pub struct Report {
    failed: usize,
}

impl Report {
    /// An empty report.
    pub fn new() -> Report {
        Report::default()
    }

    /// Prints the outcome of check `name`: `Ok(detail)` passes, `Err(why)` fails.
    pub fn check(&mut self, name: &str, outcome: Result<String, String>) {
        match outcome {
            Ok(detail) => println!("CHECK {name} PASS {}", one_line(&detail)),
            Err(why) => {
                self.failed += 1;
                println!("CHECK {name} FAIL {}", one_line(&why));
            }
        }
    }

    /// Prints a measured figure.
    pub fn measure(&mut self, name: &str, value: impl Display, unit: &str) {
        println!("MEASURE {name} {value} {unit}");
    }

    /// Prints a remark that is neither a check nor a figure.
    pub fn note(&mut self, text: &str) {
        println!("NOTE {}", one_line(text));
    }

    /// Exit code: 0 when no check failed.
    pub fn exit_code(&self) -> ExitCode {
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// `text` with line breaks turned into spaces, so one outcome stays one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Fails with `what` unless `cond` holds; for `?` chains inside checks.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// Nanoseconds as microseconds with one decimal, for details (`123.4 µs`).
pub fn us(ns: i64) -> String {
    format!("{:.1} µs", ns as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_stay_on_one_line_and_failures_are_counted() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
        let mut r = Report::new();
        r.check("x", Ok("fine".into()));
        assert_eq!(r.failed, 0);
        r.check("y", Err("broken".into()));
        assert_eq!(r.failed, 1);
        assert_eq!(ensure(true, || "no".into()), Ok(()));
        assert_eq!(ensure(false, || "no".into()), Err("no".into()));
        assert_eq!(us(12_345), "12.3 µs");
    }
}

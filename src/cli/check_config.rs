//! `ppsd check-config FILE`: validates a configuration file and prints the effective
//! configuration (every key, defaults filled in) as TOML, followed by warnings about settings
//! that are valid but will not give a usable service. Exit codes: 0 valid, 2 invalid (one line
//! `FILE:LINE: KEY: reason` on standard error). Reads nothing but the file.

use std::process::ExitCode;

use crate::config::{self, Config};

/// Arguments of `ppsd check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file.
    pub file: std::path::PathBuf,
}

/// Warnings about a valid configuration.
pub fn warnings(cfg: &Config) -> Vec<String> {
    let mut w = Vec::new();
    if cfg.reference.is_empty() {
        w.push("no [[reference]]: the seconds cannot be verified, the state stays UNKNOWN".into());
    }
    // No NTS reference; a gpsd reference without its own verification tolerance.
    w.extend(config::verify::warnings(cfg, false));
    if cfg.leap.file.as_os_str().is_empty() {
        w.push("leap.file is empty: leap seconds known only from the references".into());
    }
    if cfg.servo.allow_step_after_trust {
        w.push("servo.allow_step_after_trust = true: the clock may jump while trusted".into());
    }
    w
}

/// Runs `ppsd check-config`.
pub fn run(args: &Args) -> ExitCode {
    match config::load(&args.file) {
        Ok(cfg) => {
            print!(
                "# effective configuration of {}\n{}",
                args.file.display(),
                cfg.to_toml()
            );
            for w in warnings(&cfg) {
                eprintln!("ppsd check-config: warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

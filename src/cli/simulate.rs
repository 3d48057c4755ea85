//! `ppsd simulate`: runs a scenario in the simulated world with a chosen servo and prints the
//! report (JSON or text), optionally writing the per-second trace CSV.
//!
//! Exit codes: 0 done, 2 bad input (scenario, servo name), 1 the trace could not be written.
//! Errors are one line on stderr. It never touches the host's clock.

use std::io::Write;
use std::process::ExitCode;

use crate::engine::servo;
use crate::sim::{run, scenario};

/// Report formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object.
    #[default]
    Json,
    /// `key: value` lines.
    Text,
}

/// Arguments of `ppsd simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (TOML; keys in scenarios/README.md).
    #[arg(long)]
    pub scenario: std::path::PathBuf,
    /// Servo to drive the clock with: `kalman` (ppsd's own) or `pi` (the baseline).
    #[arg(long, default_value = "kalman")]
    pub servo: String,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub report: Format,
    /// Write one CSV row per simulated second to this file.
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Runs `ppsd simulate`.
pub fn run(args: &Args) -> ExitCode {
    let mut sc = match scenario::load(&args.scenario) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    let Some(servo) = servo::by_name(&args.servo) else {
        let known = servo::SERVO_NAMES.join(", ");
        eprintln!("--servo: unknown servo {:?} (known: {known})", args.servo);
        return ExitCode::from(2);
    };
    let result = match &args.trace {
        None => run::run(&sc, servo, None),
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => {
                let mut w = std::io::BufWriter::new(f);
                run::run(&sc, servo, Some(&mut w))
            }
            Err(e) => Err(e),
        },
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let path = args.trace.as_deref().unwrap_or(std::path::Path::new("-"));
            eprintln!("{}: cannot write trace: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    let text = match args.report {
        Format::Json => serde_json::to_string_pretty(&report).map(|s| s + "\n"),
        Format::Text => Ok(report.to_text()),
    };
    match text.map(|t| std::io::stdout().write_all(t.as_bytes())) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

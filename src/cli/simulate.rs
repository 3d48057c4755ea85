//! `ppsd simulate`: runs a scenario in the simulated world. Placeholder until the simulator lands.

use std::process::ExitCode;

/// Arguments of `ppsd simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (TOML).
    #[arg(long)]
    pub scenario: std::path::PathBuf,
}

/// Runs `ppsd simulate`.
pub fn run(args: &Args) -> ExitCode {
    eprintln!("{}: simulate: not implemented yet", args.scenario.display());
    ExitCode::from(1)
}

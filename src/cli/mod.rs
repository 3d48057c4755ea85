//! Command-line interface: the `ppsd` subcommands and their dispatch.
//!
//! Each subcommand lives in its own file and returns an exit code; nothing here panics on bad
//! input. Exit codes: 0 success, 1 runtime failure (device, clock), 2 bad input (arguments,
//! files), as `clap` uses 2 for usage errors.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod check_config;
pub mod check_leap;
pub mod probe;
pub mod run;
pub mod simulate;
pub mod status;

/// ppsd: PPS-disciplined clock and trust state for time-stamp authorities.
#[derive(Debug, Parser)]
#[command(name = "ppsd", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: discipline the clock and publish its trust state.
    Run(run::Args),
    /// Print the state a running daemon publishes.
    Status(status::Args),
    /// Validate a configuration file and print the effective configuration.
    CheckConfig(check_config::Args),
    /// Run a scenario in the simulated world and report accuracy and trust figures.
    Simulate(simulate::Args),
    /// Open a PPS device, print its capabilities, then each pulse.
    Probe(probe::Args),
    /// Check a leap-seconds.list file: TAI-UTC, last and next leap, expiry, hash.
    CheckLeap(check_leap::Args),
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Probe(args) => probe::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::CheckLeap(args) => check_leap::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::CheckConfig(args) => check_config::run(&args),
    }
}

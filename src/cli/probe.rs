//! `ppsd probe DEVICE`: prints a PPS device's capabilities and then each pulse.
//!
//! Placeholder until the sys layer lands; it must never change a device setting unless asked.

use std::process::ExitCode;

/// Arguments of `ppsd probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// PPS device, e.g. /dev/pps0.
    pub device: std::path::PathBuf,
}

/// Runs `ppsd probe`.
pub fn run(args: &Args) -> ExitCode {
    eprintln!("{}: probe: not implemented yet", args.device.display());
    ExitCode::from(1)
}

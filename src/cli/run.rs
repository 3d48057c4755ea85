//! `ppsd run [--config FILE] [--simulate [SCENARIO]] [--shm PATH] [--listen ADDR:PORT]`: the
//! daemon, on the configured PPS device and CLOCK_REALTIME, or on the simulated world.
//!
//! With `--simulate` (default scenario `scenarios/clean-lab.toml`) ppsd runs in real time
//! against a simulated clock, pulse source and reference: no device, no privileges, and the
//! host's clock is never adjusted; the configuration file is optional, and the record goes to
//! a path of its own (printed at start), never the production one. Without it, ppsd needs
//! CAP_SYS_TIME and says so in one line if it lacks it. Exit codes: 0 stopped by SIGTERM or
//! SIGINT, 1 could not start or had to stop, 2 bad configuration, scenario or arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, Config};
use crate::daemon::{self, Options};
use crate::publish::log as evlog;
use crate::sim::scenario;

/// The scenario `--simulate` runs when given no file.
pub const DEFAULT_SCENARIO: &str = "scenarios/clean-lab.toml";

/// The default scenario, built in for when `scenarios/` is not at hand.
const BUILT_IN: &str = include_str!("../../scenarios/clean-lab.toml");
const BUILT_IN_NAME: &str = "clean-lab.toml (built in)";

/// Arguments of `ppsd run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (optional with --simulate).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run on the simulated world of SCENARIO in real time instead of a PPS device and the
    /// host's clock (default scenarios/clean-lab.toml).
    #[arg(long, value_name = "SCENARIO", num_args = 0..=1,
        default_missing_value = DEFAULT_SCENARIO)]
    pub simulate: Option<PathBuf>,
    /// Shared-memory record to publish (overrides shm.path).
    #[arg(long, value_name = "PATH")]
    pub shm: Option<PathBuf>,
    /// HTTP listen address (overrides http.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
}

/// Runs `ppsd run`.
pub fn run(args: &Args) -> ExitCode {
    let opts = match options(args) {
        Ok(o) => o,
        Err((code, msg)) => {
            eprintln!("{msg}");
            return ExitCode::from(code);
        }
    };
    evlog::init(opts.config.log.format, opts.config.log.level);
    if let Some(sc) = &opts.scenario {
        eprintln!(
            "ppsd: simulated world {} in real time (the host clock is not touched); \
             state published at {} (watch it: ppsd status --shm {})",
            sc.path,
            opts.shm_path.display(),
            opts.shm_path.display()
        );
    }
    match daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn options(args: &Args) -> Result<Options, (u8, String)> {
    let simulate = args.simulate.is_some();
    let (mut cfg, config_path) = match &args.config {
        Some(p) => (
            config::load(p).map_err(|e| (2, e.to_string()))?,
            Some(p.clone()),
        ),
        None if simulate && !Path::new(config::DEFAULT_PATH).exists() => (Config::default(), None),
        None => {
            let p = PathBuf::from(config::DEFAULT_PATH);
            (config::load(&p).map_err(|e| (2, e.to_string()))?, Some(p))
        }
    };
    if let Some(listen) = &args.listen {
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err((2, format!("--listen: needs ADDR:PORT, got {listen:?}")));
        }
        cfg.http.listen.clone_from(listen);
    }
    let scenario = match &args.simulate {
        // Outside a source tree (an installed package), the default is the built-in copy.
        Some(p) if p == Path::new(DEFAULT_SCENARIO) && !p.exists() => {
            Some(scenario::parse(BUILT_IN_NAME, BUILT_IN).map_err(|e| (2, e.to_string()))?)
        }
        Some(p) => Some(scenario::load(p).map_err(|e| (2, e.to_string()))?),
        None => None,
    };
    let shm_path = match (&args.shm, simulate) {
        (Some(p), _) => p.clone(),
        (None, true) => daemon::simulate_shm_default(),
        (None, false) => cfg.shm.path.clone(),
    };
    let lock_path = match (cfg.runtime.lock_file.as_os_str().is_empty(), simulate) {
        (false, _) => cfg.runtime.lock_file.clone(),
        (true, true) => {
            let mut name = shm_path.clone().into_os_string();
            name.push(".lock");
            PathBuf::from(name)
        }
        (true, false) => PathBuf::from(daemon::DEFAULT_LOCK),
    };
    let ledger_path = match (cfg.runtime.ledger_file.as_os_str().is_empty(), simulate) {
        (false, _) => cfg.runtime.ledger_file.clone(),
        (true, true) => {
            let mut name = shm_path.clone().into_os_string();
            name.push(".ledger.jsonl");
            PathBuf::from(name)
        }
        (true, false) => PathBuf::from(daemon::DEFAULT_LEDGER),
    };
    daemon::prepare_dir(&shm_path).map_err(|e| (1, e))?;
    Ok(Options {
        config: cfg,
        config_path,
        scenario,
        shm_path,
        lock_path,
        ledger_path,
    })
}

//! `ppsd status [--json] [--shm PATH] [--http ADDR:PORT | --config FILE]`: reads the record a
//! running daemon publishes, with the same reader library signers use, and, when the daemon's
//! HTTP address is known, asks its `/status` page for what only the daemon knows (servo,
//! last-pulse age, uptime, counters). Prints aligned text, or one JSON object with `--json`
//! (keys in docs/status.md).
//!
//! Exit codes: 0 a signer may sign now, 1 it may not, 2 the record cannot be opened or the
//! arguments are bad. The verdict comes from the record alone: an unreachable daemon page is
//! noted, never an error and never a reason to say more than the record does. Never writes
//! anything, never waits on the network longer than `--http-timeout-ms` per phase.

mod http;
pub mod report;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config;
use report::{Daemon, Report};

/// Arguments of `ppsd status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The record the daemon publishes (default: shm.path of the configuration, else
    /// /run/ppsd/state).
    #[arg(long, value_name = "PATH")]
    pub shm: Option<PathBuf>,
    /// The daemon's HTTP address to ask for /status (default: http.listen of the
    /// configuration).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<String>,
    /// Configuration file to take shm.path and http.listen from (default /etc/ppsd/ppsd.toml
    /// when it exists).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not ask the daemon's /status, only read the record.
    #[arg(long, conflicts_with = "http")]
    pub no_http: bool,
    /// How long to wait for the daemon's HTTP connection, and then for its answer, ms.
    #[arg(long, value_name = "MS", default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub http_timeout_ms: u64,
}

/// Where to read and whom to ask, from the arguments and the configuration file.
struct Plan {
    shm: PathBuf,
    http: Result<SocketAddr, String>,
}

/// The address to connect to for a listen address: an unspecified one (0.0.0.0, ::) is
/// reached on loopback.
fn connect_addr(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), a.port())
        }
        _ => a,
    }
}

fn plan(args: &Args) -> Result<Plan, String> {
    let http_flag = match &args.http {
        Some(h) => Some(
            h.parse::<SocketAddr>()
                .map_err(|_| format!("--http: needs ADDR:PORT, got {h:?}"))?,
        ),
        None => None,
    };
    // An explicit configuration must load; the default one is used only when it loads (an
    // unprivileged user may not read it) and otherwise noted.
    let (cfg, cfg_note) = match &args.config {
        Some(p) => (Some(config::load(p).map_err(|e| e.to_string())?), None),
        None if Path::new(config::DEFAULT_PATH).exists() => {
            match config::load(Path::new(config::DEFAULT_PATH)) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
        None => (None, None),
    };
    let shm = match (&args.shm, &cfg) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c.shm.path.clone(),
        (None, None) => PathBuf::from(ppsd_shm::DEFAULT_PATH),
    };
    let http = if args.no_http {
        Err("--no-http".to_string())
    } else if let Some(a) = http_flag {
        Ok(a)
    } else {
        match (&cfg, cfg_note) {
            (Some(c), _) if !c.http.listen.is_empty() => c
                .http
                .listen
                .parse::<SocketAddr>()
                .map_err(|_| format!("http.listen {:?} is not ADDR:PORT", c.http.listen)),
            (Some(_), _) => Err("http.listen is not set".to_string()),
            (None, Some(note)) => Err(format!("configuration not read: {note}")),
            (None, None) => Err(format!(
                "no address: give --http ADDR:PORT, or --config FILE with http.listen; \
                 {} does not exist",
                config::DEFAULT_PATH
            )),
        }
    };
    Ok(Plan {
        shm,
        http: http.map(connect_addr),
    })
}

/// The `/status` document if it comes from the daemon that wrote the record (same pid), so a
/// page from another instance is never merged with this record.
fn same_daemon(
    doc: serde_json::Value,
    writer_pid: Option<u32>,
) -> Result<serde_json::Value, String> {
    match (doc["pid"].as_u64(), writer_pid) {
        (Some(p), Some(w)) if p != u64::from(w) => Err(format!(
            "answered by pid {p}, but the record was written by pid {w}; its page is not shown"
        )),
        _ => Ok(doc),
    }
}

/// Runs `ppsd status`.
pub fn run(args: &Args) -> ExitCode {
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ppsd status: {e}");
            return ExitCode::from(2);
        }
    };
    let mut reader = match ppsd_shm::Reader::open(&plan.shm) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ppsd status: {e} (is ppsd running? `ppsd run --simulate` prints its path)");
            return ExitCode::from(2);
        }
    };
    let verdict = reader.check();
    let snapshot = reader.snapshot();
    let now_mono_ns = ppsd_shm::monotonic_ns();
    // The record is read first, so a slow daemon page cannot age what it says.
    let daemon = match plan.http {
        Err(why) => Daemon::NotAsked(why),
        Ok(addr) => {
            let timeout = Duration::from_millis(args.http_timeout_ms);
            let writer_pid = snapshot.as_ref().ok().map(|s| s.writer_pid);
            match http::get_json(addr, "/status", timeout)
                .and_then(|doc| same_daemon(doc, writer_pid))
            {
                Ok(doc) => Daemon::Answered { addr, doc },
                Err(error) => Daemon::Unreachable { addr, error },
            }
        }
    };
    let report = Report {
        shm: &plan.shm,
        verdict,
        snapshot,
        now_mono_ns,
        daemon,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if verdict.may_sign {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_are_reached_on_loopback() {
        let a = |s: &str| connect_addr(s.parse().unwrap()).to_string();
        assert_eq!(a("0.0.0.0:9123"), "127.0.0.1:9123");
        assert_eq!(a("[::]:9123"), "[::1]:9123");
        assert_eq!(a("127.0.0.2:80"), "127.0.0.2:80");
    }

    #[test]
    fn a_page_from_another_daemon_is_not_merged() {
        let doc = serde_json::json!({"pid": 7});
        assert!(same_daemon(doc.clone(), Some(7)).is_ok());
        assert!(same_daemon(doc.clone(), None).is_ok());
        let e = same_daemon(doc, Some(8)).unwrap_err();
        assert!(e.contains("pid 7") && e.contains("pid 8"), "{e}");
    }
}

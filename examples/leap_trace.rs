//! Prints the leap trace of a scenario: per true second from 5 s before each simulated leap
//! second to 12 s after it, the true offset, published state and bound, the leap state and
//! leap window as the shm record holds them, and the kernel clock state.
//!
//! `cargo run --release --example leap_trace -- scenarios/leap.toml [SEED]`

use ppsd::engine::{servo, EngineEvent};
use ppsd::sim::fault::{FaultSchedule, Utc};
use ppsd::sim::leaptrace::LeapTrace;
use ppsd::sim::{run, scenario};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: leap_trace SCENARIO.toml [SEED]");
        std::process::exit(2);
    };
    let mut sc = match scenario::load(std::path::Path::new(&path)) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("leap_trace: {e}");
            std::process::exit(2);
        }
    };
    if let Some(seed) = args.next() {
        match seed.parse() {
            Ok(s) => sc.seed = s,
            Err(_) => {
                eprintln!("leap_trace: SEED must be an unsigned integer, got {seed:?}");
                std::process::exit(2);
            }
        }
    }
    let Some(kalman) = servo::by_name("kalman") else {
        eprintln!("leap_trace: no kalman servo");
        std::process::exit(2);
    };
    match run::run_with_leap_trace(&sc, kalman, LeapTrace::default()) {
        Ok((report, trace)) => {
            println!(
                "{} seed {}: false_insync_s {}, bound_violation_s {}\n",
                path, sc.seed, report.false_insync_s, report.bound_violation_s
            );
            print!("{}", trace.to_markdown());
            let utc = Utc::new(sc.start_unix_ns, &FaultSchedule::new(sc.faults.clone()));
            let Some(leap) = utc.leaps().first() else {
                return;
            };
            println!("\nLeap events (true time from the instant UTC reaches the day's end):\n");
            for (tau, e) in trace.events() {
                let dt = (*tau - leap.day_end_ns) as f64 / 1e9;
                match e {
                    EngineEvent::LeapVerified {
                        leap,
                        trail,
                        as_expected,
                    } => println!(
                        "- {dt:+.6} s: LeapVerified {{ leap: {leap:?}, states: {trail}, as_expected: {as_expected} }}"
                    ),
                    EngineEvent::LeapNotApplied { leap, trail, .. } => {
                        println!("- {dt:+.6} s: LeapNotApplied {{ leap: {leap:?}, states: {trail} }}")
                    }
                    _ => println!("- {dt:+.6} s: {e:?}"),
                }
            }
        }
        Err(e) => {
            eprintln!("leap_trace: {e}");
            std::process::exit(1);
        }
    }
}

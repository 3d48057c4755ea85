//! The simulated world: a seeded, deterministic stand-in for the kernel clock, the PPS device,
//! the time-of-day reference and the faults between them, with its own ground truth, driven like
//! the daemon drives the real thing.
//!
//! The engine sees only what a daemon would see (kernel PPS timestamps read from its own clock,
//! adjtimex answers, reference readings, clock-change notices). Ground truth is computed here,
//! never by the engine. Absolute instants are integer ns; only small differences are `f64`.
//! Nothing here touches the host's clocks.

pub mod clock;
pub mod fault;
pub mod leaptrace;
pub mod limit;
pub mod oscillator;
pub mod pps;
pub mod report;
pub mod run;
pub mod scenario;
pub mod second;
pub mod tod;

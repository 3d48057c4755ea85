//! ppsd: disciplines CLOCK_REALTIME to a pulse-per-second reference and publishes, at every
//! instant, whether the clock may be trusted by a time-stamp authority.
//!
//! Layering (see `docs/architecture.md`): [`sys`] is the only module that touches the kernel
//! and the only one allowed `unsafe`; [`io`] is the seam of traits that `sys` and [`sim`]
//! implement; [`engine`] is the sans-IO core that turns pulses into clock actions and trust
//! state; [`cli`] holds the subcommands.

#![deny(unsafe_code)]

pub mod apply;
pub mod cli;
pub mod engine;
pub mod io;
pub mod publish;
pub mod reference;
pub mod sim;
#[allow(unsafe_code)]
pub mod sys;
pub mod time;

//! Publishers: where the engine's trust state and events go. [`shm`] writes the record signers
//! read (ppsd-shm); [`log`] writes the structured event log.
//!
//! Publishers only report what the engine decided; they never decide trust themselves, never
//! touch a clock, and never block the clock thread for long (the shm write is a few stores).

pub mod log;
pub mod shm;

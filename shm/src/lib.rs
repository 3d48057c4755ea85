//! ppsd-shm: the shared-memory record in which ppsd publishes the clock's trust state, and the
//! lock-free reader that time-stamp signers call before every signature.
//!
//! This crate is a skeleton until its own issue fills it: it defines nothing a signer could
//! mistake for a working reader. It must never depend on the daemon crate.

/// Layout version of the shared-memory record this crate will read. Version 0 means "no layout
/// defined yet"; readers must refuse a record whose version they do not know.
pub const LAYOUT_VERSION: u32 = 0;

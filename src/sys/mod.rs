//! Kernel interfaces: the only module of the `ppsd` crate that uses `unsafe`.
//!
//! Placeholder until the sys layer lands.

//! Publishers: the I/O side of what the engine produces. [`ledger`] appends the untrusted
//! intervals to a file that survives crashes and power loss as far as the filesystem allows.
//!
//! Publishers write what the engine decided; they never decide anything about trust
//! themselves, and a failing publisher never changes the engine's state.

pub mod ledger;

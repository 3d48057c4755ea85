//! The sans-IO engine. Placeholder until the simulator issue defines its interface.

pub mod leap;

//! The simulated world. Placeholder until the simulator issue lands.

//! Widgets the dashboard draws with.

pub mod halfblock;
pub mod probabilities;

//! Widgets the dashboard draws with.

pub mod halfblock;

//! Jobs: long work run off the caller's thread, reporting through channels, cancellable.

pub mod ablate;
pub mod train;

//! classgen: train MNIST classifiers, then turn them into generators.
//!
//! The library holds every job (data loading, training, evaluation) so that the headless CLI
//! and the dashboard drive the same code.

pub mod ablation;
pub mod analysis;
pub mod baselines;
pub mod classifier;
pub mod config;
pub mod data;
pub mod device;
pub mod fsutil;
pub mod inversion;
pub mod jobs;
pub mod limits;
pub mod linalg;
pub mod model;
pub mod runtime;
pub mod snapshot;
pub mod tui;
pub mod userfile;

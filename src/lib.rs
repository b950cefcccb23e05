//! classgen: train MNIST classifiers, then turn them into generators.
//!
//! Layers, each importing only those above it in this list:
//! - `data`, `fsutil`, `device`, `linalg`, `runtime`, `snapshot`: data sets, files, devices, maths;
//! - `model`, `baselines`, `classifier`, `analysis`, `ablation`, `inversion`, `explain`: the
//!   science;
//! - `config`: the typed `config.toml`;
//! - `runs`: the run store (run directories, data identity, checkpoints, result files);
//! - `jobs`: every long job on its own thread, with typed events and results;
//! - `gpucheck`: CPU-vs-GPU agreement and speed (`classgen gpu-check`);
//! - `text`: charts and table cells shared by the two consumers;
//! - `tui` (here) and the binary's `cli`: the dashboard and the headless commands.

pub mod ablation;
pub mod analysis;
pub mod baselines;
pub mod classifier;
pub mod config;
pub mod data;
pub mod device;
pub mod explain;
pub mod fsutil;
pub mod gpucheck;
pub mod inversion;
pub mod jobs;
pub mod limits;
pub mod linalg;
pub mod model;
pub mod runs;
pub mod runtime;
pub mod snapshot;
pub mod text;
pub mod tui;
pub mod userfile;

//! Checkpoints: `model.safetensors` (weights), `optimizer.safetensors` (Adam moments) and
//! `checkpoint.json` (architecture, data set, progress, metrics, seed, config), each written
//! atomically, the JSON last, so a checkpoint that has its JSON is complete.

use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::arch::ArchSpec;
use super::network::Network;
use super::train::{EpochMetrics, Position};
use crate::config::TrainConfig;
use crate::data::{Dataset, DatasetKind};
use crate::fsutil::write_atomic;

/// File names inside a run directory.
pub const WEIGHTS: &str = "model.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const META: &str = "checkpoint.json";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub arch: ArchSpec,
    pub params: usize,
    pub dataset: DatasetKind,
    pub origin: String,
    /// Where training stands: epochs done, and batches done in the next one.
    pub position: Position,
    pub adam_step: u64,
    pub config: TrainConfig,
    pub history: Vec<EpochMetrics>,
}

impl CheckpointMeta {
    /// The metadata of a run of `arch` on `data` with `config` that has not started yet.
    pub fn fresh(arch: &ArchSpec, data: &Dataset, config: &TrainConfig) -> Self {
        Self {
            arch: arch.clone(),
            params: arch.params(),
            dataset: data.kind,
            origin: data.origin.to_string(),
            position: Position::default(),
            adam_step: 0,
            config: config.clone(),
            history: Vec::new(),
        }
    }
}

fn save_tensors(
    map: &std::collections::HashMap<String, candle_core::Tensor>,
    path: &Path,
) -> anyhow::Result<()> {
    // candle writes directly to the path; write to a temp name and rename for atomicity.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    candle_core::safetensors::save(map, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Saves weights, optimizer state and metadata into `dir`.
pub fn save(
    dir: &Path,
    net: &Network,
    adam: &Adam,
    meta: &CheckpointMeta,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    save_tensors(&net.named_tensors(), &dir.join(WEIGHTS))?;
    save_tensors(&adam.state()?, &dir.join(OPTIMIZER))?;
    let json = serde_json::to_vec_pretty(meta)?;
    let path = dir.join(META);
    write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reads a checkpoint's metadata.
pub fn read_meta(dir: &Path) -> anyhow::Result<CheckpointMeta> {
    let path = dir.join(META);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("no checkpoint at {} (expected {META})", dir.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a classgen checkpoint", path.display()))
}

/// Loads a checkpoint's network onto `device`.
pub fn load_network(dir: &Path, device: &Device) -> anyhow::Result<(Network, CheckpointMeta)> {
    let meta = read_meta(dir)?;
    let mut net = Network::new(&meta.arch, 0, device)?;
    net.load_weights(&dir.join(WEIGHTS))?;
    Ok((net, meta))
}

/// Loads a checkpoint's network and optimizer to continue training.
pub fn load_for_resume(
    dir: &Path,
    device: &Device,
) -> anyhow::Result<(Network, Adam, CheckpointMeta)> {
    let (net, meta) = load_network(dir, device)?;
    let mut adam = Adam::new(net.vars().cloned().collect())?;
    let path = dir.join(OPTIMIZER);
    let state = super::network::read_safetensors(&path, device)?;
    adam.restore(&state, meta.adam_step)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((net, adam, meta))
}

/// The newest run directory under `runs` whose name ends in `-<kind>` and holds a checkpoint.
pub fn latest_run(runs: &Path, kind: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(META).is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(&format!("-{kind}")))
        })
        .collect();
    dirs.sort();
    dirs.pop()
}

//! Checkpoints of a training run, one generation at a time.
//!
//! A generation is a directory `checkpoints/<N>/` holding `model.safetensors` (weights) and
//! `optimizer.safetensors` (Adam's moments), written under a temporary name, fsynced and renamed
//! into place. `checkpoint.json` (architecture, recipe, data identity, progress) then commits it
//! by naming `N`, written atomically last; only after that are older generations removed. A
//! reader follows `checkpoint.json`, so it never mixes generations, and a half-written one
//! (a crash, a full disk, a kill mid-save) is ignored and reported.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::identity::DataIdentity;
use super::store::RunError;
use crate::config::{fits_batch, TrainConfig};
use crate::fsutil::{sync_dir, write_atomic};
use crate::model::adam::Adam;
use crate::model::train::TrainProgress;
use crate::model::{ArchSpec, Network};

/// The file that commits a generation.
pub const CHECKPOINT: &str = "checkpoint.json";
/// The folder of generations.
pub const GENERATIONS: &str = "checkpoints";
/// Files of a generation.
pub const WEIGHTS: &str = "model.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";

/// Test hook: with `CLASSGEN_TEST_PAUSE_SAVE=<step>@<N>` the save of generation N stops after
/// that step (`weights`, `optimizer`, `generation`, `meta`), says so on stderr and waits for
/// stdin to close, so a test can kill the process at that exact point.
const PAUSE_HOOK: &str = "CLASSGEN_TEST_PAUSE_SAVE";

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    pub arch: ArchSpec,
    pub params: usize,
    /// The recipe the run trains with (its epochs are the total to reach).
    pub recipe: TrainConfig,
    pub data: DataIdentity,
    pub progress: TrainProgress,
    /// The generation of weight and optimizer files this metadata goes with (0: none yet).
    pub generation: u64,
    /// xxHash64 of each file of the generation (16 hex digits by file name), checked when it
    /// is loaded; absent in checkpoints from before it was kept (those load unchecked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xxh64: BTreeMap<String, String>,
}

impl CheckpointMeta {
    /// The metadata of a run of `arch` on `data` with `recipe` that has not started yet.
    pub fn fresh(arch: &ArchSpec, data: DataIdentity, recipe: &TrainConfig) -> Self {
        Self {
            arch: arch.clone(),
            params: arch.params(),
            recipe: TrainConfig {
                arch: arch.name.clone(),
                ..recipe.clone()
            },
            data,
            progress: TrainProgress::default(),
            generation: 0,
            xxh64: BTreeMap::new(),
        }
    }

    /// Checks what was read like config input: architecture, recipe, progress.
    fn validate(&self) -> Result<(), String> {
        self.arch.validate()?;
        self.recipe
            .validate()
            .map_err(|e| format!("stored recipe: {e}"))?;
        for (key, batch) in [
            ("train.batch_size", self.recipe.batch_size),
            ("train.eval_batch", self.recipe.eval_batch),
        ] {
            fits_batch(&self.arch, batch).map_err(|e| format!("stored recipe: {key}: {e}"))?;
        }
        if self.params != self.arch.params() {
            return Err(format!(
                "params is {}, architecture '{}' has {}",
                self.params,
                self.arch.name,
                self.arch.params()
            ));
        }
        let p = &self.progress;
        if p.position.epoch > self.recipe.epochs {
            return Err(format!(
                "progress is at epoch {} of {}",
                p.position.epoch, self.recipe.epochs
            ));
        }
        if p.history.len() != p.position.epoch {
            return Err(format!(
                "{} epochs of history for {} epochs done",
                p.history.len(),
                p.position.epoch
            ));
        }
        if self.generation == 0 {
            return Err("no generation of weights was committed".into());
        }
        Ok(())
    }
}

/// The directory of generation `n`.
fn generation_dir(dir: &Path, n: u64) -> PathBuf {
    dir.join(GENERATIONS).join(format!("{n:06}"))
}

fn pause_hook(step: &str, generation: u64) {
    if std::env::var(PAUSE_HOOK).is_ok_and(|s| s == format!("{step}@{generation}")) {
        eprintln!("classgen test hook: paused after {step}@{generation}");
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    }
}

/// The checksum recorded for a file's bytes: xxHash64, 16 hex digits.
fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", twox_hash::XxHash64::oneshot(0, bytes))
}

/// Writes `map` to `path`, syncs it and returns the checksum of the bytes on disk.
fn save_tensors(map: &HashMap<String, Tensor>, path: &Path) -> anyhow::Result<String> {
    let fail = || format!("writing {}", path.display());
    candle_core::safetensors::save(map, path).with_context(fail)?;
    let mut file = std::fs::File::open(path).with_context(fail)?;
    file.sync_all().with_context(fail)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).with_context(fail)?;
    Ok(checksum(&bytes))
}

/// Reads file `name` of the generation `meta` commits, checked against its recorded checksum.
fn read_generation_file(
    dir: &Path,
    meta: &CheckpointMeta,
    name: &str,
    device: &Device,
) -> anyhow::Result<(PathBuf, HashMap<String, Tensor>)> {
    let path = generation_dir(dir, meta.generation).join(name);
    let bytes = crate::userfile::read_file(&path, crate::limits::MAX_SAFETENSORS_BYTES)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(expected) = meta.xxh64.get(name) {
        let found = checksum(&bytes);
        if found != *expected {
            anyhow::bail!(
                "{}: damaged: its checksum is {found}, {CHECKPOINT} recorded {expected} (a changed or corrupted file): use another run, or train again",
                path.display()
            );
        }
    }
    let tensors = crate::model::network::decode_safetensors(&bytes, &path, device)?;
    Ok((path, tensors))
}

/// Saves weights, optimizer state and `meta` as the next generation in `dir`; on success
/// `meta.generation` is the new one. Returns the path of `checkpoint.json`.
pub fn save(
    dir: &Path,
    net: &Network,
    adam: &Adam,
    meta: &mut CheckpointMeta,
) -> anyhow::Result<PathBuf> {
    // JSON holds no NaN: refuse before writing, so every checkpoint written can be read back
    // (and the last good generation stays the one committed).
    meta.progress
        .check_finite()
        .map_err(|e| anyhow::anyhow!("not saving a checkpoint in {}: {e}", dir.display()))?;
    let weights = net.named_tensors();
    for (name, tensor) in &weights {
        let values = tensor.flatten_all()?.to_vec1::<f32>()?;
        if values.iter().any(|v| !v.is_finite()) {
            anyhow::bail!(
                "not saving a checkpoint in {}: weight {name} holds values that are not finite numbers (training diverged)",
                dir.display()
            );
        }
    }
    let next = meta.generation + 1;
    let generations = dir.join(GENERATIONS);
    let fail = |path: &Path| format!("writing {}", path.display());
    std::fs::create_dir_all(&generations).with_context(|| fail(&generations))?;
    let done = generation_dir(dir, next);
    let tmp = done.with_extension("tmp");
    for leftover in [&tmp, &done] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover).with_context(|| fail(leftover))?;
        }
    }
    std::fs::create_dir(&tmp).with_context(|| fail(&tmp))?;
    let mut xxh64 = BTreeMap::new();
    xxh64.insert(
        WEIGHTS.to_string(),
        save_tensors(&weights, &tmp.join(WEIGHTS))?,
    );
    pause_hook("weights", next);
    let moments = save_tensors(&adam.state()?, &tmp.join(OPTIMIZER))?;
    xxh64.insert(OPTIMIZER.to_string(), moments);
    pause_hook("optimizer", next);
    sync_dir(&tmp).with_context(|| fail(&tmp))?;
    std::fs::rename(&tmp, &done).with_context(|| fail(&done))?;
    sync_dir(&generations).with_context(|| fail(&generations))?;
    pause_hook("generation", next);
    let committed = CheckpointMeta {
        generation: next,
        xxh64,
        ..meta.clone()
    };
    let path = dir.join(CHECKPOINT);
    let json = serde_json::to_vec_pretty(&committed)?;
    write_atomic(&path, &json).with_context(|| fail(&path))?;
    *meta = committed;
    pause_hook("meta", next);
    // The new generation is committed: older ones and leftovers go.
    if let Ok(entries) = std::fs::read_dir(&generations) {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name() != *done.file_name().unwrap_or_default() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(path)
}

/// Reads and checks a checkpoint's metadata.
pub fn read_meta(dir: &Path) -> anyhow::Result<CheckpointMeta> {
    let path = dir.join(CHECKPOINT);
    // Only a name with nothing behind it is "no checkpoint"; a FIFO or a symlink loop there is
    // named by the read below.
    if std::fs::symlink_metadata(&path).is_err() {
        anyhow::bail!(
            "{}: no checkpoint (expected {CHECKPOINT}: a training run that has saved one)",
            dir.display()
        );
    }
    let meta: CheckpointMeta = super::store::read_json(&path).map_err(|e| match e {
        RunError::Corrupt { .. } => {
            anyhow::anyhow!("{e} (not a classgen checkpoint of this version)")
        }
        other => other.into(),
    })?;
    meta.validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(meta)
}

/// Generations on disk that `meta` does not commit (left by an interrupted save), as notices.
pub fn stray_generations(dir: &Path, meta: &CheckpointMeta) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(GENERATIONS)) else {
        return Vec::new();
    };
    let committed = generation_dir(dir, meta.generation);
    let mut notices: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| *p != committed)
        .map(|p| {
            format!(
                "ignoring {}: an incomplete or superseded checkpoint (an interrupted save); using generation {} of {CHECKPOINT}",
                p.display(),
                meta.generation
            )
        })
        .collect();
    notices.sort();
    notices
}

/// Loads a checkpoint's network onto `device`.
pub fn load_network(dir: &Path, device: &Device) -> anyhow::Result<(Network, CheckpointMeta)> {
    let meta = read_meta(dir)?;
    let mut net = Network::new(&meta.arch, 0, device)?;
    let (path, tensors) = read_generation_file(dir, &meta, WEIGHTS, device)?;
    net.set_weights(&tensors, &path)?;
    Ok((net, meta))
}

/// Loads a checkpoint's network and optimizer to continue training.
pub fn load_for_resume(
    dir: &Path,
    device: &Device,
) -> anyhow::Result<(Network, Adam, CheckpointMeta)> {
    let (net, meta) = load_network(dir, device)?;
    let mut adam = Adam::new(net.vars().cloned().collect())?;
    let (path, state) = read_generation_file(dir, &meta, OPTIMIZER, device)?;
    adam.restore(&state, meta.progress.adam_step)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((net, adam, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetKind;
    use crate::runs::identity::DataSource;

    fn fresh(arch: &ArchSpec) -> CheckpointMeta {
        let data = DataIdentity {
            dataset: DatasetKind::Mnist,
            source: DataSource::Sample,
            train_images: 8,
            test_images: 2,
        };
        CheckpointMeta::fresh(arch, data, &TrainConfig::default())
    }

    #[test]
    fn a_generation_is_committed_by_its_metadata_and_replaces_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let arch = ArchSpec::by_name("tiny", &[]).unwrap();
        let net = Network::new(&arch, 1, &Device::Cpu).unwrap();
        let adam = Adam::new(net.vars().cloned().collect()).unwrap();
        let mut meta = fresh(&arch);
        save(dir.path(), &net, &adam, &mut meta).unwrap();
        save(dir.path(), &net, &adam, &mut meta).unwrap();
        assert_eq!(meta.generation, 2);
        let kept: Vec<_> = std::fs::read_dir(dir.path().join(GENERATIONS))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(kept, vec![std::ffi::OsString::from("000002")]);
        let (_, loaded) = load_network(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(loaded, meta);
        assert!(stray_generations(dir.path(), &meta).is_empty());

        // A half-written generation 3 is ignored (and reported); generation 2 still loads.
        std::fs::create_dir_all(generation_dir(dir.path(), 3).with_extension("tmp")).unwrap();
        std::fs::write(generation_dir(dir.path(), 3).join(WEIGHTS), b"torn").ok();
        let (_, _, again) = load_for_resume(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(again.generation, 2);
        assert_eq!(stray_generations(dir.path(), &again).len(), 1);
    }

    #[test]
    fn stored_values_are_checked_like_config_input() {
        let dir = tempfile::tempdir().unwrap();
        let arch = ArchSpec::seed();
        let mut meta = fresh(&arch);
        meta.generation = 1;
        let write = |meta: &CheckpointMeta| {
            std::fs::write(
                dir.path().join(CHECKPOINT),
                serde_json::to_vec(meta).unwrap(),
            )
            .unwrap()
        };
        write(&meta);
        read_meta(dir.path()).unwrap();
        let mut bad = meta.clone();
        bad.recipe.batch_size = 0;
        bad.recipe.learning_rate = -1.0;
        write(&bad);
        let err = read_meta(dir.path()).unwrap_err().to_string();
        assert!(err.contains("train.batch_size"), "{err}");
        let mut bad = meta.clone();
        bad.progress.position.epoch = 3;
        write(&bad);
        let err = read_meta(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("3 epochs done") || err.contains("history"),
            "{err}"
        );
        std::fs::write(dir.path().join(CHECKPOINT), b"{}").unwrap();
        let err = read_meta(dir.path()).unwrap_err().to_string();
        assert!(err.contains("checkpoint.json"), "{err}");
    }
}

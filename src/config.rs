//! Configuration: one typed tree mirroring `config.toml`. Unknown keys and bad values are errors
//! that name the key; CLI flags override what the file says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::baselines::BaselinesConfig;
use crate::data::{DatasetKind, SourceKind};
use crate::inversion::{GradientOptions, Objective, Regularisers, StepKind};
pub use crate::model::recipe::{Schedule, TrainConfig};
use crate::model::ArchSpec;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key '{key}': {message}")]
    Invalid { key: &'static str, message: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub train: TrainConfig,
    pub ablation: AblationConfig,
    pub baselines: BaselinesConfig,
    pub robustness: RobustnessConfig,
    pub invert: InvertConfig,
    pub paths: PathsConfig,
    /// Architectures defined in the file (`[[arch]]`), usable wherever a built-in one is.
    #[serde(rename = "arch")]
    pub archs: Vec<ArchSpec>,
    /// `[keys]`: dashboard actions rebound to other keys (action name = key); the dashboard
    /// checks them against its key table when it opens.
    pub keys: BTreeMap<String, String>,
}

/// `[ablation]`: which variants, how many seeds and epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AblationConfig {
    pub variants: Vec<String>,
    pub seeds: usize,
    pub epochs: usize,
}

impl Default for AblationConfig {
    fn default() -> Self {
        Self {
            variants: [
                "seed", "no-conv2", "no-pool1", "dense64", "narrow", "no-dense",
            ]
            .map(String::from)
            .to_vec(),
            seeds: 3,
            epochs: 3,
        }
    }
}

/// `[data]`: which data set and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    pub source: SourceKind,
    /// A directory with the four IDX files; empty for none.
    pub dir: PathBuf,
    pub hub_endpoint: String,
    /// Cache for Hub downloads; empty for `$XDG_CACHE_HOME/classgen` or `~/.cache/classgen`.
    pub cache_dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Mnist,
            source: SourceKind::Auto,
            dir: PathBuf::new(),
            hub_endpoint: "https://huggingface.co".into(),
            cache_dir: PathBuf::new(),
        }
    }
}

impl DataConfig {
    /// The data directory, if one is set.
    pub fn dir(&self) -> Option<&Path> {
        (!self.dir.as_os_str().is_empty()).then_some(self.dir.as_path())
    }

    /// The cache directory, resolving the empty default.
    pub fn cache_dir(&self) -> PathBuf {
        if !self.cache_dir.as_os_str().is_empty() {
            return self.cache_dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        base.join("classgen")
    }
}

/// `[paths]`: where results go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    pub runs: PathBuf,
    pub snapshots: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            runs: "runs".into(),
            snapshots: "snapshots".into(),
        }
    }
}

/// `[invert]`: defaults of `classgen invert` (each has a flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvertConfig {
    pub loss: Objective,
    pub step: StepKind,
    pub lr: f32,
    pub max_steps: usize,
    pub threshold: f32,
    pub epsilon: f32,
    /// `class:C` starts from the first test image of class C with p >= this.
    pub confidence: f32,
    pub seed: u64,
    /// Snapshot upscale factor.
    pub scale: u32,
    /// Images in a trajectory strip.
    pub strip: usize,
    pub reg: Regularisers,
    /// Images in a trajectory GIF (0: no GIF).
    pub gif_frames: usize,
    /// Threads for the maths of `classgen invert` (0: every core; one image is fastest on 1).
    pub threads: usize,
    pub knn: KnnInvertConfig,
    pub prototype: PrototypeConfig,
}

/// `[invert.prototype]`: `classgen invert --grid --from noise`, inversions from seeded noise
/// to every target, plain and regularised, judged by independently trained classifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrototypeConfig {
    /// Noise starts per target.
    pub starts: usize,
    /// Seed of the first noise start (the others follow).
    pub first_seed: u64,
    pub loss: Objective,
    pub lr: f32,
    pub max_steps: usize,
    pub threshold: f32,
    /// The regularised mode's regularisers; also the `--reg prototype` preset.
    pub reg: Regularisers,
}

impl Default for PrototypeConfig {
    fn default() -> Self {
        Self {
            starts: 3,
            first_seed: 0,
            loss: Objective::Log,
            lr: 0.1,
            max_steps: 300,
            threshold: 0.99,
            reg: Regularisers::prototype(),
        }
    }
}

impl PrototypeConfig {
    /// The settings of one noise inversion towards `target`, with regularisers `reg`.
    pub fn options(
        &self,
        invert: &InvertConfig,
        target: usize,
        reg: Regularisers,
    ) -> GradientOptions {
        GradientOptions {
            objective: self.loss,
            lr: self.lr,
            max_steps: self.max_steps,
            threshold: self.threshold,
            reg,
            ..invert.options(target)
        }
    }
}

/// `[invert.knn]`: the k-NN inverter (its k is `baselines.k`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnInvertConfig {
    pub lr: f32,
    pub mask: f32,
    pub threshold: f32,
    pub max_steps: usize,
}

impl Default for KnnInvertConfig {
    fn default() -> Self {
        Self {
            lr: 0.5,
            mask: 0.5,
            threshold: 0.6,
            max_steps: 500,
        }
    }
}

impl Default for InvertConfig {
    fn default() -> Self {
        let o = GradientOptions::default();
        Self {
            loss: o.objective,
            step: o.step,
            lr: o.lr,
            max_steps: o.max_steps,
            threshold: o.threshold,
            epsilon: o.epsilon,
            confidence: 0.9,
            seed: o.seed,
            scale: 10,
            strip: 8,
            reg: o.reg,
            gif_frames: 40,
            threads: 1,
            knn: KnnInvertConfig::default(),
            prototype: PrototypeConfig::default(),
        }
    }
}

impl InvertConfig {
    /// The inversion settings for `target`.
    pub fn options(&self, target: usize) -> GradientOptions {
        GradientOptions {
            target,
            objective: self.loss,
            step: self.step,
            lr: self.lr,
            max_steps: self.max_steps,
            threshold: self.threshold,
            epsilon: self.epsilon,
            reg: self.reg,
            seed: self.seed,
        }
    }
}

/// `[robustness]`: noise levels, attack radii and how many test images each part uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobustnessConfig {
    pub sigmas: Vec<f32>,
    pub epsilons: Vec<f32>,
    pub pgd_steps: usize,
    pub pgd_step_size: f32,
    pub noise_images: usize,
    pub attack_images: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for RobustnessConfig {
    fn default() -> Self {
        Self {
            sigmas: vec![0.0, 0.1, 0.2, 0.3, 0.5],
            epsilons: vec![0.05, 0.1, 0.2, 0.3],
            pgd_steps: 40,
            pgd_step_size: 0.01,
            noise_images: 0,
            attack_images: 1000,
            batch: 250,
            seed: 0,
        }
    }
}

impl RobustnessConfig {
    /// Checks ranges; errors name the key under `robustness.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if let Some(s) = self.sigmas.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return invalid(
                "robustness.sigmas",
                format!("must be finite and >= 0, found {s}"),
            );
        }
        if let Some(e) = self
            .epsilons
            .iter()
            .find(|e| !(e.is_finite() && **e > 0.0 && **e <= 1.0))
        {
            return invalid(
                "robustness.epsilons",
                format!("must be in (0, 1], found {e}"),
            );
        }
        if !(self.pgd_step_size.is_finite() && self.pgd_step_size > 0.0) {
            return invalid(
                "robustness.pgd_step_size",
                format!("must be a positive number, found {}", self.pgd_step_size),
            );
        }
        if self.batch == 0 {
            return invalid("robustness.batch", "must be at least 1".into());
        }
        Ok(())
    }
}

impl Config {
    /// Parses TOML text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads `path` if given (it must exist), else `./config.toml` if present, else defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let default_path = Path::new("config.toml");
        let path = match path {
            Some(p) => p,
            None if default_path.is_file() => default_path,
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Checks values serde cannot: ranges and finiteness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if t.epochs == 0 {
            return invalid("train.epochs", "must be at least 1".into());
        }
        if t.batch_size == 0 {
            return invalid("train.batch_size", "must be at least 1".into());
        }
        if t.eval_batch == 0 {
            return invalid("train.eval_batch", "must be at least 1".into());
        }
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            return invalid(
                "train.learning_rate",
                format!("must be a positive number, found {}", t.learning_rate),
            );
        }
        if t.augment_shift > 8 {
            return invalid(
                "train.augment_shift",
                format!("must be 0..=8 pixels, found {}", t.augment_shift),
            );
        }
        if let Err(message) = crate::device::parse(&t.device).map(|_| ()) {
            return invalid("train.device", message);
        }
        for (i, arch) in self.archs.iter().enumerate() {
            if let Err(message) = arch.validate() {
                return invalid("arch", format!("entry {}: {message}", i + 1));
            }
            let clash = ArchSpec::builtins()
                .iter()
                .any(|(b, _)| b.name == arch.name)
                || self.archs[..i].iter().any(|a| a.name == arch.name);
            if clash {
                return invalid(
                    "arch",
                    format!("entry {}: the name '{}' is already taken", i + 1, arch.name),
                );
            }
        }
        if let Err(message) = ArchSpec::by_name(&t.arch, &self.archs) {
            return invalid("train.arch", message);
        }
        let a = &self.ablation;
        if a.seeds == 0 || a.epochs == 0 {
            return invalid(
                "ablation.seeds",
                "seeds and epochs must be at least 1".into(),
            );
        }
        if let Some(message) = a
            .variants
            .iter()
            .find_map(|v| ArchSpec::by_name(v, &self.archs).err())
        {
            return invalid("ablation.variants", message);
        }
        let b = &self.baselines;
        if b.k == 0 {
            return invalid("baselines.k", "must be at least 1".into());
        }
        if b.knn_pca_dims > crate::data::PIXELS {
            return invalid(
                "baselines.knn_pca_dims",
                format!("must be 0..=784, found {}", b.knn_pca_dims),
            );
        }
        if !(b.logreg_c.is_finite() && b.logreg_c > 0.0) {
            return invalid(
                "baselines.logreg_c",
                format!("must be a positive number, found {}", b.logreg_c),
            );
        }
        if !(b.svm_c.is_finite() && b.svm_c > 0.0) {
            return invalid(
                "baselines.svm_c",
                format!("must be a positive number, found {}", b.svm_c),
            );
        }
        if b.forest_trees == 0 {
            return invalid("baselines.forest_trees", "must be at least 1".into());
        }
        if b.histogram_bins == 0 || b.ece_bins == 0 {
            return invalid(
                "baselines.histogram_bins / baselines.ece_bins",
                "must be at least 1".into(),
            );
        }
        self.robustness.validate()?;
        self.invert.validate()?;
        Ok(())
    }
}

impl InvertConfig {
    /// Checks ranges; errors name the key under `invert.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let unit = |v: f32| v.is_finite() && v > 0.0 && v <= 1.0;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return invalid(
                "invert.lr",
                format!("must be a positive number, found {}", self.lr),
            );
        }
        if !unit(self.threshold) {
            return invalid(
                "invert.threshold",
                format!("must be in (0, 1], found {}", self.threshold),
            );
        }
        if !unit(self.confidence) {
            return invalid(
                "invert.confidence",
                format!("must be in (0, 1], found {}", self.confidence),
            );
        }
        if !(self.epsilon.is_finite() && self.epsilon >= 0.0) {
            return invalid(
                "invert.epsilon",
                format!("must be a number >= 0, found {}", self.epsilon),
            );
        }
        if !(1..=64).contains(&self.scale) {
            return invalid(
                "invert.scale",
                format!("must be 1..=64, found {}", self.scale),
            );
        }
        if self.strip == 0 {
            return invalid("invert.strip", "must be at least 1".into());
        }
        let r = &self.reg;
        if [r.tv, r.l2, r.blur]
            .iter()
            .any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return invalid("invert.reg", "tv, l2 and blur must be numbers >= 0".into());
        }
        if r.blur_every == 0 {
            return invalid("invert.reg.blur_every", "must be at least 1".into());
        }
        let p = &self.prototype;
        if p.starts == 0 {
            return invalid("invert.prototype.starts", "must be at least 1".into());
        }
        if !(p.lr.is_finite() && p.lr > 0.0) {
            return invalid(
                "invert.prototype.lr",
                format!("must be a positive number, found {}", p.lr),
            );
        }
        if !unit(p.threshold) {
            return invalid(
                "invert.prototype.threshold",
                format!("must be in (0, 1], found {}", p.threshold),
            );
        }
        let r = &p.reg;
        if [r.tv, r.l2, r.blur]
            .iter()
            .any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return invalid(
                "invert.prototype.reg",
                "tv, l2 and blur must be numbers >= 0".into(),
            );
        }
        if r.blur_every == 0 {
            return invalid(
                "invert.prototype.reg.blur_every",
                "must be at least 1".into(),
            );
        }
        let k = &self.knn;
        if !(k.lr.is_finite() && k.lr > 0.0) {
            return invalid(
                "invert.knn.lr",
                format!("must be a positive number, found {}", k.lr),
            );
        }
        if !unit(k.mask) {
            return invalid(
                "invert.knn.mask",
                format!("must be in (0, 1], found {}", k.mask),
            );
        }
        if !unit(k.threshold) {
            return invalid(
                "invert.knn.threshold",
                format!("must be in (0, 1], found {}", k.threshold),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn shipped_config_toml_equals_the_defaults() {
        let text = include_str!("../config.toml");
        assert_eq!(parse(text).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("[train]\nepochz = 3\n").unwrap_err().to_string();
        assert!(err.contains("epochz"), "{err}");
        assert!(err.contains("test.toml"), "{err}");
    }

    #[test]
    fn custom_architecture_from_the_file_is_usable() {
        let text =
            "[train]\narch = \"mine\"\n[[arch]]\nname = \"mine\"\nconvs = [{ filters = 4 }]\n";
        let config = parse(text).unwrap();
        assert_eq!(
            ArchSpec::by_name("mine", &config.archs).unwrap().params(),
            4 * 10 + 13 * 13 * 4 * 10 + 10
        );
        let err = parse("[[arch]]\nname = \"seed\"\nconvs = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'arch'") && err.contains("taken"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = parse("[train]\nepochs = 0\n").unwrap_err().to_string();
        assert!(err.contains("train.epochs"), "{err}");
        let err = parse("[data]\ndataset = \"cifar\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dataset") && err.contains("mnist"), "{err}");
        let err = parse("[train]\nlearning_rate = -1.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("train.learning_rate"), "{err}");
    }
}

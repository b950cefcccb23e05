//! Configuration: one typed tree mirroring `config.toml`. Unknown keys and bad values are errors
//! that name the key; CLI flags override what the file says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::baselines::BaselinesConfig;
use crate::data::{DatasetKind, SourceKind};
use crate::inversion::{GradientOptions, Objective, Regularisers, StepKind};
use crate::limits::{self, check_max, check_positive, check_range};
pub use crate::model::recipe::{Schedule, TrainConfig};
use crate::model::ArchSpec;
use crate::userfile::{self, ReadError};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {error}")]
    Read { path: PathBuf, error: ReadError },
    /// A TOML syntax or type error, as one line: `file:line:column: message` (the message's
    /// control characters escaped, its length bounded; no source text).
    #[error("{}:{at}: {message}", path.display())]
    Parse {
        path: PathBuf,
        /// `line:column` (1-based), or `?` where the parser gave no place.
        at: String,
        message: String,
    },
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
    pub sweep: SweepConfig,
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

/// `[ablation]`: which variants, how many seeds and epochs, and how many runs train at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AblationConfig {
    pub variants: Vec<String>,
    pub seeds: usize,
    pub epochs: usize,
    /// Runs trained side by side on the CPU, sharing its threads (never more runs than
    /// threads; on other devices one at a time).
    pub runs_at_once: usize,
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
            runs_at_once: 2,
        }
    }
}

/// `[sweep]`: a grid over training settings (`classgen sweep`), every combination trained with
/// each seed; an empty list keeps `[train]`'s value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    pub learning_rates: Vec<f64>,
    pub batch_sizes: Vec<usize>,
    pub epochs: Vec<usize>,
    pub archs: Vec<String>,
    pub schedules: Vec<Schedule>,
    /// Seeds per combination (`train.seed`, `train.seed + 1`, ...).
    pub seeds: usize,
    /// The row every other is compared with (as `classgen sweep --cells` names rows); empty:
    /// the first.
    pub baseline: String,
    /// Runs trained side by side on the CPU.
    pub runs_at_once: usize,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            learning_rates: Vec::new(),
            batch_sizes: Vec::new(),
            epochs: Vec::new(),
            archs: Vec::new(),
            schedules: Vec::new(),
            seeds: 3,
            baseline: String::new(),
            runs_at_once: 2,
        }
    }
}

/// Most cells (combinations x seeds) in one sweep.
pub const MAX_SWEEP_CELLS: usize = 10_000;

impl SweepConfig {
    /// Checks every axis against the ranges of `[train]` (and each architecture against each
    /// batch size); errors name the key under `sweep.`.
    fn validate(&self, archs: &[ArchSpec], train: &TrainConfig) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let levels = [
            ("sweep.learning_rates", self.learning_rates.len()),
            ("sweep.batch_sizes", self.batch_sizes.len()),
            ("sweep.epochs", self.epochs.len()),
            ("sweep.archs", self.archs.len()),
            ("sweep.schedules", self.schedules.len()),
        ];
        for (key, n) in levels {
            if n > limits::MAX_LEVELS {
                return invalid(
                    key,
                    format!("at most {} values, found {n}", limits::MAX_LEVELS),
                );
            }
        }
        if let Some(Err(message)) = self
            .learning_rates
            .iter()
            .map(|&v| check_positive(v))
            .find(Result::is_err)
        {
            return invalid("sweep.learning_rates", message);
        }
        if let Some(Err(message)) = self
            .batch_sizes
            .iter()
            .map(|&v| check_range(v, limits::MAX_BATCH))
            .find(Result::is_err)
        {
            return invalid("sweep.batch_sizes", message);
        }
        if let Some(Err(message)) = self
            .epochs
            .iter()
            .map(|&v| check_range(v, limits::MAX_EPOCHS))
            .find(Result::is_err)
        {
            return invalid("sweep.epochs", message);
        }
        if let Err(message) = check_range(self.seeds, limits::MAX_SEEDS) {
            return invalid("sweep.seeds", message);
        }
        if let Err(message) = check_range(self.runs_at_once, limits::MAX_RUNS_AT_ONCE) {
            return invalid("sweep.runs_at_once", message);
        }
        let names = if self.archs.is_empty() {
            std::slice::from_ref(&train.arch)
        } else {
            &self.archs[..]
        };
        let batches = if self.batch_sizes.is_empty() {
            std::slice::from_ref(&train.batch_size)
        } else {
            &self.batch_sizes[..]
        };
        for name in names {
            let arch = match ArchSpec::by_name(name, archs) {
                Ok(arch) => arch,
                Err(message) => return invalid("sweep.archs", message),
            };
            for &batch in batches {
                if let Err(message) = fits_batch(&arch, batch) {
                    return invalid("sweep.batch_sizes", message);
                }
            }
        }
        let cells = [
            self.learning_rates.len(),
            self.batch_sizes.len(),
            self.epochs.len(),
            self.archs.len(),
            self.schedules.len(),
        ]
        .iter()
        .fold(self.seeds, |n, &k| n.saturating_mul(k.max(1)));
        if cells > MAX_SWEEP_CELLS {
            return invalid(
                "sweep",
                format!("{cells} cells (combinations x seeds): at most {MAX_SWEEP_CELLS}"),
            );
        }
        Ok(())
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
    /// The Hub's address; `HF_ENDPOINT` overrides it, empty for the default.
    pub hub_endpoint: String,
    /// Seconds a Hub download may wait for an answer, or run slower than 4 KiB/s over.
    pub hub_timeout_secs: u64,
    /// Cache for the IDX conversion of Hub downloads; empty for `$XDG_CACHE_HOME/classgen` or
    /// `~/.cache/classgen` (the downloads live in the Hugging Face cache, `HF_HUB_CACHE`).
    pub cache_dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Mnist,
            source: SourceKind::Auto,
            dir: PathBuf::new(),
            hub_endpoint: crate::data::hub::DEFAULT_ENDPOINT.into(),
            hub_timeout_secs: 30,
            cache_dir: PathBuf::new(),
        }
    }
}

impl DataConfig {
    /// How long a Hub request may go without progress.
    pub fn hub_timeout(&self) -> Duration {
        Duration::from_secs(self.hub_timeout_secs)
    }

    /// The data directory, if one is set.
    pub fn dir(&self) -> Option<&Path> {
        (!self.dir.as_os_str().is_empty()).then_some(self.dir.as_path())
    }

    /// How to reach the Hub: these keys with the Hugging Face environment variables
    /// ([`HfEnv`](crate::data::hub::HfEnv)); `cancel` ends a download at once.
    pub fn hub_options(
        &self,
        progress: bool,
        cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> crate::data::hub::HubOptions {
        crate::data::hub::HubOptions::new(
            &self.hub_endpoint,
            self.cache_dir(),
            self.hub_timeout(),
            crate::data::hub::HfEnv::read(),
            progress,
            cancel,
        )
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
        if let Err(message) = check_positive(self.pgd_step_size) {
            return invalid("robustness.pgd_step_size", message);
        }
        if let Err(message) = check_range(self.batch, limits::MAX_BATCH) {
            return invalid("robustness.batch", message);
        }
        for (key, levels) in [
            ("robustness.sigmas", self.sigmas.len()),
            ("robustness.epsilons", self.epsilons.len()),
        ] {
            if levels > limits::MAX_LEVELS {
                return invalid(
                    key,
                    format!("at most {} levels, found {levels}", limits::MAX_LEVELS),
                );
            }
        }
        Ok(())
    }
}

/// Most characters of a TOML error's message (a long list of expected keys is cut).
const MAX_PARSE_MESSAGE: usize = 300;

/// `line:column` (1-based, columns in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> String {
    let mut before = offset.min(text.len());
    while !text.is_char_boundary(before) {
        before -= 1;
    }
    let head = &text[..before];
    let line = head.matches('\n').count() + 1;
    let column = head.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

/// A TOML error's message and the key it concerns (`data.dataset: unknown variant ...`), on one
/// line, without the source text that the error's own `Display` quotes.
fn parse_message(e: &toml::de::Error) -> String {
    let mut bare = e.clone();
    bare.set_input(None);
    // Without its input the error shows its message, then `in `KEY`` if it knows the key.
    let shown = bare.to_string();
    let key = shown
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("in `")?.strip_suffix('`'));
    let message = one_line(e.message(), MAX_PARSE_MESSAGE);
    match key {
        Some(key) => format!("{}: {message}", one_line(key, MAX_PARSE_MESSAGE / 3)),
        None => message,
    }
}

/// `message` on one line: line breaks become spaces, other control characters are escaped
/// (`\u{1b}`), and at most `max` characters are kept (then `...`).
fn one_line(message: &str, max: usize) -> String {
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    for (i, c) in flat.chars().enumerate() {
        if i == max {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Config {
    /// Parses TOML text; `path` names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            at: e
                .span()
                .map_or_else(|| "?".into(), |s| line_column(text, s.start)),
            message: parse_message(&e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Loads `path` if given (it must exist), else `./config.toml` if present, else defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let default_path = Path::new("config.toml");
        let path = match path {
            Some(p) => p,
            // Anything named config.toml is read (a FIFO or a directory there is named).
            None if default_path.symlink_metadata().is_ok() => default_path,
            None => return Ok(Self::default()),
        };
        let read_error = |error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        };
        let bytes = userfile::read_file(path, limits::MAX_CONFIG_BYTES).map_err(read_error)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            read_error(ReadError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            )))
        })?;
        Self::parse(&text, path)
    }

    /// Checks values serde cannot: ranges (the bounds of [`crate::limits`]) and finiteness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.train;
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        self.data.validate()?;
        t.validate()?;
        if let Err(message) = limits::check_threads(t.threads) {
            return invalid("train.threads", message);
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
        let arch = match ArchSpec::by_name(&t.arch, &self.archs) {
            Ok(arch) => arch,
            Err(message) => return invalid("train.arch", message),
        };
        if let Err(message) = fits_batch(&arch, t.batch_size) {
            return invalid("train.batch_size", message);
        }
        if let Err(message) = fits_batch(&arch, t.eval_batch) {
            return invalid("train.eval_batch", message);
        }
        let a = &self.ablation;
        if let Err(message) = check_range(a.seeds, limits::MAX_SEEDS) {
            return invalid("ablation.seeds", message);
        }
        if let Err(message) = check_range(a.epochs, limits::MAX_EPOCHS) {
            return invalid("ablation.epochs", message);
        }
        if let Err(message) = check_range(a.runs_at_once, limits::MAX_RUNS_AT_ONCE) {
            return invalid("ablation.runs_at_once", message);
        }
        for variant in &a.variants {
            match ArchSpec::by_name(variant, &self.archs) {
                Err(message) => return invalid("ablation.variants", message),
                Ok(arch) => {
                    if let Err(message) = fits_batch(&arch, t.batch_size) {
                        return invalid("train.batch_size", message);
                    }
                }
            }
        }
        self.sweep.validate(&self.archs, t)?;
        let b = &self.baselines;
        if let Err(message) = check_range(b.k, limits::MAX_K) {
            return invalid("baselines.k", message);
        }
        if b.knn_pca_dims > crate::data::PIXELS {
            return invalid(
                "baselines.knn_pca_dims",
                format!("must be 0..=784, found {}", b.knn_pca_dims),
            );
        }
        if let Err(message) = check_positive(b.logreg_c) {
            return invalid("baselines.logreg_c", message);
        }
        if let Err(message) = check_positive(b.svm_c) {
            return invalid("baselines.svm_c", message);
        }
        let sizes = [
            (
                "baselines.forest_trees",
                check_range(b.forest_trees, limits::MAX_TREES),
            ),
            (
                "baselines.max_depth",
                check_max(b.max_depth, limits::MAX_DEPTH, "until pure"),
            ),
            (
                "baselines.svm_train_images",
                check_max(b.svm_train_images, limits::MAX_SVM_IMAGES, "all"),
            ),
            (
                "baselines.histogram_bins",
                check_range(b.histogram_bins, limits::MAX_BINS),
            ),
            (
                "baselines.ece_bins",
                check_range(b.ece_bins, limits::MAX_BINS),
            ),
        ];
        if let Some((key, Err(message))) = sizes.into_iter().find(|(_, r)| r.is_err()) {
            return invalid(key, message);
        }
        self.robustness.validate()?;
        self.invert.validate()?;
        Ok(())
    }
}

/// Checks `arch` can hold `batch` images at once (see [`ArchSpec::max_batch`]).
pub fn fits_batch(arch: &ArchSpec, batch: usize) -> Result<(), String> {
    let max = arch.max_batch();
    if batch <= max {
        return Ok(());
    }
    Err(format!(
        "{batch} images at once are too many for architecture '{}' ({} activations per image): at most {max}",
        arch.name,
        arch.activations()
    ))
}

impl DataConfig {
    /// Checks ranges; errors name the key under `data.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max = limits::MAX_HUB_TIMEOUT_SECS;
        if !(1..=max).contains(&self.hub_timeout_secs) {
            return Err(ConfigError::Invalid {
                key: "data.hub_timeout_secs",
                message: format!("must be 1..={max} seconds, found {}", self.hub_timeout_secs),
            });
        }
        Ok(())
    }
}

impl TrainConfig {
    /// Checks the recipe's ranges (a checkpoint's stored recipe too; the thread count, a
    /// property of the machine, is checked by [`Config::validate`]); errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if let Err(message) = check_range(self.epochs, limits::MAX_EPOCHS) {
            return invalid("train.epochs", message);
        }
        if let Err(message) = check_range(self.batch_size, limits::MAX_BATCH) {
            return invalid("train.batch_size", message);
        }
        if let Err(message) = check_range(self.eval_batch, limits::MAX_EVAL_BATCH) {
            return invalid("train.eval_batch", message);
        }
        if let Err(message) = check_positive(self.learning_rate) {
            return invalid("train.learning_rate", message);
        }
        if self.augment_shift > 8 {
            return invalid(
                "train.augment_shift",
                format!("must be 0..=8 pixels, found {}", self.augment_shift),
            );
        }
        if let Err(message) = crate::device::parse(&self.device).map(|_| ()) {
            return invalid("train.device", message);
        }
        Ok(())
    }
}

impl InvertConfig {
    /// Checks ranges; errors name the key under `invert.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let unit = |v: f32| v.is_finite() && v > 0.0 && v <= 1.0;
        if let Err(message) = check_positive(self.lr) {
            return invalid("invert.lr", message);
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
        let sizes = [
            ("invert.strip", check_range(self.strip, limits::MAX_STRIP)),
            (
                "invert.gif_frames",
                check_max(self.gif_frames, limits::MAX_GIF_FRAMES, "no GIF"),
            ),
            ("invert.threads", limits::check_threads(self.threads)),
            (
                "invert.max_steps",
                check_range(self.max_steps, limits::MAX_INVERT_STEPS),
            ),
            (
                "invert.knn.max_steps",
                check_range(self.knn.max_steps, limits::MAX_INVERT_STEPS),
            ),
            (
                "invert.prototype.max_steps",
                check_range(self.prototype.max_steps, limits::MAX_INVERT_STEPS),
            ),
            (
                "invert.prototype.starts",
                check_range(self.prototype.starts, limits::MAX_STARTS),
            ),
        ];
        if let Some((key, Err(message))) = sizes.into_iter().find(|(_, r)| r.is_err()) {
            return invalid(key, message);
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
        if let Err(message) = check_positive(p.lr) {
            return invalid("invert.prototype.lr", message);
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
        if let Err(message) = check_positive(k.lr) {
            return invalid("invert.knn.lr", message);
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

    /// Errors are one line naming the file, line and column, with no source text: not 200 KB
    /// for a deeply nested array, and no escape sequence reaches the terminal.
    #[test]
    fn parse_errors_are_one_short_line_with_the_place() {
        let nested = format!(
            "[train]\nepochs = {}1{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let escaped = "[train]\narch = \"\u{1b}[2J\u{1b}]0;pwned\u{7}\"\nepochs = \"x\"\n";
        let bad_key = "[train]\n\u{1b}[31mepochs = 3\n";
        for (text, at) in [
            (nested.as_str(), "test.toml:2:"),
            (escaped, "test.toml:"),
            (bad_key, "test.toml:2:"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with(at), "{err}");
            assert!(err.len() < 400, "{} bytes: {}", err.len(), &err[..400]);
            assert!(!err.chars().any(char::is_control), "{err:?}");
            assert!(!err.contains("[[[["), "no source text: {err}");
        }
        let err = parse("[train]\nepochs = \"x\"\n").unwrap_err().to_string();
        assert!(err.starts_with("test.toml:2:10: "), "{err}");
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

    /// Every upper bound: one past it is an error naming the key and the bound; the bound
    /// itself is accepted.
    #[test]
    fn sweep_axes_are_checked_like_train_keys() {
        for (text, key) in [
            ("learning_rates = [0.1, 0.0]", "'sweep.learning_rates'"),
            ("batch_sizes = [5000]", "'sweep.batch_sizes'"),
            ("epochs = [0]", "'sweep.epochs'"),
            ("archs = [\"nope\"]", "'sweep.archs'"),
            ("schedules = [\"wavy\"]", "schedules"),
            ("learning_rates = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]", "at most 16 values"),
            (
                "seeds = 100\nlearning_rates = [1,2,3,4,5,6,7,8,9,10,11]\nbatch_sizes = [1,2,3,4,5,6,7,8,9,10]",
                "11000 cells",
            ),
            ("colour = 1", "colour"),
        ] {
            let err = parse(&format!("[sweep]\n{text}\n")).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        parse("[sweep]\nlearning_rates = [0.001, 0.003]\narchs = [\"tiny\"]\n").unwrap();
    }

    #[test]
    fn every_upper_bound_is_checked_and_named() {
        use crate::limits::*;
        let cpus = max_threads();
        let cases: Vec<(&str, &str, usize)> = vec![
            ("data", "hub_timeout_secs", MAX_HUB_TIMEOUT_SECS as usize),
            ("train", "batch_size", MAX_BATCH),
            ("train", "eval_batch", MAX_EVAL_BATCH),
            ("train", "epochs", MAX_EPOCHS),
            ("train", "threads", cpus),
            ("ablation", "epochs", MAX_EPOCHS),
            ("ablation", "seeds", MAX_SEEDS),
            ("ablation", "runs_at_once", MAX_RUNS_AT_ONCE),
            ("sweep", "seeds", MAX_SEEDS),
            ("sweep", "runs_at_once", MAX_RUNS_AT_ONCE),
            ("baselines", "k", MAX_K),
            ("baselines", "forest_trees", MAX_TREES),
            ("baselines", "max_depth", MAX_DEPTH),
            ("baselines", "svm_train_images", MAX_SVM_IMAGES),
            ("baselines", "histogram_bins", MAX_BINS),
            ("baselines", "ece_bins", MAX_BINS),
            ("robustness", "batch", MAX_BATCH),
            ("invert", "max_steps", MAX_INVERT_STEPS),
            ("invert", "strip", MAX_STRIP),
            ("invert", "gif_frames", MAX_GIF_FRAMES),
            ("invert", "threads", cpus),
            ("invert.knn", "max_steps", MAX_INVERT_STEPS),
            ("invert.prototype", "max_steps", MAX_INVERT_STEPS),
            ("invert.prototype", "starts", MAX_STARTS),
        ];
        for (section, name, max) in cases {
            let key = format!("{section}.{name}");
            parse(&format!("[{section}]\n{name} = {max}\n"))
                .unwrap_or_else(|e| panic!("{key} = {max}: {e}"));
            let err = parse(&format!("[{section}]\n{name} = {}\n", max + 1))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&key) && err.contains(&format!("{max}")),
                "{err}"
            );
            assert!(err.contains(&format!("found {}", max + 1)), "{err}");
        }
        let err = parse("[train]\nthreads = 1000000\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{cpus} CPUs")), "{err}");
        let levels = vec!["0.1"; MAX_LEVELS + 1].join(", ");
        for key in ["sigmas", "epsilons"] {
            let err = parse(&format!("[robustness]\n{key} = [{levels}]\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("robustness.{key}")), "{err}");
        }
    }

    #[test]
    fn sizes_from_the_issue_are_rejected_with_the_key_named() {
        let cases = [
            ("[train]\nbatch_size = 10000000\n", "train.batch_size"),
            (
                "[train]\nbatch_size = 9223372036854775807\n",
                "train.batch_size",
            ),
            ("[train]\nthreads = 1000\n", "train.threads"),
            ("[invert]\nthreads = 100000\n", "invert.threads"),
            (
                "[baselines]\nhistogram_bins = 1000000000000\n",
                "baselines.histogram_bins",
            ),
            ("[baselines]\nk = 100000\n", "baselines.k"),
            (
                "[[arch]]\nname = \"huge\"\nconvs = []\ndense = 1000000000\n",
                "dense width 1000000000",
            ),
        ];
        for (text, what) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(what), "{text}: {err}");
        }
    }

    #[test]
    fn a_batch_too_big_for_its_architecture_names_both() {
        // 8 convolutions of 1024 1x1 filters: 6,423,322 activations per image, 167 per batch.
        let arch = format!(
            "[[arch]]\nname = \"fat\"\nconvs = [{}]\n",
            ["{ filters = 1024, kernel = 1, pool = false }"; 8].join(", ")
        );
        let train = |batch, eval| {
            format!("[train]\narch = \"fat\"\nbatch_size = {batch}\neval_batch = {eval}\n{arch}")
        };
        let err = parse(&train(168, 100)).unwrap_err().to_string();
        assert!(
            err.contains("train.batch_size")
                && err.contains("'fat'")
                && err.contains("at most 167"),
            "{err}"
        );
        let err = parse(&train(100, 1000)).unwrap_err().to_string();
        assert!(err.contains("train.eval_batch"), "{err}");
        parse(&train(167, 167)).unwrap();
        // The same architecture as an ablation variant is checked too.
        let err = parse(&format!(
            "[train]\nbatch_size = 168\n[ablation]\nvariants = [\"fat\"]\n{arch}"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("train.batch_size"), "{err}");
    }

    #[test]
    fn an_endless_or_unreadable_config_is_a_clear_error_naming_it() {
        let err = Config::load(Some(Path::new("/dev/zero"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero: is a character device, not a regular file"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = anyhow::Error::from(Config::load(Some(dir.path())).unwrap_err());
        let shown = format!("{err:#}");
        assert!(
            shown.ends_with(": is a directory, not a regular file"),
            "{shown}"
        );
        let big = dir.path().join("big.toml");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(2 << 20)
            .unwrap();
        let err = Config::load(Some(&big)).unwrap_err().to_string();
        assert!(
            err.ends_with(": is larger than the 1048576-byte limit"),
            "{err}"
        );
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

//! Dashboard state: everything the views draw, folded from keys and job events by
//! [`super::update::update`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::ablation::{RunResult, VariantRow};
use crate::config::{AblationConfig, Config, KnnInvertConfig, TrainConfig};
use crate::data::{Dataset, DatasetKind, Split};
use crate::inversion::{Frame, GradientOptions, Regularisers, Start, StopReason};
use crate::model::train::{EpochMetrics, Position};
use crate::model::ArchSpec;

use super::keys::Keymap;
use super::results::ResultView;
use super::widgets::halfblock::ColorMode;

/// The dashboard's tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Training,
    Ablation,
    Baselines,
    Confidence,
    Inversion,
}

impl Tab {
    /// Every tab, in display order.
    pub const ALL: [Tab; 5] = [
        Tab::Training,
        Tab::Ablation,
        Tab::Baselines,
        Tab::Confidence,
        Tab::Inversion,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Training => "Training",
            Tab::Ablation => "Ablation",
            Tab::Baselines => "Baselines",
            Tab::Confidence => "Confidence",
            Tab::Inversion => "Inversion",
        }
    }

    /// Position in [`Tab::ALL`].
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }

    /// The tab `delta` places further, wrapping around.
    pub fn shifted(self, delta: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[(self.index() as isize + delta).rem_euclid(n) as usize]
    }
}

/// The data set the dashboard works on.
#[derive(Debug, Clone)]
pub enum DataState {
    Loading,
    Ready(Arc<Dataset>),
    Failed(String),
}

/// Whether a training job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Idle,
    /// Asked to start; waiting for the job to report.
    Starting,
    Running,
    /// Asked to stop; the job checkpoints before it ends.
    Stopping,
    /// Following the events.jsonl of a job in another process (`classgen attach`).
    Attached,
}

/// Live progress of a training job.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub batch: usize,
    pub batches: usize,
    pub images_per_second: f64,
    pub eta_seconds: f64,
}

/// The Training tab.
#[derive(Debug, Clone)]
pub struct TrainingState {
    /// The recipe the next start uses (data set, architecture, epochs, lr and seed are
    /// editable).
    pub config: TrainConfig,
    /// Architectures to choose from: the built-in ones, then config.toml's `[[arch]]`.
    pub archs: Vec<ArchSpec>,
    pub job: JobState,
    /// The run shown: the latest saved one, or the one running.
    pub run_dir: Option<PathBuf>,
    /// Where the shown run stands (epochs complete, batches into the next).
    pub position: Position,
    /// Epochs the shown run is set to reach.
    pub run_epochs: usize,
    /// Per-epoch metrics of the shown run.
    pub history: Vec<EpochMetrics>,
    /// Running mean training loss within each epoch: (epoch as a fraction, loss).
    pub loss_curve: Vec<(f64, f64)>,
    /// Running training accuracy within each epoch: (epoch as a fraction, accuracy in %).
    pub acc_curve: Vec<(f64, f64)>,
    pub progress: Option<Progress>,
}

/// Most points kept per live curve; beyond it every other point is dropped.
pub const MAX_CURVE_POINTS: usize = 2000;

/// Most points kept in the p(target) and gradient-norm histories.
pub const MAX_SPARK_POINTS: usize = 4000;

/// The classifier the Inversion tab inverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvModel {
    /// The CNN of the run shown on the Training tab (gradient inversion).
    Cnn,
    /// k-NN over the training split (pseudo-gradient inversion).
    Knn,
}

impl InvModel {
    /// Short name, for the screen and file names.
    pub fn name(self) -> &'static str {
        match self {
            InvModel::Cnn => "cnn",
            InvModel::Knn => "knn",
        }
    }
}

/// Where an inversion starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The test image `InversionState::image`.
    Test,
    /// Uniform noise seeded with `InversionState::noise_seed`.
    Noise,
    /// All zeros.
    Blank,
}

/// Regularisers the `R` key turns on when config.toml sets none.
pub const DEFAULT_REGULARISERS: Regularisers = Regularisers {
    tv: 0.05,
    l2: 0.01,
    blur: 0.5,
    blur_every: 4,
    jitter: 1,
};

/// The Inversion tab: source, settings, and the state the worker reports.
#[derive(Debug, Clone)]
pub struct InversionState {
    pub model: InvModel,
    pub source: SourceKind,
    /// Index of the source image in the test split.
    pub image: usize,
    pub noise_seed: u64,
    /// Regularisers applied when on (`options.reg` is these or none).
    pub reg_preset: Regularisers,
    /// The k-NN inverter's settings (`[invert.knn]`), its k and index settings.
    pub knn: KnnInvertConfig,
    pub knn_k: usize,
    pub knn_pca_dims: usize,
    pub knn_seed: u64,
    /// Target, loss, step kind, lr and stop rules.
    pub options: GradientOptions,
    /// Id of the inversion the worker runs; frames of older ones are ignored.
    pub id: u64,
    /// The worker holds an inversion of the current source (else Run starts one).
    pub active: bool,
    pub running: bool,
    /// The latest frame of the current inversion.
    pub frame: Option<Frame>,
    pub p_target: Vec<f32>,
    pub grad_norm: Vec<f32>,
    pub stopped: Option<StopReason>,
    /// Where `s` writes, and how.
    pub snapshots: PathBuf,
    pub scale: u32,
    pub strip: usize,
}

impl InversionState {
    /// Forgets the current inversion (the next run starts over).
    pub fn clear(&mut self) {
        self.active = false;
        self.running = false;
        self.frame = None;
        self.p_target.clear();
        self.grad_norm.clear();
        self.stopped = None;
    }
}

/// A study the dashboard runs (or ran this session).
#[derive(Debug, Clone, Default)]
pub struct AblationRun {
    pub dir: Option<PathBuf>,
    /// Variant x seed runs planned, and finished so far (reused ones included).
    pub total: usize,
    pub finished: usize,
    /// Variants in table order, and the seeds each is trained with.
    pub order: Vec<String>,
    pub seeds: usize,
    /// The run in flight: variant, seed, and its progress (epoch, epochs, batch, batches).
    pub current: Option<(String, u64, Progress)>,
    pub results: Vec<RunResult>,
    /// The table of `results` (mean ± std, delta and Welch's test against `seed`).
    pub rows: Vec<VariantRow>,
}

/// The Ablation tab: the study it can start, and its live state.
#[derive(Debug, Clone)]
pub struct AblationState {
    /// `[ablation]` of the config (variants, seeds, epochs).
    pub config: AblationConfig,
    /// `[train]` of the config: the recipe of every run (as `classgen ablate` uses it, so both
    /// find the same study directory).
    pub recipe: TrainConfig,
    pub job: JobState,
    /// The live (or last) study of this session; `None` shows the saved result.
    pub run: Option<AblationRun>,
}

/// Saved results of the other jobs, as found under `runs/` at start.
#[derive(Debug, Clone, Default)]
pub struct SavedResults {
    pub ablation: Option<ResultView>,
    pub baselines: Option<ResultView>,
    pub confidence: Option<ResultView>,
}

/// The whole dashboard state.
#[derive(Debug, Clone)]
pub struct App {
    pub tab: Tab,
    pub show_help: bool,
    /// The "quit while a job runs?" question is open.
    pub confirm_quit: bool,
    pub quit: bool,
    /// The last message for the user (errors, saved paths, notices).
    pub status: String,
    pub data: DataState,
    /// The data set loaded or being loaded (the Training tab switches it).
    pub dataset_kind: DatasetKind,
    pub training: TrainingState,
    pub ablation: AblationState,
    pub inversion: InversionState,
    pub results: SavedResults,
    /// The key table in use (config.toml's `[keys]` applied).
    pub keys: Keymap,
    pub color: ColorMode,
    pub runs_dir: PathBuf,
    /// Device for the models the dashboard runs (`train.device`).
    pub device: String,
}

impl App {
    /// A fresh dashboard for `config`; data loading and saved runs arrive as messages. A
    /// `[keys]` section that does not apply (already rejected by config validation) is ignored.
    pub fn new(config: &Config, color: ColorMode) -> Self {
        let archs = ArchSpec::builtins()
            .into_iter()
            .map(|(a, _)| a)
            .chain(config.archs.iter().cloned())
            .collect();
        Self {
            tab: Tab::Training,
            show_help: false,
            confirm_quit: false,
            quit: false,
            status: "loading data...".into(),
            data: DataState::Loading,
            dataset_kind: config.data.dataset,
            training: TrainingState {
                config: config.train.clone(),
                archs,
                job: JobState::Idle,
                run_dir: None,
                position: Position::default(),
                run_epochs: config.train.epochs,
                history: Vec::new(),
                loss_curve: Vec::new(),
                acc_curve: Vec::new(),
                progress: None,
            },
            ablation: AblationState {
                config: config.ablation.clone(),
                recipe: config.train.clone(),
                job: JobState::Idle,
                run: None,
            },
            inversion: InversionState {
                model: InvModel::Cnn,
                source: SourceKind::Test,
                image: 0,
                noise_seed: config.invert.seed,
                reg_preset: if config.invert.reg.any() {
                    config.invert.reg
                } else {
                    DEFAULT_REGULARISERS
                },
                knn: config.invert.knn.clone(),
                knn_k: config.baselines.k,
                knn_pca_dims: config.baselines.knn_pca_dims,
                knn_seed: config.baselines.seed,
                options: config.invert.options(0),
                id: 0,
                active: false,
                running: false,
                frame: None,
                p_target: Vec::new(),
                grad_norm: Vec::new(),
                stopped: None,
                snapshots: config.paths.snapshots.clone(),
                scale: config.invert.scale,
                strip: config.invert.strip,
            },
            results: SavedResults::default(),
            keys: Keymap::new(&config.keys).unwrap_or_default(),
            color,
            runs_dir: config.paths.runs.clone(),
            device: config.train.device.clone(),
        }
    }

    /// Whether a job of this process is running (quitting then asks first).
    pub fn job_running(&self) -> bool {
        !matches!(self.training.job, JobState::Idle | JobState::Attached)
            || self.ablation.job != JobState::Idle
            || self.inversion.running
    }

    /// Whether a training or ablation job of this process runs (they share the cores).
    pub fn training_busy(&self) -> bool {
        !matches!(self.training.job, JobState::Idle | JobState::Attached)
            || self.ablation.job != JobState::Idle
    }

    /// The start image of the inversion (784 pixels in [0,1]); `None` while a test image is
    /// wanted but there is none (data loading, or an empty split).
    pub fn source_pixels(&self) -> Option<Vec<f32>> {
        let inv = &self.inversion;
        let start = match inv.source {
            SourceKind::Test => Start::Test(inv.image),
            SourceKind::Noise => Start::Noise(inv.noise_seed),
            SourceKind::Blank => Start::Blank,
        };
        let empty = Split {
            images: Vec::new(),
            labels: Vec::new(),
        };
        let test = self.dataset().map_or(&empty, |d| &d.test);
        let no_model = |_: &[u8]| -> anyhow::Result<Vec<f32>> { Ok(Vec::new()) };
        start.resolve(test, &no_model, 1.0).ok().map(|s| s.pixels)
    }

    /// The source for file names: `test-17`, `noise-3`, `blank`.
    pub fn source_tag(&self) -> String {
        let inv = &self.inversion;
        match inv.source {
            SourceKind::Test => format!("test-{}", inv.image),
            SourceKind::Noise => format!("noise-{}", inv.noise_seed),
            SourceKind::Blank => "blank".into(),
        }
    }

    /// The loaded data set, if ready.
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        match &self.data {
            DataState::Ready(d) => Some(d),
            _ => None,
        }
    }
}

//! Dashboard state: everything the views draw, folded from keys and job events by
//! [`super::update::update`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, TrainConfig};
use crate::data::Dataset;
use crate::inversion::{Frame, GradientOptions, StopReason};
use crate::model::train::{EpochMetrics, Position};

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
    /// The recipe the next start uses (epochs, lr and seed are editable).
    pub config: TrainConfig,
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

/// The Inversion tab: source, settings, and the state the worker reports.
#[derive(Debug, Clone)]
pub struct InversionState {
    /// Index of the source image in the test split.
    pub image: usize,
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
    pub training: TrainingState,
    pub inversion: InversionState,
    pub results: SavedResults,
    pub color: ColorMode,
    pub runs_dir: PathBuf,
    /// Device for the models the dashboard runs (`train.device`).
    pub device: String,
}

impl App {
    /// A fresh dashboard for `config`; data loading and saved runs arrive as messages.
    pub fn new(config: &Config, color: ColorMode) -> Self {
        Self {
            tab: Tab::Training,
            show_help: false,
            confirm_quit: false,
            quit: false,
            status: "loading data...".into(),
            data: DataState::Loading,
            training: TrainingState {
                config: config.train.clone(),
                job: JobState::Idle,
                run_dir: None,
                position: Position::default(),
                run_epochs: config.train.epochs,
                history: Vec::new(),
                loss_curve: Vec::new(),
                acc_curve: Vec::new(),
                progress: None,
            },
            inversion: InversionState {
                image: 0,
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
            color,
            runs_dir: config.paths.runs.clone(),
            device: config.train.device.clone(),
        }
    }

    /// Whether a job is running (quitting then asks first).
    pub fn job_running(&self) -> bool {
        self.training.job != JobState::Idle || self.inversion.running
    }

    /// The loaded data set, if ready.
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        match &self.data {
            DataState::Ready(d) => Some(d),
            _ => None,
        }
    }
}

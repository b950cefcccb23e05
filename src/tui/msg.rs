//! What changes the dashboard ([`Msg`]: keys, the mouse, job events wrapped as they come) and
//! what the state asks of the event loop ([`Command`]: start and stop jobs, load things).

use std::path::PathBuf;
use std::sync::Arc;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::baselines::BaselineKind;
use crate::data::{Dataset, DatasetKind};
use crate::explain::{Settings as ExplainSettings, Target};
use crate::inversion::{GradientOptions, Start};
use crate::jobs::ablate::{AblationEvent, AblationPlan, AblationResult};
use crate::jobs::baselines::{BaselinesEvent, BaselinesResult};
use crate::jobs::confidence::{ConfidenceEvent, ConfidenceResult, ModelName};
use crate::jobs::explain::{ExplainEvent, ExplainResult, ModelChoice};
use crate::jobs::explain_session::{ExplainRequest, SessionEvent};
use crate::jobs::invert::{InvEvent, InvRequest, SnapshotSettings};
use crate::jobs::invert_sweep::{SweepEvent, SweepResult};
use crate::jobs::robustness::{RobustnessEvent, RobustnessResult};
use crate::jobs::train::{TrainPlan, TrainResult};
use crate::model::train::{EpochMetrics, TrainEvent};
use crate::runs::{DamagedRun, RunInfo};

/// The jobs the dashboard runs, one of each kind at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Train,
    Ablate,
    Baselines,
    Confidence,
    Robustness,
    Explain,
    /// The Inversion tab's learning-rate x start sweep.
    InvertSweep,
}

/// Everything that can change the dashboard.
#[derive(Debug)]
// Each message moves once through a channel; boxing its payloads would only add allocations.
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The data set finished loading (with a notice if the source was a fallback), or failed.
    DataLoaded(Result<(Arc<Dataset>, Option<String>), String>),
    /// The runs under the runs directory, newest first.
    Runs(Vec<RunInfo>),
    /// The damaged runs there (sent before [`Msg::Runs`]).
    DamagedRuns(Vec<DamagedRun>),
    /// The per-epoch history of a training run (for compared curves).
    History(PathBuf, Vec<EpochMetrics>),
    /// The newest saved result of each job on the data in use (and the active CNN).
    Saved(Box<Saved>),
    /// A job started writing this run.
    Started(JobKind, RunInfo),
    Train(TrainEvent),
    TrainEnded(Result<TrainResult, String>),
    Ablation(AblationEvent),
    AblationEnded(Result<AblationResult, String>),
    Baselines(BaselinesEvent),
    BaselinesEnded(Result<BaselinesResult, String>),
    Confidence(ConfidenceEvent),
    ConfidenceEnded(Result<ConfidenceResult, String>),
    Robustness(RobustnessEvent),
    RobustnessEnded(Result<RobustnessResult, String>),
    Inversion(InvEvent),
    /// The Inversion tab's sweep job.
    Sweep(SweepEvent),
    SweepEnded(Result<SweepResult, String>),
    /// The explain session's answers (the Explain tab's maps).
    ExplainSession(SessionEvent),
    /// The explain job (faithfulness and sanity tables).
    Explain(ExplainEvent),
    ExplainEnded(Result<ExplainResult, String>),
    /// `classgen attach`: the dashboard follows the events of this training run.
    Attached(RunInfo),
    /// Following the attached run's log failed.
    AttachLost(String),
    /// A job could not start (the kind and why).
    StartFailed(JobKind, String),
    /// An image file to invert was read (its start image) or not.
    Imported(Result<crate::inversion::StartImage, String>),
    /// A notice, and an error, for the message log.
    Notice(String),
    Failure(String),
    /// SIGTERM, SIGHUP, SIGINT or a terminal that went away: leave now, checkpointing; the
    /// process then exits with `status` (143, 129, 130; 129 for a lost terminal, as SIGHUP).
    Terminate {
        reason: String,
        status: u8,
    },
    /// Every [`RELOAD_EVERY`]: look again at what other processes write (runs, study cells).
    Reload,
    /// The newest study on the data in use, read again ([`Command::ReloadStudy`]).
    /// With how many of its cells other processes hold now (running elsewhere).
    StudyReloaded(Option<Box<(RunInfo, AblationResult, usize)>>),
}

/// How often the dashboard looks for runs and study cells that other processes write.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Saved results found for the data in use.
#[derive(Debug, Default)]
pub struct Saved {
    pub ablation: Option<(RunInfo, AblationResult)>,
    pub baselines: Option<(RunInfo, BaselinesResult)>,
    pub confidence: Option<(RunInfo, ConfidenceResult)>,
    pub robustness: Option<(RunInfo, RobustnessResult)>,
    /// The newest explain run with tables (faithfulness or sanity).
    pub explain: Option<(RunInfo, ExplainResult)>,
}

/// Effects the state asks the event loop for.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Loads a data set (it arrives as [`Msg::DataLoaded`]).
    LoadData(DatasetKind),
    /// Lists the runs again ([`Msg::Runs`]).
    RefreshRuns,
    /// Reads a training run's history ([`Msg::History`]).
    LoadHistory(PathBuf),
    /// Finds the saved results for the data in use and the active CNN ([`Msg::Saved`]).
    LoadSaved,
    /// Reads the newest study on the data in use again ([`Msg::StudyReloaded`]).
    ReloadStudy,
    StartTraining(Box<TrainPlan>),
    StartAblation(AblationPlan),
    /// Fits `models` (and scores the CNN of `cnn`), keeping the other rows of `carry`.
    StartBaselines {
        models: Vec<BaselineKind>,
        cnn: Option<RunInfo>,
        carry: Option<RunInfo>,
    },
    StartConfidence {
        models: Vec<ModelName>,
        cnn: Option<RunInfo>,
    },
    StartRobustness {
        cnn: Option<RunInfo>,
        /// The baselines to measure too (those chosen on the Baselines tab).
        baselines: Vec<crate::baselines::BaselineKind>,
        attack_images: usize,
    },
    Cancel(JobKind),
    /// The Explain tab's maps, from the explain session.
    Explain(ExplainRequest),
    /// The faithfulness table over `images` test images and, for the CNN, the sanity check of
    /// `image` (tag, label, pixels), as an explain run.
    StartExplain {
        cnn: Option<RunInfo>,
        model: ModelChoice,
        image: (String, Option<usize>, Vec<f32>),
        target: Target,
        settings: ExplainSettings,
        images: usize,
    },
    /// Requests for the inversion session, in order.
    Invert(Vec<InvRequest>),
    /// The sweep of CNN `cnn`: one inversion per (lr, start) with `options` (its target among
    /// them), the grid written with `snapshots`.
    StartSweep {
        cnn: RunInfo,
        lrs: Vec<f32>,
        starts: Vec<Start>,
        options: GradientOptions,
        confidence: f32,
        snapshots: SnapshotSettings,
    },
    /// The active CNN's probabilities of a drawing (an `InvEvent::Classified`).
    ClassifyCanvas {
        id: u64,
        run: RunInfo,
        pixels: Vec<f32>,
    },
    /// Reads an image file for the Inversion tab ([`Msg::Imported`]).
    ImportFile(PathBuf),
    /// Saves the canvas (ink in [0,1]) as a 28x28 PNG in the snapshot folder.
    SaveDrawing(Vec<f32>),
    /// Ctrl-Z: give the terminal back and stop the process until SIGCONT.
    Suspend,
    /// Writes each chart as PNG and SVG into the snapshot folder, named after its stem.
    ExportCharts(Vec<(crate::text::charts::Figure, String)>),
}

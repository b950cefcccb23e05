//! Dashboard state: what every view draws, folded from keys and job events by
//! [`super::update::update`]. Each tab keeps its own state in its module under `tabs/`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::data::{Dataset, DatasetKind};
use crate::runs::{DataIdentity, RunInfo, RunKind, RunStore};

use super::keys::Keymap;
use super::messages::Messages;
use super::tabs::{
    ablation::AblationTab, baselines::BaselinesTab, confidence::ConfidenceTab, draw::DrawTab,
    explain::ExplainTab, inversion::InversionTab, robustness::RobustnessTab, runs::RunsTab,
    training::TrainingTab,
};
use super::widgets::halfblock::ColorMode;

/// The dashboard's tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Training,
    Runs,
    Ablation,
    Baselines,
    Confidence,
    Robustness,
    Inversion,
    Draw,
    Explain,
}

impl Tab {
    /// Every tab, in display order.
    pub const ALL: [Tab; 9] = [
        Tab::Training,
        Tab::Runs,
        Tab::Ablation,
        Tab::Baselines,
        Tab::Confidence,
        Tab::Robustness,
        Tab::Inversion,
        Tab::Draw,
        Tab::Explain,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Training => "Training",
            Tab::Runs => "Runs",
            Tab::Ablation => "Ablation",
            Tab::Baselines => "Baselines",
            Tab::Confidence => "Confidence",
            Tab::Robustness => "Robustness",
            Tab::Inversion => "Inversion",
            Tab::Draw => "Draw",
            Tab::Explain => "Explain",
        }
    }

    /// A short title for narrow terminals.
    pub fn short(self) -> &'static str {
        match self {
            Tab::Training => "Train",
            Tab::Runs => "Runs",
            Tab::Ablation => "Ablate",
            Tab::Baselines => "Base",
            Tab::Confidence => "Conf",
            Tab::Robustness => "Robust",
            Tab::Inversion => "Invert",
            Tab::Draw => "Draw",
            Tab::Explain => "Expl",
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

/// What is drawn over the tab.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    /// "Quit while a job runs?"
    ConfirmQuit,
    /// Every message, newest last; `scroll` lines up from the bottom.
    Messages {
        scroll: usize,
    },
    /// A line of text being typed (an image path).
    Prompt(Prompt),
}

/// A text prompt: what it asks, what was typed, and what Enter does with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub title: String,
    pub text: String,
    /// Completions of the text, cycled with Tab.
    pub completions: Vec<String>,
    pub purpose: PromptPurpose,
}

/// What a prompt's answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptPurpose {
    /// An image file to invert.
    ImageFile,
}

/// Settings the tabs build their jobs from (`config.toml` with the flags applied).
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub store: RunStore,
    pub snapshots: PathBuf,
}

/// The whole dashboard state.
#[derive(Debug)]
pub struct App {
    pub tab: Tab,
    pub overlay: Overlay,
    pub quit: bool,
    /// The exit status a signal asked for (the dashboard then exits with it, as commands do).
    pub signalled: Option<u8>,
    /// Every notice and error, kept whole; the status line shows the newest.
    pub messages: Messages,
    pub data: DataState,
    /// The data set loaded or being loaded.
    pub dataset_kind: DatasetKind,
    /// The CNN every tab uses: a finished (or named) training run on the data in use.
    pub active: Option<RunInfo>,
    /// The run `--run` named, made active once the data is in.
    pub wanted_run: Option<String>,
    pub training: TrainingTab,
    pub runs: RunsTab,
    pub ablation: AblationTab,
    pub baselines: BaselinesTab,
    pub confidence: ConfidenceTab,
    pub robustness: RobustnessTab,
    pub inversion: InversionTab,
    pub draw: DrawTab,
    pub explain: ExplainTab,
    /// The key table in use (config.toml's `[keys]` applied).
    pub keys: Keymap,
    pub color: ColorMode,
    pub settings: Settings,
    /// The terminal's size at the last draw; below 80x24 only the quit keys act.
    pub screen: (u16, u16),
}

impl App {
    /// The names of the classes of the data in use (Fashion-MNIST's by name, MNIST's digits).
    pub fn class_names(&self) -> [&'static str; crate::data::CLASSES] {
        self.dataset()
            .map(|d| d.class_names())
            .unwrap_or(self.dataset_kind.class_names())
    }

    /// A fresh dashboard for `config` with the key table `keys`; data, runs and saved results
    /// arrive as messages.
    pub fn new(config: &Config, keys: Keymap, color: ColorMode) -> Self {
        let settings = Settings {
            config: config.clone(),
            store: RunStore::new(&config.paths.runs),
            snapshots: config.paths.snapshots.clone(),
        };
        Self {
            tab: Tab::Training,
            overlay: Overlay::None,
            quit: false,
            signalled: None,
            messages: Messages::default(),
            data: DataState::Loading,
            dataset_kind: config.data.dataset,
            active: None,
            wanted_run: None,
            training: TrainingTab::new(config),
            runs: RunsTab::default(),
            ablation: AblationTab::new(config),
            baselines: BaselinesTab::new(config),
            confidence: ConfidenceTab::default(),
            robustness: RobustnessTab::new(config),
            inversion: InversionTab::new(config),
            draw: DrawTab::default(),
            explain: ExplainTab::default(),
            keys,
            color,
            settings,
            screen: (80, 24),
        }
    }

    /// The loaded data set, if ready.
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        match &self.data {
            DataState::Ready(d) => Some(d),
            _ => None,
        }
    }

    /// The identity of the data in use, once loaded.
    pub fn identity(&self) -> Option<DataIdentity> {
        self.dataset().map(|d| DataIdentity::of(d))
    }

    /// Whether a job of this process runs (quitting then asks first).
    pub fn job_running(&self) -> bool {
        self.training.busy()
            || self.ablation.busy()
            || self.baselines.busy()
            || self.confidence.busy()
            || self.robustness.busy()
            || self.explain.busy()
            || self.inversion.running
            || self.inversion.sweep.busy()
    }

    /// Whether a job that trains, fits or sweeps is running (they share the cores and the data
    /// set).
    pub fn heavy_job_running(&self) -> bool {
        self.training.busy()
            || self.ablation.busy()
            || self.baselines.busy()
            || self.confidence.busy()
            || self.robustness.busy()
            || self.explain.busy()
            || self.inversion.sweep.busy()
    }

    /// Whether a training run could be made the active model now: a training run on the data
    /// set in use. The error says why not.
    pub fn can_activate(&self, run: &RunInfo) -> Result<(), String> {
        if run.record.kind != RunKind::Train {
            return Err(format!(
                "{} is a {} run, not a CNN",
                run.name, run.record.kind
            ));
        }
        if run.record.data.dataset != self.dataset_kind {
            return Err(format!(
                "{} was trained on {}; the data in use is {} (d on the Training tab switches)",
                run.name, run.record.data.dataset, self.dataset_kind
            ));
        }
        Ok(())
    }

    /// A one-line description of the active model for the header.
    pub fn active_label(&self) -> String {
        match &self.active {
            Some(run) => {
                let cnn = run.record.cnn.as_ref();
                let arch = cnn.map_or("?".into(), |c| c.arch.clone());
                let accuracy = cnn
                    .and_then(|c| c.test_accuracy)
                    .map_or("-".into(), |a| format!("{:.2} %", 100.0 * a));
                format!("{} ({arch}, {accuracy})", run.name)
            }
            None => "none: train one (1, s) or pick one (2, Enter)".into(),
        }
    }
}

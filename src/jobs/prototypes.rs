//! The noise prototypes job: every target from seeded noise, plain and regularised, and the
//! share of the images that independently trained models also classify as the target (the
//! inverted CNN itself, a CNN trained with another seed, the k-NN).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::invert::{InvertModel, SnapshotSettings};
use super::invert_grid::{grid_rows, Cancelled};
use super::models::CnnModel;
use super::{Job, JobEvent, Outcome, Reporter};
use crate::baselines::BaselinesConfig;
use crate::config::{InvertConfig, PrototypeConfig};
use crate::data::Dataset;
use crate::inversion::grid::{self, Cell, Summary};
use crate::inversion::prototype::{self, Agreement};
use crate::inversion::{GradientInverter, GradientOptions, Inverter, Regularisers};
use crate::runs::{DataIdentity, ModelRef, Run, RunInfo, RunKind, RunState, RunStore};
use crate::snapshot;

/// Test images whose distance to the nearest training image is the reference.
const REFERENCE_IMAGES: usize = 500;

/// One mode's images and what the classifiers make of them.
#[derive(Debug, Clone, Serialize)]
pub struct ModeResult {
    /// `plain` or `regularised`.
    pub mode: String,
    pub reg: Regularisers,
    pub summary: Summary,
    pub cells: Vec<Cell>,
    /// The inverted CNN, the CNN trained with another seed (if any), the k-NN.
    pub own_cnn: Agreement,
    pub other_cnn: Option<Agreement>,
    pub knn: Agreement,
    /// Median distance of the images to their nearest training image.
    pub median_nearest_distance: Option<f64>,
    pub snapshot: PathBuf,
    pub seconds: f64,
}

/// `result.json` of a prototypes run.
#[derive(Debug, Clone, Serialize)]
pub struct PrototypesResult {
    pub model: String,
    pub model_run: ModelRef,
    pub judge_cnn: Option<ModelRef>,
    pub options: GradientOptions,
    pub starts: usize,
    pub first_seed: u64,
    pub knn_k: usize,
    /// The same distance for real test images, for reference.
    pub test_median_nearest_distance: Option<f64>,
    pub reference_images: usize,
    pub modes: Vec<ModeResult>,
    pub complete: bool,
}

/// What the prototypes job reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PrototypesEvent {
    /// `done` of `total` inversions of `mode` finished.
    Progress {
        mode: String,
        done: usize,
        total: usize,
    },
    ModeDone(Box<ModeResult>),
    Notice {
        message: String,
    },
}

impl JobEvent for PrototypesEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }

    fn progress(&self) -> Option<(usize, usize)> {
        match self {
            Self::Progress { done, total, .. } => Some((*done, *total)),
            _ => None,
        }
    }
}

/// The study to run.
#[derive(Clone)]
pub struct PrototypesPlan {
    pub cnn: CnnModel,
    /// The CNN that judges (another seed), if any.
    pub judge: Option<CnnModel>,
    pub settings: PrototypeConfig,
    pub invert: InvertConfig,
    pub knn: BaselinesConfig,
    pub snapshots: SnapshotSettings,
}

/// A CNN to judge `model`'s inversions: the newest finished training run on the same data,
/// other than `model`, trained with another seed.
pub fn find_judge(store: &RunStore, model: &CnnModel) -> Option<RunInfo> {
    let seed = model.meta.recipe.seed;
    store.newest(RunKind::Train, |r| {
        r.dir != model.run.dir
            && r.state() == RunState::Finished
            && r.record.data.same_data(&model.run.record.data)
            && r.record.cnn.as_ref().is_some_and(|c| c.seed != seed)
    })
}

/// Starts the study in a new run.
pub fn spawn(
    plan: PrototypesPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<PrototypesEvent, PrototypesResult>> {
    let identity = DataIdentity::of(&data);
    plan.cnn.check_data(&identity)?;
    if let Some(judge) = &plan.judge {
        judge.check_data(&identity)?;
    }
    super::spawn_in_new_run(
        RunKind::Prototypes,
        store,
        identity,
        Some(plan.cnn.model_ref()),
        cancel,
        move |run, reporter, cancel| study(&plan, &data, run, reporter, cancel),
    )
}

fn study(
    plan: &PrototypesPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<PrototypesEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<PrototypesResult> {
    let p = &plan.settings;
    let net = &plan.cnn.network;
    let tag = plan.cnn.tag();
    let knn = InvertModel::knn(data, &plan.knn)?;
    let InvertModel::Knn { index, k, .. } = &knn else {
        anyhow::bail!("the k-NN judge is not a k-NN");
    };
    let real = data.test.head(REFERENCE_IMAGES.min(data.test.len()));
    let mut result = PrototypesResult {
        model: tag.clone(),
        model_run: plan.cnn.model_ref(),
        judge_cnn: plan.judge.as_ref().map(CnnModel::model_ref),
        options: p.options(&plan.invert, 0, Regularisers::default()),
        starts: p.starts,
        first_seed: p.first_seed,
        knn_k: *k,
        test_median_nearest_distance: prototype::median_nearest_distance(index, &real.images),
        reference_images: real.len(),
        modes: Vec::new(),
        complete: false,
    };
    let sources = prototype::noise_starts(p.first_seed, p.starts);
    let judge = |model: &CnnModel| {
        let net = model.network.clone();
        move |px: &[u8]| -> anyhow::Result<Vec<f32>> { Ok(net.predict_proba(px, 256)?) }
    };
    for (mode, reg) in [("plain", Regularisers::default()), ("regularised", p.reg)] {
        let started = Instant::now();
        let cells = grid::run(
            &sources,
            |source, target| {
                if cancel.load(Ordering::Relaxed) {
                    anyhow::bail!(Cancelled);
                }
                let options = p.options(&plan.invert, target, reg);
                let inverter = GradientInverter::new(net.clone(), source.pixels.clone(), options)?;
                Ok(Box::new(inverter) as Box<dyn Inverter>)
            },
            |done, total| {
                reporter.emit(PrototypesEvent::Progress {
                    mode: mode.into(),
                    done,
                    total,
                })
            },
        );
        let cells = match cells {
            Err(e) if e.is::<Cancelled>() => return Ok(result),
            other => other?,
        };
        let seconds = started.elapsed().as_secs_f64();
        let method = match reg.tag() {
            t if t.is_empty() => "plain".to_string(),
            t => t,
        };
        let seeds: Vec<String> = (0..sources.len())
            .map(|i| (p.first_seed + i as u64).to_string())
            .collect();
        let png = snapshot::write_png_unique(
            &plan.snapshots.dir,
            &snapshot::file_name(&[
                run.name(),
                &tag,
                "grid",
                &format!("noise{}x{}", p.first_seed, p.starts),
                &format!("{}-{}-lr{}", p.loss.name(), plan.invert.step.name(), p.lr),
                &method,
            ]),
            &snapshot::labelled_grid(&grid_rows(&cells), &seeds, plan.snapshots.scale),
        )?;
        let knn_judge = |px: &[u8]| Ok(index.predict_proba_u8(px, *k));
        let mode_result = ModeResult {
            mode: mode.into(),
            reg,
            summary: grid::summarise(&cells),
            own_cnn: prototype::agreement(&cells, &judge(&plan.cnn))?,
            other_cnn: match &plan.judge {
                Some(j) => Some(prototype::agreement(&cells, &judge(j))?),
                None => None,
            },
            knn: prototype::agreement(&cells, &knn_judge)?,
            median_nearest_distance: prototype::median_nearest_distance(
                index,
                &prototype::final_images(&cells),
            ),
            cells,
            snapshot: png,
            seconds,
        };
        result.modes.push(mode_result.clone());
        run.write_result(&result)?;
        reporter.emit(PrototypesEvent::ModeDone(Box::new(mode_result)));
    }
    result.complete = true;
    run.write_result(&result)?;
    Ok(result)
}

impl Outcome for PrototypesResult {
    fn complete(&self) -> bool {
        self.complete
    }
}

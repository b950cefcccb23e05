//! The inversion grid job: the first confident test image of every class inverted to every
//! target, for each method; a grid PNG and a summary per method.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::invert::{InvertModel, Method, SnapshotSettings};
use super::{Job, JobEvent, Outcome, Reporter};
use crate::data::{Dataset, CLASSES};
use crate::inversion::grid::{self, Cell, Summary};
use crate::inversion::{start, Inverter, Start, StartImage};
use crate::runs::{DataIdentity, ModelRef, Run, RunKind, RunStore};
use crate::snapshot;

/// One method's grid.
#[derive(Debug, Clone, Serialize)]
pub struct MethodGrid {
    pub method: String,
    pub threshold: f32,
    pub summary: Summary,
    pub cells: Vec<Cell>,
    pub snapshot: PathBuf,
    pub seconds: f64,
}

/// `result.json` of a grid run.
#[derive(Debug, Clone, Serialize)]
pub struct GridResult {
    pub model: String,
    pub model_run: Option<ModelRef>,
    /// Source images, one per grid row: tag and label.
    pub sources: Vec<(String, Option<usize>)>,
    pub methods: Vec<MethodGrid>,
    pub complete: bool,
}

/// What the grid job reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GridEvent {
    Planned {
        methods: Vec<String>,
        cells: usize,
    },
    /// `done` of `total` inversions of `method` finished.
    Progress {
        method: String,
        done: usize,
        total: usize,
    },
    MethodDone(MethodGrid),
    Notice {
        message: String,
    },
}

impl JobEvent for GridEvent {
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

/// The grid to run.
#[derive(Clone)]
pub struct GridPlan {
    pub model: InvertModel,
    pub methods: Vec<Method>,
    /// A source is the first test image of its class with p >= this.
    pub confidence: f32,
    /// The source classes (rows); `None` for all ten.
    pub classes: Option<Vec<usize>>,
    pub snapshots: SnapshotSettings,
}

/// Sources, one per class that has a confident test image; notices for the others.
pub fn class_sources(
    model: &InvertModel,
    data: &Dataset,
    confidence: f32,
    classes: Option<&[usize]>,
) -> anyhow::Result<(Vec<StartImage>, Vec<String>)> {
    let predict = |pixels: &[u8]| model.predict(pixels);
    let found = start::first_confident(&predict, &data.test, confidence)?;
    let mut sources = Vec::new();
    let mut notices = Vec::new();
    for (class, index) in found.iter().enumerate() {
        if classes.is_some_and(|c| !c.contains(&class)) {
            continue;
        }
        match index {
            Some(i) => sources.push(Start::Test(*i).resolve(&data.test, &predict, confidence)?),
            None => notices.push(format!(
                "class {class}: no test image classified as {class} with p >= {confidence}; row left out"
            )),
        }
    }
    Ok((sources, notices))
}

/// The final image of every cell, one row per source, for [`snapshot::grid`].
pub fn grid_rows(cells: &[Cell]) -> Vec<Vec<Option<&[f32]>>> {
    cells
        .chunks(CLASSES)
        .map(|row| row.iter().map(|c| Some(c.last.pixels.as_slice())).collect())
        .collect()
}

/// Starts the grid in a new run.
pub fn spawn(
    plan: GridPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<GridEvent, GridResult>> {
    super::spawn_in_new_run(
        RunKind::InvertGrid,
        store,
        DataIdentity::of(&data),
        plan.model.model_ref(),
        cancel,
        move |run, reporter, cancel| run_grid(&plan, &data, run, reporter, cancel),
    )
}

fn run_grid(
    plan: &GridPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<GridEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<GridResult> {
    let (sources, notices) =
        class_sources(&plan.model, data, plan.confidence, plan.classes.as_deref())?;
    for n in notices {
        reporter.notice(n);
    }
    let tag = plan.model.tag();
    let mut result = GridResult {
        model: tag.clone(),
        model_run: plan.model.model_ref(),
        sources: sources.iter().map(|s| (s.tag.clone(), s.label)).collect(),
        methods: Vec::new(),
        complete: false,
    };
    reporter.emit(GridEvent::Planned {
        methods: plan.methods.iter().map(Method::tag).collect(),
        cells: sources.len() * CLASSES,
    });
    for method in &plan.methods {
        let method_tag = method.tag();
        let started = Instant::now();
        let cells = grid::run(
            &sources,
            |source, target| {
                if cancel.load(Ordering::Relaxed) {
                    anyhow::bail!(Cancelled);
                }
                let inverter = plan.model.inverter(method, &source.pixels, target)?;
                Ok(Box::new(inverter) as Box<dyn Inverter>)
            },
            |done, total| {
                reporter.emit(GridEvent::Progress {
                    method: method_tag.clone(),
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
        let labels: Vec<String> = sources
            .iter()
            .map(|s| s.label.map_or_else(|| s.tag.clone(), |l| l.to_string()))
            .collect();
        let png = snapshot::write_png_unique(
            &plan.snapshots.dir,
            &snapshot::file_name(&[run.name(), &tag, "grid", "classes-to-all", &method_tag]),
            &snapshot::labelled_grid(&grid_rows(&cells), &labels, plan.snapshots.scale),
        )?;
        let grid = MethodGrid {
            method: method_tag,
            threshold: method.threshold(),
            summary: grid::summarise(&cells),
            cells,
            snapshot: png,
            seconds,
        };
        result.methods.push(grid.clone());
        run.write_result(&result)?;
        reporter.emit(GridEvent::MethodDone(grid));
    }
    result.complete = true;
    run.write_result(&result)?;
    Ok(result)
}

/// The error a grid stops with when cancelled between inversions.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

impl Outcome for GridResult {
    fn complete(&self) -> bool {
        self.complete
    }
}

//! The inversion sweep job (the study's section 3.3): one gradient inversion of a CNN per
//! (learning rate, start) to one target, rows of lrs by columns of starts, in that order. It
//! reports each cell's p(target) curve as it grows, each cell summed up as it ends (with its
//! final image), and the labelled PNG grid of the final images at the end. The science is in
//! [`crate::inversion::sweep`]; `classgen invert --sweep` and the Inversion tab consume this.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::invert::SnapshotSettings;
use super::models::CnnModel;
use super::{Job, JobEvent, Outcome, Reporter};
use crate::data::Dataset;
use crate::inversion::start::StartError;
use crate::inversion::sweep::{self, SweepCell, OSCILLATION_DROP};
use crate::inversion::{Frame, GradientInverter, GradientOptions, Start, StartImage};
use crate::runs::{DataIdentity, ModelRef, Run, RunKind, RunStore};
use crate::snapshot;
use crate::text::plot::tiles::{self, Tile, TileGrid};

/// The study's rates, and its starts: five noise images.
pub const DEFAULT_LRS: [f32; 5] = [0.01, 0.03, 0.1, 0.3, 1.0];
pub const DEFAULT_STARTS: &str = "noise:1-5";

/// A cell reports its curve every this many steps (and at its end).
pub const CURVE_EVERY: usize = 10;

/// Comma-separated starts as `--starts` takes them: `noise:A-B` for a range of noise seeds,
/// or single starts (`noise:SEED`, `test:IDX`, `class:C`, `blank`).
pub fn parse_starts(spec: &str) -> anyhow::Result<Vec<Start>> {
    let mut starts = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let range = item
            .strip_prefix("noise:")
            .and_then(|r| r.split_once('-'))
            .map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>()));
        match range {
            Some((Ok(a), Ok(b))) if a <= b && b - a < 100 => starts.extend((a..=b).map(Start::Noise)),
            Some(_) => anyhow::bail!("--starts: expected noise:A-B with A <= B (at most 100), found '{item}'"),
            None => starts.push(Start::from_str(item).map_err(|e| match e {
                StartError::Syntax(found) => anyhow::anyhow!(
                    "--starts: expected noise:SEED, noise:A-B, test:IDX, class:C or blank, found '{found}'"
                ),
                e => anyhow::anyhow!("--starts: {e}"),
            })?),
        }
    }
    if starts.is_empty() || starts.len() > crate::limits::MAX_STARTS {
        anyhow::bail!(
            "--starts: 1 to {} starts, found {}",
            crate::limits::MAX_STARTS,
            starts.len()
        );
    }
    Ok(starts)
}

/// Fails unless `lrs` holds 1 to [`crate::limits::MAX_LEVELS`] positive rates.
pub fn check_lrs(lrs: &[f32]) -> anyhow::Result<()> {
    if lrs.is_empty() || lrs.len() > crate::limits::MAX_LEVELS {
        anyhow::bail!(
            "--lrs: 1 to {} rates, found {}",
            crate::limits::MAX_LEVELS,
            lrs.len()
        );
    }
    if let Some(bad) = lrs.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
        anyhow::bail!("--lrs: each rate must be a positive number, found {bad}");
    }
    Ok(())
}

/// The sweep to run.
#[derive(Clone)]
pub struct SweepPlan {
    pub cnn: CnnModel,
    pub lrs: Vec<f32>,
    pub starts: Vec<Start>,
    /// Every other setting of each inversion, the target among them (`lr` is the cell's).
    pub options: GradientOptions,
    /// `class:C` starts from the first test image of class C with p >= this.
    pub confidence: f32,
    /// Where the grid goes and its scale.
    pub snapshots: SnapshotSettings,
}

/// What the sweep job reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SweepEvent {
    /// The sweep's shape: its cells are `lrs.len() x starts.len()`, row by row.
    Planned {
        target: usize,
        lrs: Vec<f32>,
        starts: Vec<String>,
        threshold: f32,
        max_steps: usize,
    },
    /// New points of cell `cell`'s p(target) curve, the first of them at step `from`.
    Curve {
        cell: usize,
        from: usize,
        p: Vec<f32>,
        max_steps: usize,
    },
    /// Cell `cell` ended after `steps` updates.
    CellDone {
        cell: usize,
        summary: SweepCell,
        steps: usize,
        /// The final image (not logged: the grid PNG has it).
        #[serde(skip_serializing)]
        image: Vec<f32>,
    },
    /// The PNG grid of the final images was written.
    Grid {
        path: PathBuf,
    },
    Notice {
        message: String,
    },
}

impl JobEvent for SweepEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }

    fn progress(&self) -> Option<(usize, usize)> {
        match self {
            Self::Curve {
                from, p, max_steps, ..
            } => Some((from + p.len(), max_steps + 1)),
            _ => None,
        }
    }
}

/// `result.json` of a sweep run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepResult {
    /// The model's tag (`cnn-<run>`).
    pub model: String,
    pub model_run: Option<ModelRef>,
    pub target: usize,
    pub threshold: f32,
    pub max_steps: usize,
    pub oscillation_drop: f32,
    pub lrs: Vec<f32>,
    pub starts: Vec<String>,
    /// The cells finished, row by row (all of them when complete).
    pub cells: Vec<SweepCell>,
    /// Per lr: how far apart the final images of its starts are (mean, min, max L2).
    pub spread: Vec<Option<(f32, f32, f32)>>,
    /// The PNG grid of the final images (rows: lrs, columns: starts).
    pub grid: Option<PathBuf>,
    pub seconds: f64,
    pub complete: bool,
}

impl Outcome for SweepResult {
    fn complete(&self) -> bool {
        self.complete
    }
}

/// Starts the sweep on `data` (its test split for `test:` and `class:` starts) in a new run.
pub fn spawn(
    plan: SweepPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<SweepEvent, SweepResult>> {
    super::spawn_in_new_run(
        RunKind::InvertSweep,
        store,
        DataIdentity::of(&data),
        Some(plan.cnn.model_ref()),
        cancel,
        move |run, reporter, cancel| run_sweep(&plan, &data, run, reporter, cancel),
    )
}

fn run_sweep(
    plan: &SweepPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<SweepEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<SweepResult> {
    check_lrs(&plan.lrs)?;
    let started = Instant::now();
    let network = &plan.cnn.network;
    let predict = |pixels: &[u8]| Ok(network.predict_proba(pixels, 256)?);
    let images: Vec<StartImage> = plan
        .starts
        .iter()
        .map(|s| {
            s.resolve(&data.test, &predict, plan.confidence)
                .map_err(|e| anyhow::anyhow!("start {s}: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let o = &plan.options;
    let starts: Vec<String> = plan.starts.iter().map(ToString::to_string).collect();
    let mut result = SweepResult {
        model: plan.cnn.tag(),
        model_run: Some(plan.cnn.model_ref()),
        target: o.target,
        threshold: o.threshold,
        max_steps: o.max_steps,
        oscillation_drop: OSCILLATION_DROP,
        lrs: plan.lrs.clone(),
        starts: starts.clone(),
        cells: Vec::new(),
        spread: Vec::new(),
        grid: None,
        seconds: 0.0,
        complete: false,
    };
    reporter.emit(SweepEvent::Planned {
        target: o.target,
        lrs: plan.lrs.clone(),
        starts: starts.clone(),
        threshold: o.threshold,
        max_steps: o.max_steps,
    });
    let mut finals: Vec<Vec<f32>> = Vec::new();
    for &lr in &plan.lrs {
        for (start, image) in starts.iter().zip(&images) {
            let cell = result.cells.len();
            let options = GradientOptions { lr, ..o.clone() };
            let inverter = GradientInverter::new(network.clone(), image.pixels.clone(), options)?;
            let Some((frames, last)) = run_cell(inverter, cell, o.max_steps, reporter, cancel)?
            else {
                result.seconds = started.elapsed().as_secs_f64();
                run.write_result(&result)?;
                return Ok(result);
            };
            let summary = SweepCell::of(lr, start.clone(), &frames, o.threshold);
            reporter.emit(SweepEvent::CellDone {
                cell,
                summary: summary.clone(),
                steps: frames.last().map_or(0, |f| f.step),
                image: last.clone(),
            });
            finals.push(last);
            result.cells.push(summary);
            result.seconds = started.elapsed().as_secs_f64();
            run.write_result(&result)?;
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    result.spread = finals.chunks(starts.len()).map(sweep::spread).collect();
    let png = write_grid(plan, run.name(), &finals)?;
    reporter.emit(SweepEvent::Grid { path: png.clone() });
    result.grid = Some(png);
    result.complete = true;
    run.write_result(&result)?;
    Ok(result)
}

/// Runs one inversion to its stop, reporting its curve every [`CURVE_EVERY`] steps: its frames
/// (without pixels) and its final image, or `None` when cancelled on the way.
fn run_cell(
    mut inverter: GradientInverter,
    cell: usize,
    max_steps: usize,
    reporter: &Reporter<SweepEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<Option<(Vec<Frame>, Vec<f32>)>> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut last = Vec::new();
    let mut sent = 0;
    let report = |frames: &[Frame], sent: &mut usize| {
        if *sent < frames.len() {
            reporter.emit(SweepEvent::Curve {
                cell,
                from: *sent,
                p: frames[*sent..].iter().map(|f| f.p_target).collect(),
                max_steps,
            });
            *sent = frames.len();
        }
    };
    while inverter.stop_reason().is_none() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let frame = inverter.step()?;
        last.clone_from(&frame.pixels);
        frames.push(Frame {
            pixels: Vec::new(),
            ..frame
        });
        if frames.len() - sent >= CURVE_EVERY {
            report(&frames, &mut sent);
        }
    }
    report(&frames, &mut sent);
    Ok(Some((frames, last)))
}

/// Writes the grid of final images: a row per lr, a column per start, both named, as a
/// picture named after the sweep's run (as every snapshot).
fn write_grid(plan: &SweepPlan, run: &str, finals: &[Vec<f32>]) -> anyhow::Result<PathBuf> {
    let columns = plan.starts.iter().map(ToString::to_string).collect();
    let rows = finals
        .chunks(plan.starts.len())
        .zip(&plan.lrs)
        .map(|(row, lr)| {
            let tiles = row.iter().map(|p| Tile::Grey(p)).collect();
            (format!("lr {lr}"), tiles)
        })
        .collect();
    let bytes = tiles::png(&TileGrid { columns, rows })?;
    let name = snapshot::file_name(&[run, &plan.cnn.tag(), &format!("to{}", plan.options.target)]);
    std::fs::create_dir_all(&plan.snapshots.dir)
        .with_context(|| format!("creating {}", plan.snapshots.dir.display()))?;
    snapshot::write_png_bytes(&plan.snapshots.dir, &name, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_take_ranges_of_noise_and_single_starts() {
        let starts = parse_starts("noise:1-3,test:7,blank").unwrap();
        assert_eq!(
            starts,
            [
                Start::Noise(1),
                Start::Noise(2),
                Start::Noise(3),
                Start::Test(7),
                Start::Blank
            ]
        );
        assert!(parse_starts("noise:3-1")
            .unwrap_err()
            .to_string()
            .contains("noise:A-B"));
        assert!(parse_starts("pink")
            .unwrap_err()
            .to_string()
            .contains("found 'pink'"));
    }

    #[test]
    fn rates_must_be_positive_and_few() {
        assert!(check_lrs(&DEFAULT_LRS).is_ok());
        assert!(check_lrs(&[]).is_err());
        assert!(check_lrs(&[0.1, 0.0])
            .unwrap_err()
            .to_string()
            .contains("found 0"));
    }
}

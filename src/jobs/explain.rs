//! The explain job: attribution maps of a few images by one model, a labelled PNG grid
//! (images x methods), and on request the faithfulness table and the sanity check, saved as
//! the run's result. A dashboard tab calls [`spawn`] with [`Source::Pixels`] for an image it
//! holds (the drawing, the inversion's current image) and reads [`ExplainEvent::Explained`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::explain_layers::{self, LayerGrids, Lookalikes};
use super::models::CnnModel;
use super::{Job, JobEvent, Outcome, Reporter};
use crate::baselines::{self, logreg, BaselineKind, BaselinesConfig};
use crate::data::import::{import_file, Mode};
use crate::data::{Dataset, CLASSES, PIXELS};
use crate::explain::faithfulness::{self, Faithfulness};
use crate::explain::sanity::{self, Sanity};
use crate::explain::{self as science, Explainer, ImageMaps, Method, Settings, Target};
use crate::runs::{DataIdentity, ModelRef, Run, RunKind, RunStore};
use crate::snapshot;
use crate::text::plot::tiles::{self, Tile, TileGrid};

/// An image to explain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `test:IDX`: test image IDX.
    Test(usize),
    /// `file:PATH`: a PNG or JPEG, read as `classgen predict` reads it.
    File(PathBuf),
    /// `class:C`: the first test image of class C the model classifies as C.
    Class(usize),
    /// An image a caller holds (784 values in [0,1]) with a name for it.
    Pixels { tag: String, pixels: Vec<f32> },
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected test:IDX, file:PATH or class:C (0-9), found '{s}'");
        match s.split_once(':') {
            Some(("test", i)) => i.parse().map(Self::Test).map_err(|_| bad()),
            Some(("file", p)) if !p.is_empty() => Ok(Self::File(PathBuf::from(p))),
            Some(("class", c)) => match c.parse::<usize>() {
                Ok(c) if c < CLASSES => Ok(Self::Class(c)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// The model whose decisions are explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    Cnn,
    /// A baseline, fitted on the training split first: logistic regression has gradients;
    /// the others occlusion only.
    Baseline(BaselineKind),
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct ExplainPlan {
    pub sources: Vec<Source>,
    pub target: Target,
    pub methods: Vec<Method>,
    pub settings: Settings,
    pub model: ModelChoice,
    /// The CNN (needed for `ModelChoice::Cnn` and the sanity check).
    pub cnn: Option<CnnModel>,
    pub baseline_settings: BaselinesConfig,
    /// The faithfulness table over this many test images (the first ones).
    pub faithfulness: Option<usize>,
    /// The sanity check over the explained images.
    pub sanity: bool,
    /// Where the PNG grid goes (none: no file).
    pub snapshots: Option<PathBuf>,
    /// Also the grids of what the CNN's layers learned (written to `snapshots`).
    pub layers: bool,
    /// Also each image's this many look-alike training images (CNN).
    pub lookalikes: Option<usize>,
}

/// One explained image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explained {
    /// Where it came from (`test-17`, the file name, ...).
    pub tag: String,
    pub label: Option<usize>,
    /// Its 784 pixels in [0,1].
    pub pixels: Vec<f32>,
    pub maps: ImageMaps,
}

/// `result.json` of an explain run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainResult {
    pub data: DataIdentity,
    pub cnn: Option<ModelRef>,
    /// The explained model's short name.
    pub model: String,
    pub target: Target,
    pub settings: Settings,
    pub methods: Vec<Method>,
    pub images: Vec<Explained>,
    /// Seconds each method took for all the images.
    pub seconds: Vec<(Method, f64)>,
    pub png: Option<PathBuf>,
    pub faithfulness: Option<Faithfulness>,
    pub sanity: Option<Sanity>,
    #[serde(default)]
    pub layers: Option<LayerGrids>,
    #[serde(default)]
    pub lookalikes: Option<Vec<Lookalikes>>,
    /// Whether every part asked for ran (false: cancelled).
    pub complete: bool,
}

impl Outcome for ExplainResult {
    fn complete(&self) -> bool {
        self.complete
    }
}

/// What the explain job reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ExplainEvent {
    Planned {
        images: usize,
        methods: Vec<Method>,
    },
    Fitting {
        model: String,
        train_images: usize,
    },
    /// One image's maps.
    Explained(Explained),
    /// The grid was written.
    Png {
        path: PathBuf,
    },
    /// A long part starts (`faithfulness`, `sanity`).
    Stage {
        name: String,
        images: usize,
    },
    Faithfulness(Faithfulness),
    Sanity(Sanity),
    Layers(LayerGrids),
    Lookalikes {
        images: Vec<Lookalikes>,
    },
    Notice {
        message: String,
    },
}

impl JobEvent for ExplainEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }
}

/// Starts the job in a new explain run.
pub fn spawn(
    plan: ExplainPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<ExplainEvent, ExplainResult>> {
    let identity = DataIdentity::of(&data);
    if let Some(cnn) = &plan.cnn {
        cnn.check_data(&identity)?;
    }
    if plan.model == ModelChoice::Cnn && plan.cnn.is_none() {
        anyhow::bail!("explaining the CNN needs a trained CNN (train one, or pass --run)");
    }
    super::spawn_in_new_run(
        RunKind::Explain,
        store,
        identity,
        plan.cnn.as_ref().map(CnnModel::model_ref),
        cancel,
        move |run, reporter, cancel| work(&plan, &data, run, reporter, cancel),
    )
}

/// The explainer of the model the plan names (fitting a baseline first).
pub fn build_model(
    plan: &ExplainPlan,
    data: &Dataset,
    reporter: Option<&Reporter<ExplainEvent>>,
) -> anyhow::Result<Explainer> {
    match (plan.model, &plan.cnn) {
        (ModelChoice::Cnn, Some(cnn)) => Ok(Explainer::cnn(&cnn.network)?),
        (ModelChoice::Cnn, None) => anyhow::bail!("no CNN to explain"),
        (ModelChoice::Baseline(kind), _) => {
            if let Some(r) = reporter {
                r.emit(ExplainEvent::Fitting {
                    model: kind.to_string(),
                    train_images: data.train.len(),
                });
            }
            let s = &plan.baseline_settings;
            if kind == BaselineKind::Logreg {
                let params = logreg::LogRegParams {
                    c: s.logreg_c,
                    max_iter: s.logreg_max_iter,
                    tolerance: 1e-5,
                };
                let m = logreg::LogReg::fit(&data.train.images, &data.train.labels, params)?;
                return Ok(Explainer::logreg(&m));
            }
            let model =
                baselines::fit(kind, &data.train, s).with_context(|| format!("fitting {kind}"))?;
            Ok(Explainer::scores_only(Arc::from(model)))
        }
    }
}

/// The methods of `asked` the model can run, and those it cannot (no gradients, no
/// convolution).
pub fn usable(model: &Explainer, asked: &[Method]) -> (Vec<Method>, Vec<Method>) {
    asked.iter().copied().partition(|&m| {
        (model.differentiable() || !m.needs_gradients())
            && (m != Method::Gradcam || model.has_conv())
    })
}

/// Reads one source: its pixels, tag and label.
pub fn resolve(
    source: &Source,
    data: &Dataset,
    model: &mut Explainer,
) -> anyhow::Result<(String, Option<usize>, Vec<f32>)> {
    let test = &data.test;
    let from_test = |i: usize| {
        let pixels = test
            .image(i)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        (
            format!("test-{i}"),
            Some(usize::from(test.labels[i])),
            pixels,
        )
    };
    match source {
        Source::Test(i) if *i < test.len() => Ok(from_test(*i)),
        Source::Test(i) => anyhow::bail!("test:{i}: the test split has {} images", test.len()),
        Source::File(path) => {
            let digit = import_file(path, Mode::Mnist)
                .map_err(|e| anyhow::anyhow!("file:{}: {e}", path.display()))?;
            let tag = path
                .file_stem()
                .map_or("file".into(), |s| s.to_string_lossy().into_owned());
            Ok((tag, None, digit.pixels.to_vec()))
        }
        Source::Class(c) => {
            const BLOCK: usize = 256;
            for start in (0..test.len()).step_by(BLOCK) {
                let end = (start + BLOCK).min(test.len());
                let xs: Vec<f32> = test.images[start * PIXELS..end * PIXELS]
                    .iter()
                    .map(|&p| f32::from(p) / 255.0)
                    .collect();
                let preds = crate::classifier::predictions(&model.probs(&xs)?);
                let hit = (start..end).find(|&i| {
                    usize::from(test.labels[i]) == *c && usize::from(preds[i - start]) == *c
                });
                if let Some(i) = hit {
                    return Ok(from_test(i));
                }
            }
            anyhow::bail!("class:{c}: no test image of class {c} is classified as {c}")
        }
        Source::Pixels { tag, pixels } if pixels.len() == PIXELS => Ok((
            tag.clone(),
            None,
            pixels.iter().map(|p| p.clamp(0.0, 1.0)).collect(),
        )),
        Source::Pixels { tag, pixels } => {
            anyhow::bail!(
                "{tag}: an image has {PIXELS} pixels, found {}",
                pixels.len()
            )
        }
    }
}

/// Writes the labelled grid: a row per image (its tag and target class), the image then one
/// column per method (signed maps red for the target, blue against).
fn write_grid(
    dir: &Path,
    run: &str,
    result: &ExplainResult,
    names: [&str; CLASSES],
) -> anyhow::Result<PathBuf> {
    let mut columns = vec!["image".to_string()];
    columns.extend(result.methods.iter().map(|m| m.name().to_string()));
    let rows = result
        .images
        .iter()
        .map(|im| {
            let t = im.maps.target;
            let target = names.get(t).copied().unwrap_or("?");
            let label = if target == t.to_string() {
                format!("{}  target {t}", im.tag)
            } else {
                format!("{}  target {t} {target}", im.tag)
            };
            let mut tiles = vec![Tile::Grey(&im.pixels)];
            tiles.extend(result.methods.iter().map(|&m| match im.maps.map(m) {
                Some(map) => Tile::Signed(map),
                None => Tile::Empty,
            }));
            (label, tiles)
        })
        .collect();
    let bytes = tiles::png(&TileGrid { columns, rows })?;
    let tags: Vec<&str> = result.images.iter().map(|im| im.tag.as_str()).collect();
    let methods: Vec<&str> = result.methods.iter().map(|m| m.name()).collect();
    // The run's name first, as every snapshot: a second run never meets the first's file.
    let name = snapshot::file_name(&[run, &result.model, &tags.join("-"), &methods.join("-")]);
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    snapshot::write_png_bytes(dir, &name, &bytes)
}

fn work(
    plan: &ExplainPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<ExplainEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<ExplainResult> {
    let cancelled = || cancel.load(Ordering::Relaxed);
    let mut model = build_model(plan, data, Some(reporter))?;
    let (methods, dropped) = usable(&model, &plan.methods);
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped.iter().map(|m| m.name()).collect();
        reporter.notice(format!(
            "{}: no {} for this model (it has no gradients or no convolution)",
            model.name(),
            names.join(", ")
        ));
    }
    let mut settings = plan.settings;
    if !model.differentiable() && settings.of == science::Of::Logit {
        reporter.notice(format!(
            "{} gives probabilities only: its maps are of the probability",
            model.name()
        ));
        settings.of = science::Of::Prob;
    }
    let plan = &ExplainPlan {
        settings,
        ..plan.clone()
    };
    let mut result = ExplainResult {
        data: DataIdentity::of(data),
        cnn: plan.cnn.as_ref().map(CnnModel::model_ref),
        model: model.name(),
        target: plan.target,
        settings: plan.settings,
        methods: methods.clone(),
        images: Vec::new(),
        seconds: Vec::new(),
        png: None,
        faithfulness: None,
        sanity: None,
        layers: None,
        lookalikes: None,
        complete: false,
    };
    reporter.emit(ExplainEvent::Planned {
        images: plan.sources.len(),
        methods: methods.clone(),
    });
    let mut xs = Vec::new();
    let mut found = Vec::new();
    for source in &plan.sources {
        let (tag, label, pixels) = resolve(source, data, &mut model)?;
        xs.extend_from_slice(&pixels);
        found.push((tag, label, pixels));
    }
    if cancelled() {
        return Ok(result);
    }
    let labels: Vec<Option<usize>> = found.iter().map(|(_, l, _)| *l).collect();
    let e = science::explain(
        &mut model,
        &xs,
        &labels,
        plan.target,
        &methods,
        &plan.settings,
    )?;
    result.seconds = e.seconds;
    for ((tag, label, pixels), maps) in found.into_iter().zip(e.images) {
        let im = Explained {
            tag,
            label,
            pixels,
            maps,
        };
        reporter.emit(ExplainEvent::Explained(im.clone()));
        result.images.push(im);
    }
    if let Some(dir) = &plan.snapshots {
        if !result.images.is_empty() && !methods.is_empty() {
            let path = write_grid(dir, run.name(), &result, data.class_names())?;
            reporter.emit(ExplainEvent::Png { path: path.clone() });
            result.png = Some(path);
        }
    }
    run.write_result(&result)?;
    let cnn = plan.cnn.as_ref().filter(|_| plan.model == ModelChoice::Cnn);
    if (plan.layers || plan.lookalikes.is_some()) && cnn.is_none() {
        reporter.notice("the layers and the look-alikes are the CNN's: --model cnn");
    }
    if let (Some(cnn), Some(k)) = (cnn, plan.lookalikes) {
        reporter.emit(ExplainEvent::Stage {
            name: "look-alikes: the training images' features".into(),
            images: data.train.len(),
        });
        if let Some(found) =
            explain_layers::lookalikes(&cnn.network, data, &result.images, k, cancel)?
        {
            reporter.emit(ExplainEvent::Lookalikes {
                images: found.clone(),
            });
            result.lookalikes = Some(found);
            run.write_result(&result)?;
        }
    }
    if let (Some(cnn), true, Some(dir)) = (cnn, plan.layers, &plan.snapshots) {
        if !cancelled() {
            let grids = explain_layers::write_layers(
                &cnn.network,
                &result.images,
                dir,
                run.name(),
                reporter,
                cancel,
            )?;
            reporter.emit(ExplainEvent::Layers(grids.clone()));
            result.layers = Some(grids);
            run.write_result(&result)?;
        }
    }
    if let Some(n) = plan.faithfulness {
        let n = n.min(data.test.len());
        reporter.emit(ExplainEvent::Stage {
            name: "faithfulness".into(),
            images: n,
        });
        let xs: Vec<f32> = data.test.images[..n * PIXELS]
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let preds = crate::classifier::predictions(&model.probs(&xs)?);
        let targets: Vec<usize> = preds.into_iter().map(usize::from).collect();
        let f = faithfulness::measure(
            &mut model,
            &xs,
            &targets,
            &methods,
            &plan.settings,
            &cancelled,
        )?;
        reporter.emit(ExplainEvent::Faithfulness(f.clone()));
        result.faithfulness = Some(f);
        run.write_result(&result)?;
    }
    if plan.sanity && !cancelled() {
        match (&plan.cnn, plan.model) {
            (Some(cnn), ModelChoice::Cnn) => {
                reporter.emit(ExplainEvent::Stage {
                    name: "sanity".into(),
                    images: result.images.len(),
                });
                let targets: Vec<usize> = result.images.iter().map(|im| im.maps.target).collect();
                let makers: Vec<(String, Box<sanity::MapFn>)> = methods
                    .iter()
                    .map(|&m| (m.name().to_string(), sanity::method(m, plan.settings)))
                    .collect();
                let s = sanity::check(
                    &cnn.network,
                    &xs,
                    &targets,
                    &makers,
                    plan.settings.seed.wrapping_add(1),
                    &cancelled,
                )?;
                reporter.emit(ExplainEvent::Sanity(s.clone()));
                result.sanity = Some(s);
            }
            _ => reporter.notice("the sanity check randomises a CNN's layers: CNN only"),
        }
    }
    result.complete = !cancelled();
    run.write_result(&result)?;
    Ok(result)
}

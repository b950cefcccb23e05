//! The inversion session: one inverter (gradient on a CNN, or k-NN) on its own thread, driven
//! by requests (reset, run, pause, step, new settings, snapshot) and reporting frames. The
//! dashboard keeps one open; `classgen invert` opens one, runs it to its stop and snapshots it,
//! so both write the same files. A snapshot is a run of its own (`<timestamp>-invert`) with the
//! inversion's result and its frames in `events.jsonl`, plus the images in the snapshot folder.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::models::CnnModel;
use super::{Job, JobEvent, Reporter};
use crate::baselines::knn::KnnIndex;
use crate::baselines::BaselinesConfig;
use crate::config::InvertConfig;
use crate::data::{Dataset, Split, CLASSES};
use crate::inversion::{
    Frame, GradientInverter, GradientOptions, Inverter, KnnInverter, KnnOptions, Start, StartImage,
    StopReason,
};
use crate::runs::{DataIdentity, EventLog, ModelRef, RunInfo, RunKind, RunState, RunStore};
use crate::snapshot;

/// Most frames kept for the trajectory strip and GIF.
const MAX_TRAJECTORY: usize = 5000;

/// The classifier being inverted.
#[derive(Clone)]
pub enum InvertModel {
    /// A CNN, inverted by gradient ascent on its pixels.
    Cnn(Box<CnnModel>),
    /// k-NN over a training split, inverted with its neighbours' direction.
    Knn {
        index: Arc<KnnIndex>,
        train: Arc<Split>,
        k: usize,
    },
}

impl InvertModel {
    /// k-NN over `data`'s training split with the `[baselines]` settings.
    pub fn knn(data: &Dataset, settings: &BaselinesConfig) -> anyhow::Result<Self> {
        let index = KnnIndex::new(
            &data.train.images,
            &data.train.labels,
            settings.knn_pca_dims,
            settings.seed,
        )
        .context("building the k-NN index")?;
        Ok(Self::Knn {
            index: Arc::new(index),
            train: Arc::new(data.train.clone()),
            k: settings.k,
        })
    }

    /// For file names: `cnn-<run>`, `knn-<N>train`.
    pub fn tag(&self) -> String {
        match self {
            Self::Cnn(cnn) => cnn.tag(),
            Self::Knn { train, .. } => format!("knn-{}train", train.len()),
        }
    }

    /// The CNN's run, if it is one.
    pub fn model_ref(&self) -> Option<ModelRef> {
        match self {
            Self::Cnn(cnn) => Some(cnn.model_ref()),
            Self::Knn { .. } => None,
        }
    }

    /// Class probabilities of one image of 784 values in [0,1].
    pub fn probabilities(&self, pixels: &[f32]) -> anyhow::Result<[f32; CLASSES]> {
        match self {
            Self::Cnn(cnn) => Ok(crate::inversion::gradient::probabilities(
                &cnn.network,
                pixels,
            )?),
            Self::Knn { index, k, .. } => {
                let bytes: Vec<u8> = pixels.iter().map(|&p| snapshot::to_byte(p)).collect();
                let probs = index.predict_proba_u8(&bytes, *k);
                let mut out = [0f32; CLASSES];
                for (o, p) in out.iter_mut().zip(probs) {
                    *o = p;
                }
                Ok(out)
            }
        }
    }

    /// Class probabilities of u8 images.
    pub fn predict(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        match self {
            Self::Cnn(cnn) => Ok(cnn.network.predict_proba(pixels, 256)?),
            Self::Knn { index, k, .. } => Ok(index.predict_proba_u8(pixels, *k)),
        }
    }

    /// The model's method with the `[invert]` settings, target left at 0.
    pub fn method(&self, config: &InvertConfig) -> Method {
        match self {
            Self::Cnn(_) => gradient_method(config),
            Self::Knn { k, .. } => knn_method(config, *k),
        }
    }

    /// An inverter of `method` from `start` towards `target`.
    pub fn inverter(
        &self,
        method: &Method,
        start: &[f32],
        target: usize,
    ) -> anyhow::Result<Active> {
        Ok(match (self, method) {
            (Self::Cnn(cnn), Method::Gradient(o)) => Active::Gradient(GradientInverter::new(
                cnn.network.clone(),
                start.to_vec(),
                GradientOptions {
                    target,
                    ..o.clone()
                },
            )?),
            (Self::Knn { index, train, .. }, Method::Knn(o)) => Active::Knn(KnnInverter::new(
                index.clone(),
                train.clone(),
                start.to_vec(),
                KnnOptions {
                    target,
                    ..o.clone()
                },
            )?),
            _ => anyhow::bail!("this method does not fit this model"),
        })
    }
}

/// Gradient inversion with the `[invert]` settings, target left at 0.
pub fn gradient_method(config: &InvertConfig) -> Method {
    Method::Gradient(config.options(0))
}

/// k-NN inversion with `k` neighbours and the `[invert.knn]` settings, target left at 0.
pub fn knn_method(config: &InvertConfig, k: usize) -> Method {
    let c = &config.knn;
    Method::Knn(KnnOptions {
        target: 0,
        k,
        lr: c.lr,
        mask: c.mask,
        max_steps: c.max_steps,
        threshold: c.threshold,
        seed: config.seed,
    })
}

/// One way to invert: the settings of either inverter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Gradient(GradientOptions),
    Knn(KnnOptions),
}

impl Method {
    /// For file names and tables: `log-normalized`, `log-normalized-tv0.05`, `k3-mask0.5`.
    pub fn tag(&self) -> String {
        match self {
            Self::Gradient(o) => {
                let tag = format!("{}-{}", o.objective.name(), o.step.name());
                match o.reg.tag() {
                    reg if reg.is_empty() => tag,
                    reg => format!("{tag}-{reg}"),
                }
            }
            Self::Knn(o) => format!("k{}-mask{}", o.k, o.mask),
        }
    }

    /// The stop threshold on p(target).
    pub fn threshold(&self) -> f32 {
        match self {
            Self::Gradient(o) => o.threshold,
            Self::Knn(o) => o.threshold,
        }
    }
}

/// The inverter in use.
pub enum Active {
    Gradient(GradientInverter),
    Knn(KnnInverter),
}

impl Inverter for Active {
    fn step(&mut self) -> anyhow::Result<Frame> {
        match self {
            Active::Gradient(g) => Inverter::step(g),
            Active::Knn(k) => Inverter::step(k),
        }
    }

    fn stop_reason(&self) -> Option<StopReason> {
        match self {
            Active::Gradient(g) => g.stop_reason(),
            Active::Knn(k) => Inverter::stop_reason(k),
        }
    }
}

/// Where snapshots go and how they look (`[invert]`'s scale, strip and gif_frames).
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSettings {
    pub dir: PathBuf,
    pub scale: u32,
    /// Images in the trajectory strip.
    pub strip: usize,
    /// Images in the trajectory GIF (0: none).
    pub gif_frames: usize,
}

/// The base name of an inversion's snapshot files, e.g.
/// `20261204-101500-invert_cnn-20261201-101500-train_test-17_to7_log-normalized_step36`: the
/// inversion's own run (so no two runs share a name, whatever their sources and settings;
/// its `result.json` holds every setting), then model, source, target, method and step. The
/// one place these names are made.
pub fn snapshot_name(
    run: &str,
    model: &str,
    source: &str,
    target: usize,
    method: &str,
    step: usize,
) -> String {
    snapshot::file_name(&[
        run,
        model,
        source,
        &format!("to{target}"),
        method,
        &format!("step{step}"),
    ])
}

/// Writes the final image (`<base>.png`), the trajectory strip (`<base>_strip.png`) and the
/// GIF (`<base>.gif`) of `frames`, each a new file: where `<base>.png` is taken, the base gets
/// a `-2`, `-3`... suffix.
pub fn write_snapshots(
    settings: &SnapshotSettings,
    base: &str,
    frames: &[&[f32]],
) -> anyhow::Result<Vec<PathBuf>> {
    let last = frames
        .last()
        .context("nothing to export yet: run the inversion first")?;
    let dir = &settings.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let scale = settings.scale;
    let image = snapshot::write_png_unique(dir, base, &snapshot::image(last, scale))?;
    let base = image
        .file_stem()
        .map_or_else(|| base.to_string(), |s| s.to_string_lossy().into_owned());
    let mut written = vec![
        image,
        snapshot::write_png(
            dir,
            &format!("{base}_strip"),
            &snapshot::strip(frames, settings.strip, scale),
        )?,
    ];
    if settings.gif_frames > 0 {
        written.push(snapshot::write_gif(
            dir,
            &base,
            frames,
            settings.gif_frames,
            scale,
        )?);
    }
    Ok(written)
}

/// `result.json` of an inversion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvertResult {
    /// The model's tag (`cnn-<run>`, `knn-<N>train`).
    pub model: String,
    pub model_run: Option<ModelRef>,
    /// The start image's tag (`test-17`, `noise-3`, `blank`, `file-<name>`).
    pub source: String,
    pub label: Option<usize>,
    pub target: usize,
    pub method: String,
    pub options: serde_json::Value,
    pub steps: usize,
    pub stop: Option<StopReason>,
    pub p_target: f32,
    pub probs: Vec<f32>,
    pub l2: f32,
    pub linf: f32,
    pub start_grad_norm: f32,
    pub final_grad_norm: f32,
    pub seconds: f64,
    pub snapshots: Vec<PathBuf>,
}

/// One frame without its pixels, as an inversion run's log keeps it.
#[derive(Debug, Clone, Serialize)]
struct FrameLine<'a> {
    step: usize,
    p_target: f32,
    probs: &'a [f32],
    grad_norm: f32,
    l2: f32,
    linf: f32,
}

/// The classifier a session inverts, as requested (loaded or built on the session's thread).
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// The CNN of a training run.
    Cnn { run: Box<RunInfo>, device: String },
    /// k-NN over the session data's training split (the index is built once and kept).
    Knn { settings: BaselinesConfig },
}

/// Where an inversion starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A start as written on the command line (`class:` needs the model, so it is resolved
    /// by the session).
    Start(Start),
    /// An image given as pixels (a file, a drawing).
    Image(StartImage),
}

/// What the session is asked.
#[derive(Debug)]
pub enum InvRequest {
    /// Start over: `source` inverted against `model` with `method` towards `target`, on `data`
    /// (its test split for `test:`/`class:` sources, its training split for k-NN); frames are
    /// tagged with `id`.
    Reset {
        id: u64,
        model: ModelSpec,
        data: Option<Arc<Dataset>>,
        source: Source,
        method: Method,
        target: usize,
        /// `class:C` takes the first test image of class C with p >= this.
        confidence: f32,
    },
    /// New settings for the current gradient inversion (it goes on from its current image).
    SetOptions(GradientOptions),
    Run,
    Pause,
    /// One update, then pause.
    Step,
    /// Writes the snapshots and an inversion run with the result.
    Snapshot {
        settings: SnapshotSettings,
        store: RunStore,
    },
    /// The probabilities `model` gives `pixels` (a drawing), reported as `Classified`.
    Classify {
        id: u64,
        model: ModelSpec,
        pixels: Vec<f32>,
    },
}

/// What the session reports about inversion `id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum InvEvent {
    /// The start image, resolved: its tag for file names, its label, and the model's
    /// probabilities for it before any step.
    Started {
        id: u64,
        source: String,
        label: Option<usize>,
        probs: [f32; CLASSES],
    },
    /// The probabilities of a `Classify` request.
    Classified {
        id: u64,
        probs: Result<[f32; CLASSES], String>,
    },
    Frame {
        id: u64,
        frame: Frame,
    },
    Stopped {
        id: u64,
        reason: StopReason,
    },
    Failed {
        id: u64,
        message: String,
    },
    /// A snapshot was written (the inversion's run, its result) or failed.
    Snapshot {
        id: u64,
        result: Result<(PathBuf, Box<InvertResult>), String>,
    },
    Notice {
        id: u64,
        message: String,
    },
}

impl JobEvent for InvEvent {
    fn notice(message: String) -> Self {
        InvEvent::Notice { id: 0, message }
    }
}

/// An open session: send requests, read [`InvEvent`]s from its job.
pub struct InvertSession {
    pub requests: Sender<InvRequest>,
    pub job: Job<InvEvent, ()>,
}

/// Opens a session; it ends when `requests` is dropped.
pub fn open() -> anyhow::Result<InvertSession> {
    let (requests, rx) = channel();
    let job = Job::spawn(
        "inversion",
        None,
        Arc::new(AtomicBool::new(false)),
        move |reporter, _| {
            Worker::default().serve(&rx, reporter);
            Ok(())
        },
    )?;
    Ok(InvertSession { requests, job })
}

/// The current inversion and what it was made of.
struct Current {
    model: InvertModel,
    data: Option<Arc<Dataset>>,
    start: StartImage,
    method: Method,
    target: usize,
    active: Active,
    trajectory: Vec<Vec<f32>>,
    frames: Vec<Frame>,
    started: Instant,
}

/// Models kept between resets: the last CNN and the last k-NN index.
#[derive(Default)]
struct Worker {
    id: u64,
    cnn: Option<CnnModel>,
    knn: Option<(Arc<Dataset>, BaselinesConfig, InvertModel)>,
    current: Option<Current>,
    running: bool,
}

impl Worker {
    fn serve(&mut self, requests: &Receiver<InvRequest>, reporter: &Reporter<InvEvent>) {
        loop {
            // While running, take pending requests without waiting; else wait for one.
            let request = if self.running {
                match requests.try_recv() {
                    Ok(r) => Some(r),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match requests.recv() {
                    Ok(r) => Some(r),
                    Err(_) => return,
                }
            };
            match request {
                Some(r) => self.handle(r, reporter),
                None => self.step(reporter),
            }
        }
    }

    fn fail(&mut self, reporter: &Reporter<InvEvent>, message: String) {
        self.running = false;
        reporter.emit(InvEvent::Failed {
            id: self.id,
            message,
        });
    }

    fn handle(&mut self, request: InvRequest, reporter: &Reporter<InvEvent>) {
        match request {
            InvRequest::Reset {
                id,
                model,
                data,
                source,
                method,
                target,
                confidence,
            } => {
                self.id = id;
                self.running = false;
                self.current = None;
                let reset = self
                    .reset(model, data, source, method, target, confidence, reporter)
                    .and_then(|c| Ok((c.model.probabilities(&c.start.pixels)?, c)));
                match reset {
                    Ok((probs, current)) => {
                        reporter.emit(InvEvent::Started {
                            id,
                            source: current.start.tag.clone(),
                            label: current.start.label,
                            probs,
                        });
                        self.current = Some(current);
                    }
                    Err(e) => self.fail(reporter, format!("{e:#}")),
                }
            }
            InvRequest::SetOptions(options) => {
                if let Some(Current {
                    active: Active::Gradient(inv),
                    method,
                    ..
                }) = &mut self.current
                {
                    *method = Method::Gradient(options.clone());
                    if let Err(e) = inv.set_options(options) {
                        self.fail(reporter, e.to_string());
                    }
                }
            }
            InvRequest::Run => self.running = self.current.is_some(),
            InvRequest::Pause => self.running = false,
            InvRequest::Step => {
                self.running = false;
                self.step(reporter);
            }
            InvRequest::Classify { id, model, pixels } => {
                let probs = self
                    .model(model, None, reporter)
                    .and_then(|m| m.probabilities(&pixels))
                    .map_err(|e| format!("{e:#}"));
                reporter.emit(InvEvent::Classified { id, probs });
            }
            InvRequest::Snapshot { settings, store } => {
                let result = self
                    .snapshot(&settings, &store)
                    .map_err(|e| format!("{e:#}"));
                reporter.emit(InvEvent::Snapshot {
                    id: self.id,
                    result,
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reset(
        &mut self,
        model: ModelSpec,
        data: Option<Arc<Dataset>>,
        source: Source,
        method: Method,
        target: usize,
        confidence: f32,
        reporter: &Reporter<InvEvent>,
    ) -> anyhow::Result<Current> {
        let model = self.model(model, data.as_ref(), reporter)?;
        let start = match source {
            Source::Image(image) => image,
            Source::Start(start) => {
                let empty = Split {
                    images: Vec::new(),
                    labels: Vec::new(),
                };
                let test = data.as_ref().map_or(&empty, |d| &d.test);
                let predict = |pixels: &[u8]| model.predict(pixels);
                start
                    .resolve(test, &predict, confidence)
                    .map_err(|e| anyhow::anyhow!("--from: {e}"))?
            }
        };
        let active = model.inverter(&method, &start.pixels, target)?;
        Ok(Current {
            model,
            data,
            start,
            method,
            target,
            active,
            trajectory: Vec::new(),
            frames: Vec::new(),
            started: Instant::now(),
        })
    }

    /// The model `spec` asks for, loaded (or the index built) once and kept.
    fn model(
        &mut self,
        spec: ModelSpec,
        data: Option<&Arc<Dataset>>,
        reporter: &Reporter<InvEvent>,
    ) -> anyhow::Result<InvertModel> {
        Ok(match spec {
            ModelSpec::Cnn { run, device } => match &self.cnn {
                Some(cnn) if cnn.run.dir == run.dir => InvertModel::Cnn(Box::new(cnn.clone())),
                _ => {
                    let device = crate::device::open(&device)?;
                    let cnn = CnnModel::load(*run, &device)?;
                    self.cnn = Some(cnn.clone());
                    InvertModel::Cnn(Box::new(cnn))
                }
            },
            ModelSpec::Knn { settings } => {
                let data = data.context("k-NN needs the data set: still loading?")?;
                match &self.knn {
                    Some((d, s, m)) if Arc::ptr_eq(d, data) && *s == settings => m.clone(),
                    _ => {
                        let started = Instant::now();
                        let model = InvertModel::knn(data, &settings)?;
                        reporter.emit(InvEvent::Notice {
                            id: self.id,
                            message: format!(
                                "k-NN: index of {} training images built in {:.1} s",
                                data.train.len(),
                                started.elapsed().as_secs_f64()
                            ),
                        });
                        self.knn = Some((data.clone(), settings, model.clone()));
                        model
                    }
                }
            }
        })
    }

    fn step(&mut self, reporter: &Reporter<InvEvent>) {
        let Some(current) = &mut self.current else {
            self.running = false;
            return;
        };
        if current.active.stop_reason().is_some() {
            self.running = false;
            return;
        }
        match current.active.step() {
            Ok(frame) => {
                let stopped = current.active.stop_reason();
                if current.trajectory.len() < MAX_TRAJECTORY {
                    current.trajectory.push(frame.pixels.clone());
                    current.frames.push(Frame {
                        pixels: Vec::new(),
                        ..frame
                    });
                }
                reporter.emit(InvEvent::Frame { id: self.id, frame });
                if let Some(reason) = stopped {
                    self.running = false;
                    reporter.emit(InvEvent::Stopped {
                        id: self.id,
                        reason,
                    });
                }
            }
            Err(e) => self.fail(reporter, format!("inversion step: {e}")),
        }
    }

    /// Writes the snapshot files and the inversion's run.
    fn snapshot(
        &self,
        settings: &SnapshotSettings,
        store: &RunStore,
    ) -> anyhow::Result<(PathBuf, Box<InvertResult>)> {
        let c = self
            .current
            .as_ref()
            .context("nothing to export yet: run the inversion first (Space)")?;
        let (first, last) = match (c.frames.first(), c.frames.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => anyhow::bail!("nothing to export yet: run the inversion first (Space)"),
        };
        let data = match (&c.data, &c.model) {
            (Some(d), _) => DataIdentity::of(d),
            (None, InvertModel::Cnn(cnn)) => cnn.run.record.data.clone(),
            (None, InvertModel::Knn { .. }) => anyhow::bail!("a k-NN inversion without data"),
        };
        // The run first: its name makes the snapshots' names unique.
        let mut run = store.create(RunKind::Invert, data, c.model.model_ref())?;
        let base = snapshot_name(
            run.name(),
            &c.model.tag(),
            &c.start.tag,
            c.target,
            &c.method.tag(),
            last.step,
        );
        let frames: Vec<&[f32]> = c.trajectory.iter().map(Vec::as_slice).collect();
        let written = write_snapshots(settings, &base, &frames).and_then(|snapshots| {
            write_frames(run.dir(), &c.frames)?;
            let result = InvertResult {
                model: c.model.tag(),
                model_run: c.model.model_ref(),
                source: c.start.tag.clone(),
                label: c.start.label,
                target: c.target,
                method: c.method.tag(),
                options: serde_json::to_value(&c.method)?,
                steps: last.step,
                stop: c.active.stop_reason(),
                p_target: last.p_target,
                probs: last.probs.to_vec(),
                l2: last.l2,
                linf: last.linf,
                start_grad_norm: first.grad_norm,
                final_grad_norm: last.grad_norm,
                seconds: c.started.elapsed().as_secs_f64(),
                snapshots,
            };
            run.write_result(&result)?;
            Ok(result)
        });
        match written {
            Ok(result) => {
                run.end(RunState::Finished)?;
                Ok((run.dir().to_path_buf(), Box::new(result)))
            }
            Err(e) => {
                let _ = run.end(RunState::Failed {
                    message: format!("{e:#}"),
                });
                Err(e)
            }
        }
    }
}

/// Logs the frames of an inversion (without pixels) into its run's `events.jsonl`.
fn write_frames(dir: &Path, frames: &[Frame]) -> anyhow::Result<()> {
    let mut log = EventLog::open(dir).with_context(|| format!("writing {}", dir.display()))?;
    for f in frames {
        log.append(&FrameLine {
            step: f.step,
            p_target: f.p_target,
            probs: &f.probs,
            grad_norm: f.grad_norm,
            l2: f.l2,
            linf: f.linf,
        })
        .with_context(|| format!("writing {}", log.path().display()))?;
    }
    Ok(())
}

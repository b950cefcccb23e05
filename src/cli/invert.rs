//! `classgen invert`: turn the classifier into a generator, headless. One inversion (through
//! the same session job the dashboard drives, so both write the same files), `--grid`: every
//! class to every target per method, or `--grid --from noise`: noise prototypes judged by
//! other models.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use classgen::config::Config;
use classgen::data::{import_file, Dataset, Mode, CLASSES};
use classgen::inversion::grid::Cell;
use classgen::inversion::start::StartError;
use classgen::inversion::{Frame, GradientOptions, Objective, StartImage, StepKind, StopReason};
use classgen::jobs::invert::{
    self as session, InvEvent, InvRequest, InvertModel, Method, ModelSpec, SnapshotSettings, Source,
};
use classgen::jobs::invert_grid::{self as grid_job, GridEvent, GridPlan, MethodGrid};
use classgen::jobs::models::CnnModel;
use classgen::jobs::prototypes::{self as proto_job, PrototypesEvent, PrototypesPlan};
use classgen::runs::{RunKind, RunStore};

use super::console::{self, note, out};
use super::plot::PlotArgs;
use super::{predict, DataArgs, NeedCnn};

mod sweep;

/// Which classifier to invert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelKind {
    /// The CNN of a training run (gradient inversion).
    Cnn,
    /// k-nearest neighbours on the training split (neighbour-direction inversion).
    Knn,
}

/// Flags of `classgen invert`; each overrides `[invert]` in the config.
#[derive(Debug, Args)]
pub struct InvertArgs {
    /// Classifier to invert.
    #[arg(long, value_enum, default_value = "cnn")]
    model: ModelKind,
    /// --grid --from noise: noise starts per target (N). --sweep: the starts, comma-separated
    /// (noise:SEED, noise:A-B, test:IDX, class:C, blank) [default: noise:1-5].
    #[arg(long, value_name = "N|STARTS")]
    starts: Option<String>,
    /// The learning-rate x start sweep: one inversion per (lr, start) to --target; a table, a
    /// chart of p(target) per lr, and a PNG grid of the final images.
    #[arg(long, conflicts_with = "grid")]
    sweep: bool,
    /// --sweep: learning rates, comma-separated [default: 0.01,0.03,0.1,0.3,1].
    #[arg(long, value_delimiter = ',', value_name = "LR,..", requires = "sweep")]
    lrs: Option<Vec<f32>>,
    /// --grid --from noise: the CNN that judges the images, a training run's directory or name
    /// (default: the newest finished one on the same data with another seed).
    #[arg(long, value_name = "RUN")]
    judge: Option<String>,
    /// Start image: test:IDX, class:C (first confident test image of class C), noise:SEED,
    /// blank or file:PATH (a PNG or JPEG, read as `classgen predict` reads it) [default:
    /// class:3]. With --grid: class (the first confident test image of each
    /// class; the default) or noise[:SEED] (seeded noise starts, plain and regularised, judged
    /// by other models; see [invert.prototype]).
    #[arg(long, value_name = "START")]
    from: Option<String>,
    /// --from file:PATH: take the image as it is (MNIST-style 28x28, white on black; no
    /// preprocessing).
    #[arg(long)]
    raw: bool,
    /// Target class, 0-9.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u8).range(0..10), required_unless_present = "grid")]
    target: Option<u8>,
    /// Every class (first confident test image of each) to every target; a grid PNG and a
    /// table per method (by default naive and log loss, each with raw and normalised steps).
    #[arg(long)]
    grid: bool,
    /// --grid: only these source classes (rows), comma-separated, e.g. 3,7.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..10))]
    classes: Option<Vec<u8>>,
    /// Objective.
    #[arg(long, value_enum)]
    loss: Option<Objective>,
    /// Raw or normalised gradient step.
    #[arg(long, value_enum)]
    step: Option<StepKind>,
    /// Learning rate (k-NN: step length).
    #[arg(long)]
    lr: Option<f32>,
    /// Most updates.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Stop once p(target) reaches this (k-NN: the share of target neighbours).
    #[arg(long)]
    threshold: Option<f32>,
    /// k-NN: share of the pixels that move in each step.
    #[arg(long)]
    mask: Option<f32>,
    /// Stop once the gradient norm is below this (0 = never).
    #[arg(long)]
    epsilon: Option<f32>,
    /// Regularisers: tv=F,l2=F,blur=SIGMA,blur_every=K,jitter=PX (0 = off), or a preset
    /// first: off, prototype ([invert.prototype.reg]), e.g. prototype,tv=0.05.
    #[arg(long, value_name = "SPEC")]
    reg: Option<String>,
    /// Seed for jitter (k-NN: for the masks).
    #[arg(long)]
    seed: Option<u64>,
    /// Snapshot upscale factor.
    #[arg(long)]
    scale: Option<u32>,
    /// The CNN to invert: a training run's directory or name (default: the newest finished one
    /// on the data in use).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Threads for the maths (0 = every core).
    #[arg(long)]
    threads: Option<usize>,
    /// A progress line every N steps (0 = none).
    #[arg(long, default_value_t = 10)]
    every: usize,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
    /// p(target) over the steps of one inversion (not --grid).
    #[command(flatten)]
    plot: PlotArgs,
}

/// What `classgen invert` does.
#[derive(Debug, Clone, PartialEq)]
enum Task {
    /// One inversion.
    One { source: Source, target: usize },
    /// Every class to every target.
    ClassGrid,
    /// Every target from noise, plain and regularised, judged by other models; the first
    /// noise seed if given.
    NoiseGrid(Option<u64>),
}

impl InvertArgs {
    /// The task the flags ask for; errors name the flag.
    fn task(&self) -> anyhow::Result<Task> {
        let from = self.from.as_deref();
        let file = from
            .and_then(|f| f.strip_prefix("file:"))
            .filter(|_| !self.grid);
        if self.raw && file.is_none() {
            anyhow::bail!("--raw goes with --from file:PATH (without --grid)");
        }
        if self.classes.is_some() && !self.grid {
            anyhow::bail!("--classes goes with --grid");
        }
        if self.plot.wanted() && self.grid {
            anyhow::bail!("--plot draws one inversion's p(target): leave out --grid");
        }
        if !self.grid {
            let source = match file {
                Some(path) => Source::Image(file_start(Path::new(path), predict::mode(self.raw))?),
                None => Source::Start(from.unwrap_or("class:3").parse().map_err(|e| match e {
                    StartError::Syntax(found) => anyhow::anyhow!(
                        "--from: expected test:IDX, class:C (0-9), noise:SEED, blank or file:PATH, found '{found}'"
                    ),
                    e => anyhow::anyhow!("--from: {e}"),
                })?),
            };
            let target = self
                .target
                .context("--target T (0-9) is needed without --grid")?;
            if self.starts.is_some() || self.judge.is_some() {
                anyhow::bail!("--starts and --judge go with --grid --from noise");
            }
            return Ok(Task::One {
                source,
                target: target.into(),
            });
        }
        let task = match from.unwrap_or("class") {
            "class" => Task::ClassGrid,
            "noise" => Task::NoiseGrid(None),
            spec => match spec.strip_prefix("noise:").map(str::parse) {
                Some(Ok(seed)) => Task::NoiseGrid(Some(seed)),
                _ => anyhow::bail!(
                    "--from: with --grid expected class or noise[:SEED], found '{spec}'"
                ),
            },
        };
        if task == Task::ClassGrid && (self.starts.is_some() || self.judge.is_some()) {
            anyhow::bail!("--starts and --judge go with --grid --from noise");
        }
        if matches!(task, Task::NoiseGrid(_)) && self.model != ModelKind::Cnn {
            anyhow::bail!("--grid --from noise inverts the CNN (its regularisers act on pixel gradients): use --model cnn");
        }
        Ok(task)
    }

    fn apply(&self, config: &mut Config, task: &Task) -> anyhow::Result<()> {
        self.data.apply(config);
        if let Some(d) = &self.device {
            config.train.device = d.clone();
        }
        let c = &mut config.invert;
        if self.model == ModelKind::Knn {
            let k = &mut c.knn;
            if let Some(v) = self.lr {
                k.lr = v;
            }
            if let Some(v) = self.max_steps {
                k.max_steps = v;
            }
            if let Some(v) = self.threshold {
                k.threshold = v;
            }
            if let Some(v) = self.mask {
                k.mask = v;
            }
        } else if self.mask.is_some() {
            anyhow::bail!("--mask is a k-NN setting: use it with --model knn");
        }
        if let Some(v) = self.step {
            c.step = v;
        }
        if let Task::NoiseGrid(seed) = *task {
            let p = &mut c.prototype;
            if let Some(v) = seed {
                p.first_seed = v;
            }
            if let Some(v) = &self.starts {
                p.starts = v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--starts: expected a count, found '{v}'"))?;
            }
            if let Some(v) = self.loss {
                p.loss = v;
            }
            if let Some(v) = self.lr {
                p.lr = v;
            }
            if let Some(v) = self.max_steps {
                p.max_steps = v;
            }
            if let Some(v) = self.threshold {
                p.threshold = v;
            }
            if let Some(spec) = &self.reg {
                p.reg = p
                    .reg
                    .parse_over(spec, &p.reg)
                    .map_err(|e| anyhow::anyhow!("--reg: {e}"))?;
            }
        } else {
            if let Some(v) = self.loss {
                c.loss = v;
            }
            if self.model == ModelKind::Cnn {
                if let Some(v) = self.lr {
                    c.lr = v;
                }
                if let Some(v) = self.max_steps {
                    c.max_steps = v;
                }
                if let Some(v) = self.threshold {
                    c.threshold = v;
                }
            }
            if let Some(spec) = &self.reg {
                c.reg = c
                    .reg
                    .parse_over(spec, &c.prototype.reg)
                    .map_err(|e| anyhow::anyhow!("--reg: {e}"))?;
            }
        }
        if let Some(v) = self.epsilon {
            c.epsilon = v;
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        if let Some(v) = self.scale {
            c.scale = v;
        }
        if let Some(v) = self.threads {
            c.threads = v;
        }
        Ok(())
    }
}

/// Where snapshots go, from the config.
fn snapshot_settings(config: &Config) -> SnapshotSettings {
    SnapshotSettings {
        dir: config.paths.snapshots.clone(),
        scale: config.invert.scale,
        strip: config.invert.strip,
        gif_frames: config.invert.gif_frames,
    }
}

/// Runs `classgen invert`.
pub fn run(args: InvertArgs, config: &mut Config) -> anyhow::Result<()> {
    if args.sweep {
        return sweep::run(&args, config);
    }
    let task = args.task()?;
    args.apply(config, &task)?;
    config.validate()?;
    classgen::runtime::set_threads(config.invert.threads);
    let needs_data = match &task {
        Task::One {
            source: Source::Start(start),
            ..
        } => start.needs_test_split(),
        Task::One { .. } => false,
        Task::ClassGrid | Task::NoiseGrid(_) => true,
    };
    if args.model == ModelKind::Knn {
        if args.run.is_some() {
            anyhow::bail!("--run names a CNN: k-NN needs none");
        }
        let data = super::load_data(config)?;
        return match task {
            Task::One { source, target } => {
                let spec = ModelSpec::Knn {
                    settings: config.baselines.clone(),
                };
                let method = session::knn_method(&config.invert, config.baselines.k);
                run_one(&args, config, spec, method, Some(data), source, target)
            }
            Task::ClassGrid => {
                note!(
                    "k-NN: building the index over {} training images ...",
                    data.train.len()
                );
                let model = InvertModel::knn(&data, &config.baselines)?;
                run_grid(&args, config, model, data)
            }
            Task::NoiseGrid(_) => anyhow::bail!("--grid --from noise inverts the CNN"),
        };
    }
    let (data, cnn) = match args.run.as_deref() {
        // A noise, blank or file start from a named model needs no data.
        Some(name) if !needs_data && !args.data.given() => (None, named_cnn(config, name)?),
        run => {
            let inputs = super::inputs(config, &args.data, run, NeedCnn::Required)?;
            (Some(inputs.data), inputs.cnn.context("no CNN to invert")?)
        }
    };
    match (task, data) {
        (Task::One { source, target }, data) => {
            let spec = ModelSpec::Cnn {
                run: Box::new(cnn.run.clone()),
                device: config.train.device.clone(),
            };
            let method = session::gradient_method(&config.invert);
            run_one(&args, config, spec, method, data, source, target)
        }
        (Task::ClassGrid, Some(data)) => {
            run_grid(&args, config, InvertModel::Cnn(Box::new(cnn)), data)
        }
        (Task::NoiseGrid(_), Some(data)) => run_prototypes(&args, config, cnn, data),
        _ => anyhow::bail!("--grid needs the test split"),
    }
}

/// The CNN of training run `name`.
fn named_cnn(config: &Config, name: &str) -> anyhow::Result<CnnModel> {
    let store = RunStore::new(&config.paths.runs);
    let info = store.find(name)?.expect_kind(RunKind::Train)?;
    let device = classgen::device::open(&config.train.device)?;
    let cnn = CnnModel::load(info, &device)?;
    note!("model: {}", cnn.describe());
    Ok(cnn)
}

/// The start image of `--from file:PATH`: the file read as `classgen predict` reads it, tagged
/// `file-<stem>` for the snapshots' names.
fn file_start(path: &Path, mode: Mode) -> anyhow::Result<StartImage> {
    if path.as_os_str().is_empty() {
        anyhow::bail!("--from file:PATH needs a path");
    }
    let digit = import_file(path, mode).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let stem = path
        .file_stem()
        .map_or_else(|| "image".into(), |s| s.to_string_lossy());
    Ok(StartImage {
        pixels: digit.pixels.to_vec(),
        tag: format!("file-{stem}"),
        label: None,
    })
}

fn describe_start(tag: &str, label: Option<usize>) -> String {
    match label {
        Some(l) => format!("{tag} (label {l})"),
        None => tag.to_string(),
    }
}

fn progress_line(f: &Frame) -> String {
    let predicted = f
        .probs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    format!(
        "step {:>5}  p_target {:.4}  |g| {:.3e}  L2 {:.3}  L-inf {:.3}  predicted {predicted} ({:.3})",
        f.step, f.p_target, f.grad_norm, f.l2, f.linf, f.probs[predicted]
    )
}

/// One inversion through a session: reset, run to the stop, snapshot.
fn run_one(
    args: &InvertArgs,
    config: &Config,
    model: ModelSpec,
    method: Method,
    data: Option<Arc<Dataset>>,
    source: Source,
    target: usize,
) -> anyhow::Result<()> {
    let threshold = method.threshold();
    let s = session::open()?;
    let send = |r| {
        s.requests
            .send(r)
            .map_err(|_| anyhow::anyhow!("the inversion session has stopped"))
    };
    send(InvRequest::Reset {
        id: 1,
        model,
        data,
        source,
        method,
        target,
        confidence: config.invert.confidence,
    })?;
    send(InvRequest::Run)?;
    let cancel = console::cancel_flag();
    let mut last: Option<Frame> = None;
    let mut started = None;
    let mut p_target = Vec::new();
    for event in s.job.events().iter() {
        match event {
            InvEvent::Started { source, label, .. } => {
                note!("from {}", describe_start(&source, label));
                started = Some((source, label));
            }
            InvEvent::Frame { frame, .. } => {
                if args.every > 0 && frame.step.is_multiple_of(args.every) {
                    note!("{}", progress_line(&frame));
                }
                p_target.push((frame.step, frame.p_target));
                last = Some(frame);
                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    send(InvRequest::Pause)?;
                    break;
                }
            }
            InvEvent::Stopped { .. } => break,
            InvEvent::Failed { message, .. } => anyhow::bail!("{message}"),
            InvEvent::Notice { message, .. } => note!("{message}"),
            InvEvent::Snapshot { .. } | InvEvent::Classified { .. } => {}
        }
    }
    let last = last.context("the inversion produced no frame")?;
    if args.every > 0 && !last.step.is_multiple_of(args.every) {
        note!("{}", progress_line(&last));
    }
    send(InvRequest::Snapshot {
        settings: snapshot_settings(config),
        store: RunStore::new(&config.paths.runs),
    })?;
    let (dir, result) = loop {
        match s.job.events().recv() {
            Ok(InvEvent::Snapshot { result, .. }) => break result.map_err(anyhow::Error::msg)?,
            Ok(_) => {}
            Err(_) => anyhow::bail!("the inversion session stopped before its snapshot"),
        }
    };
    drop(s.requests);
    s.job.join()?;
    note!("run: {}", dir.display());
    let (tag, label) = started.unwrap_or_default();
    let title = format!(
        "{} -> {target}: p(target) ({}, {})",
        describe_start(&tag, label),
        result.model,
        result.method
    );
    args.plot.write(&[classgen::text::figures::inversion(
        &title,
        &p_target,
        Some(threshold),
    )])?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    let reason = result.stop;
    out!(
        "{} -> {target} ({}, {}): {} after {} steps, p_target {:.4}, L2 {:.3}, L-inf {:.3}; gradient norm {:.3e} at the start, {:.3e} at the end ({:.2} s)",
        describe_start(&tag, label),
        result.model,
        result.method,
        match reason {
            Some(StopReason::Reached) => "reached",
            Some(r) => r.describe(),
            None => "stopped",
        },
        result.steps,
        result.p_target,
        result.l2,
        result.linf,
        result.start_grad_norm,
        result.final_grad_norm,
        result.seconds,
    );
    let names: Vec<String> = result
        .snapshots
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    out!("snapshots: {}", names.join(", "));
    Ok(())
}

/// The methods a grid compares: for the CNN by default naive and log loss, each with a raw
/// and a normalised step (`--loss`/`--step` narrow it); for k-NN its one method.
fn grid_methods(args: &InvertArgs, config: &Config, model: &InvertModel) -> Vec<Method> {
    match model.method(&config.invert) {
        Method::Gradient(base) => {
            let losses = args
                .loss
                .map_or(vec![Objective::Naive, Objective::Log], |l| vec![l]);
            let steps = args
                .step
                .map_or(vec![StepKind::Raw, StepKind::Normalized], |s| vec![s]);
            losses
                .iter()
                .flat_map(|&objective| {
                    steps.iter().map({
                        let base = base.clone();
                        move |&step| {
                            Method::Gradient(GradientOptions {
                                objective,
                                step,
                                ..base.clone()
                            })
                        }
                    })
                })
                .collect()
        }
        knn => vec![knn],
    }
}

fn run_grid(
    args: &InvertArgs,
    config: &Config,
    model: InvertModel,
    data: Arc<Dataset>,
) -> anyhow::Result<()> {
    let plan = GridPlan {
        methods: grid_methods(args, config, &model),
        model,
        confidence: config.invert.confidence,
        classes: args
            .classes
            .as_ref()
            .map(|c| c.iter().map(|&c| usize::from(c)).collect()),
        snapshots: snapshot_settings(config),
    };
    let store = RunStore::new(&config.paths.runs);
    let job = grid_job::spawn(plan, data, &store, console::cancel_flag())?;
    super::announce(job.run());
    for event in job.events().iter() {
        match event {
            GridEvent::Planned { methods, cells } => {
                note!(
                    "{} methods x {cells} inversions: {}",
                    methods.len(),
                    methods.join(", ")
                )
            }
            GridEvent::Progress {
                method,
                done,
                total,
            } => {
                if args.every > 0 && done.is_multiple_of(CLASSES) {
                    note!("  {method}: {done}/{total}");
                }
            }
            GridEvent::MethodDone(m) => note!("{}: {}", m.method, m.snapshot.display()),
            GridEvent::Notice { message } => note!("{message}"),
        }
    }
    let result = job.join()?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    for m in &result.methods {
        out!(
            "\n{}: steps to p >= {} (- = not reached), {:.1} s, {}",
            m.method,
            m.threshold,
            m.seconds,
            m.snapshot.display()
        );
        for line in steps_table(&m.cells) {
            out!("{line}");
        }
    }
    out!("");
    for line in summaries(&result.methods) {
        out!("{line}");
    }
    Ok(())
}

/// Steps to the threshold per source row and target column.
fn steps_table(cells: &[Cell]) -> Vec<String> {
    let rows: Vec<Vec<String>> = cells
        .chunks(CLASSES)
        .map(|row| {
            std::iter::once(
                row[0]
                    .label
                    .map_or_else(|| "?".to_string(), |l| l.to_string()),
            )
            .chain(row.iter().map(|c| {
                if c.reason == StopReason::Reached {
                    c.steps.to_string()
                } else {
                    "-".into()
                }
            }))
            .collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("from\\to".to_string())
        .chain((0..CLASSES).map(|t| t.to_string()))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    classgen::text::format::table(&header, &rows, &(0..=CLASSES).collect::<Vec<_>>())
}

fn summaries(methods: &[MethodGrid]) -> Vec<String> {
    let opt = |v: Option<f64>, p: usize| v.map_or_else(|| "-".to_string(), |v| format!("{v:.p$}"));
    let rows: Vec<Vec<String>> = methods
        .iter()
        .map(|m| {
            let s = &m.summary;
            vec![
                m.method.clone(),
                format!("{}/{} {:.0}%", s.reached, s.runs, s.success_rate * 100.0),
                opt(s.median_steps, 1),
                opt(s.mean_l2, 3),
                opt(s.mean_linf, 3),
                s.median_start_grad_norm
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.2e}")),
            ]
        })
        .collect();
    let mut lines = classgen::text::format::table(
        &[
            "method",
            "success",
            "median steps",
            "mean L2",
            "mean L-inf",
            "median |g| start",
        ],
        &rows,
        &[1, 2, 3, 4, 5],
    );
    lines.push("(cells whose source already is the target are left out; steps and distances are over the runs that reached the threshold; k-NN's |g| is its direction's length)".into());
    lines
}

fn run_prototypes(
    args: &InvertArgs,
    config: &Config,
    cnn: CnnModel,
    data: Arc<Dataset>,
) -> anyhow::Result<()> {
    let store = RunStore::new(&config.paths.runs);
    let device = classgen::device::open(&config.train.device)?;
    let judge_run = match &args.judge {
        Some(name) => Some(
            store
                .find(name)
                .map_err(|e| anyhow::anyhow!("--judge: {e}"))?,
        ),
        None => proto_job::find_judge(&store, &cnn),
    };
    let judge = match judge_run {
        Some(info) => {
            let judge =
                CnnModel::load(info, &device).map_err(|e| anyhow::anyhow!("--judge: {e:#}"))?;
            if judge.meta.recipe.seed == cnn.meta.recipe.seed {
                note!(
                    "warning: the judge {} was trained with the same seed ({}) as the inverted CNN: it is not independent",
                    judge.run.name,
                    cnn.meta.recipe.seed
                );
            }
            note!("judge: {}", judge.describe());
            Some(judge)
        }
        None => {
            note!(
                "no finished CNN on the same data with a seed other than {}: train one with `classgen train --seed {}` and the same data flags, or name one with --judge RUN; judging with the k-NN only",
                cnn.meta.recipe.seed,
                cnn.meta.recipe.seed.wrapping_add(1)
            );
            None
        }
    };
    let p = config.invert.prototype.clone();
    let plan = PrototypesPlan {
        cnn,
        judge,
        settings: p.clone(),
        invert: config.invert.clone(),
        knn: config.baselines.clone(),
        snapshots: snapshot_settings(config),
    };
    let job = proto_job::spawn(plan, data, &store, console::cancel_flag())?;
    super::announce(job.run());
    for event in job.events().iter() {
        match event {
            PrototypesEvent::Progress { mode, done, total } => {
                if args.every > 0 && done.is_multiple_of(CLASSES) {
                    note!("  {mode}: {done}/{total}");
                }
            }
            PrototypesEvent::ModeDone(m) => note!("{}: {}", m.mode, m.snapshot.display()),
            PrototypesEvent::Notice { message } => note!("{message}"),
        }
    }
    let r = job.join()?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    out!(
        "noise -> every target ({} starts x {CLASSES} targets, {}, {} loss, {} step, lr {}, up to {} steps to p >= {})",
        p.starts,
        r.model,
        p.loss.name(),
        config.invert.step.name(),
        p.lr,
        p.max_steps,
        p.threshold
    );
    let judge_name = r.judge_cnn.as_ref().map_or("none".to_string(), |j| {
        format!("{} (seed {})", j.run, j.seed)
    });
    out!(
        "classified as the target by: the inverted CNN; a CNN trained with another seed: {judge_name}; k-NN (k = {})",
        r.knn_k
    );
    let dist = |d: Option<f64>| d.map_or("-".into(), |d| format!("{d:.2}"));
    let pct = |a: &classgen::inversion::prototype::Agreement| format!("{:.0}%", a.share() * 100.0);
    let rows: Vec<Vec<String>> = r
        .modes
        .iter()
        .map(|m| {
            let s = &m.summary;
            vec![
                m.mode.clone(),
                if m.reg.any() { m.reg.tag() } else { "-".into() },
                format!("{}/{}", s.reached, s.runs),
                s.median_steps.map_or("-".into(), |v| format!("{v:.0}")),
                pct(&m.own_cnn),
                m.other_cnn.as_ref().map_or("-".into(), pct),
                pct(&m.knn),
                dist(m.median_nearest_distance),
                format!("{:.1}", m.seconds),
            ]
        })
        .collect();
    for line in classgen::text::format::table(
        &[
            "mode",
            "regularisers",
            "reached",
            "steps",
            "own CNN",
            "other CNN",
            "k-NN",
            "NN dist",
            "seconds",
        ],
        &rows,
        &[2, 3, 4, 5, 6, 7, 8],
    ) {
        out!("{line}");
    }
    out!(
        "(steps: median over the runs that reached the threshold; shares count the final images, as bytes; NN dist: median L2 to the nearest training image, {} for the first {} test images)",
        dist(r.test_median_nearest_distance),
        r.reference_images
    );
    for m in &r.modes {
        let per = |a: &classgen::inversion::prototype::Agreement| {
            a.per_target
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        out!("{} per target 0-9 of {} each:", m.mode, p.starts);
        if let Some(o) = &m.other_cnn {
            out!("  other CNN  {}", per(o));
        }
        out!("  k-NN       {}", per(&m.knn));
        out!("  grid: {}", m.snapshot.display());
    }
    Ok(())
}

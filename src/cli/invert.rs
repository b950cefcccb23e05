//! `classgen invert`: turn the classifier into a generator, headless. One inversion with
//! progress lines and snapshots, or `--grid`: every class to every target, per method.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use classgen::baselines::knn::KnnIndex;
use classgen::config::Config;
use classgen::data::{Dataset, Split, CLASSES};
use classgen::inversion::grid::{self, Cell, Summary};
use classgen::inversion::{
    start, Frame, GradientInverter, GradientOptions, Inverter, KnnInverter, KnnOptions, Objective,
    Start, StartImage, StepKind, StopReason,
};
use classgen::model::checkpoint::{self, CheckpointMeta};
use classgen::model::Network;
use classgen::snapshot;

use super::DataArgs;

mod noise;

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
    /// --grid --from noise: noise starts per target.
    #[arg(long, value_name = "N")]
    starts: Option<usize>,
    /// --grid --from noise: the CNN that judges the images (default: the newest train run on
    /// the same data set with another seed).
    #[arg(long, value_name = "RUN_DIR")]
    judge: Option<PathBuf>,
    /// Start image: test:IDX, class:C (first confident test image of class C), noise:SEED or
    /// blank [default: class:3]. With --grid: class (the first confident test image of each
    /// class; the default) or noise[:SEED] (seeded noise starts, plain and regularised, judged
    /// by other models; see [invert.prototype]).
    #[arg(long, value_name = "START")]
    from: Option<String>,
    /// Target class, 0-9.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u8).range(0..10), required_unless_present = "grid")]
    target: Option<u8>,
    /// Every class (first confident test image of each) to every target; a grid PNG and a
    /// table per method (by default naive and log loss, each with raw and normalised steps).
    #[arg(long)]
    grid: bool,
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
    /// Training run whose checkpoint to use (default: the latest under paths.runs).
    #[arg(long, value_name = "RUN_DIR")]
    run: Option<PathBuf>,
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
}

/// What `classgen invert` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// One inversion.
    One { start: Start, target: usize },
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
        if !self.grid {
            let start: Start = from
                .unwrap_or("class:3")
                .parse()
                .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
            let target = self
                .target
                .context("--target T (0-9) is needed without --grid")?;
            if self.starts.is_some() || self.judge.is_some() {
                anyhow::bail!("--starts and --judge go with --grid --from noise");
            }
            return Ok(Task::One {
                start,
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

    fn apply(&self, config: &mut Config, task: Task) -> anyhow::Result<()> {
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
        if let Task::NoiseGrid(seed) = task {
            let p = &mut c.prototype;
            if let Some(v) = seed {
                p.first_seed = v;
            }
            if let Some(v) = self.starts {
                p.starts = v;
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

/// The checkpoint to invert: `--run`, else the latest train run.
/// Prints grid progress after each source row when `every` > 0.
fn grid_progress(every: usize) -> impl Fn(usize, usize) {
    move |done, total| {
        if every > 0 && done.is_multiple_of(CLASSES) {
            eprintln!("  {done}/{total}");
        }
    }
}

/// The final image of every cell, one row per source, for [`snapshot::grid`].
fn grid_rows(cells: &[Cell]) -> Vec<Vec<Option<&[f32]>>> {
    cells
        .chunks(CLASSES)
        .map(|row| row.iter().map(|c| Some(c.last.pixels.as_slice())).collect())
        .collect()
}

/// Builds the k-NN index over the training split with the `[baselines]` settings, saying so
/// on stderr as `<role>: k-NN, ...`.
fn knn_index(config: &Config, data: &Dataset, role: &str) -> anyhow::Result<KnnIndex> {
    let b = &config.baselines;
    let started = std::time::Instant::now();
    let index = KnnIndex::new(
        &data.train.images,
        &data.train.labels,
        b.knn_pca_dims,
        b.seed,
    )?;
    eprintln!(
        "{role}: k-NN, k = {} over {} training images (index built in {:.1} s)",
        b.k,
        data.train.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(index)
}

fn run_dir(args: &InvertArgs, config: &Config) -> anyhow::Result<PathBuf> {
    if let Some(run) = &args.run {
        return Ok(run.clone());
    }
    checkpoint::latest_run(&config.paths.runs, "train").ok_or_else(|| {
        anyhow::anyhow!(
            "no trained CNN under {}: train one with `classgen train` (a few minutes; `--epochs 1` is enough to try), or name a run with --run RUN_DIR",
            config.paths.runs.display()
        )
    })
}

/// A short model tag for file names: `cnn-<run directory name without -train>`.
fn model_tag(dir: &Path) -> String {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("run")
        .trim_end_matches("-train");
    format!("cnn-{name}")
}

/// The classifier being inverted.
enum Model {
    Cnn {
        net: Arc<Network>,
        tag: String,
        dir: PathBuf,
        meta: Box<CheckpointMeta>,
    },
    Knn {
        index: Arc<KnnIndex>,
        train: Arc<Split>,
        k: usize,
    },
}

/// One way to invert: the settings of either inverter, target left to fill in.
#[derive(Clone)]
enum Method {
    Gradient(GradientOptions),
    Knn(KnnOptions),
}

impl Method {
    /// For file names and tables: `log-normalized`, `knn-k3-mask0.5`.
    fn tag(&self) -> String {
        match self {
            Self::Gradient(o) => {
                let mut tag = format!("{}-{}", o.objective.name(), o.step.name());
                let reg = o.reg.tag();
                if !reg.is_empty() {
                    tag = format!("{tag}-{reg}");
                }
                tag
            }
            Self::Knn(o) => format!("k{}-mask{}", o.k, o.mask),
        }
    }

    fn threshold(&self) -> f32 {
        match self {
            Self::Gradient(o) => o.threshold,
            Self::Knn(o) => o.threshold,
        }
    }

    fn options_json(&self) -> serde_json::Value {
        match self {
            Self::Gradient(o) => serde_json::json!(o),
            Self::Knn(o) => serde_json::json!(o),
        }
    }
}

impl Model {
    fn tag(&self) -> String {
        match self {
            Self::Cnn { tag, .. } => tag.clone(),
            Self::Knn { train, .. } => format!("knn-{}train", train.len()),
        }
    }

    fn predict(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        match self {
            Self::Cnn { net, .. } => Ok(net.predict_proba(pixels, 256)?),
            Self::Knn { index, k, .. } => Ok(index.predict_proba_u8(pixels, *k)),
        }
    }

    /// The default method of this model from the config.
    fn method(&self, config: &Config) -> Method {
        match self {
            Self::Cnn { .. } => Method::Gradient(config.invert.options(0)),
            Self::Knn { k, .. } => {
                let c = &config.invert.knn;
                Method::Knn(KnnOptions {
                    target: 0,
                    k: *k,
                    lr: c.lr,
                    mask: c.mask,
                    max_steps: c.max_steps,
                    threshold: c.threshold,
                    seed: config.invert.seed,
                })
            }
        }
    }

    fn inverter(
        &self,
        method: &Method,
        start: &[f32],
        target: usize,
    ) -> anyhow::Result<Box<dyn Inverter>> {
        Ok(match (self, method) {
            (Self::Cnn { net, .. }, Method::Gradient(o)) => Box::new(GradientInverter::new(
                net.clone(),
                start.to_vec(),
                GradientOptions {
                    target,
                    ..o.clone()
                },
            )?),
            (Self::Knn { index, train, .. }, Method::Knn(o)) => Box::new(KnnInverter::new(
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

/// Runs `classgen invert`.
pub fn run(args: InvertArgs, config: &mut Config) -> anyhow::Result<()> {
    let task = args.task()?;
    args.apply(config, task)?;
    config.validate()?;
    classgen::runtime::set_threads(config.invert.threads);
    let (model, data) = match args.model {
        ModelKind::Cnn => {
            let dir = run_dir(&args, config)?;
            let device = classgen::device::open(&config.train.device)?;
            let (net, meta) = checkpoint::load_network(&dir, &device)?;
            eprintln!(
                "model: {} ({}, epoch {})",
                dir.display(),
                meta.arch.name,
                meta.position.epoch
            );
            let needs_data = match task {
                Task::One { start, .. } => start.needs_test_split(),
                Task::ClassGrid | Task::NoiseGrid(_) => true,
            };
            let data = if needs_data {
                Some(super::load_data(config, Some(meta.dataset))?.dataset)
            } else {
                None
            };
            let model = Model::Cnn {
                net: Arc::new(net),
                tag: model_tag(&dir),
                dir,
                meta: Box::new(meta),
            };
            (model, data)
        }
        ModelKind::Knn => {
            if args.run.is_some() {
                anyhow::bail!("--run names a CNN checkpoint: k-NN needs none");
            }
            let data = super::load_data(config, None)?.dataset;
            let index = knn_index(config, &data, "model")?;
            let model = Model::Knn {
                index: Arc::new(index),
                train: Arc::new(data.train.clone()),
                k: config.baselines.k,
            };
            (model, Some(data))
        }
    };
    match task {
        Task::One { start, target } => run_one(&args, config, &model, data.as_ref(), start, target),
        Task::ClassGrid => run_grid(&args, config, &model, data.as_ref()),
        Task::NoiseGrid(_) => match (&model, &data) {
            (
                Model::Cnn {
                    net,
                    tag,
                    dir,
                    meta,
                },
                Some(data),
            ) => noise::run(&args, config, net, tag, dir, meta, data),
            _ => anyhow::bail!("--grid --from noise needs the CNN and its data set"),
        },
    }
}

fn describe(start: &StartImage) -> String {
    match start.label {
        Some(l) => format!("{} (label {l})", start.tag),
        None => start.tag.clone(),
    }
}

fn run_one(
    args: &InvertArgs,
    config: &Config,
    model: &Model,
    data: Option<&Dataset>,
    from: Start,
    target: usize,
) -> anyhow::Result<()> {
    let empty = Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    let test = data.map_or(&empty, |d| &d.test);
    let predict = |pixels: &[u8]| model.predict(pixels);
    let start = from
        .resolve(test, &predict, config.invert.confidence)
        .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let method = model.method(config);
    let mut inverter = model.inverter(&method, &start.pixels, target)?;
    let started = std::time::Instant::now();
    let mut frames: Vec<Frame> = Vec::new();
    while inverter.stop_reason().is_none() {
        let frame = inverter.step()?;
        if args.every > 0 && frame.step.is_multiple_of(args.every) {
            eprintln!("{}", progress_line(&frame));
        }
        frames.push(frame);
    }
    let seconds = started.elapsed().as_secs_f64();
    let reason = inverter
        .stop_reason()
        .context("the inversion ended without a stop reason")?;
    let (first, last) = match (frames.first(), frames.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => anyhow::bail!("the inversion produced no frame"),
    };
    if args.every > 0 && !last.step.is_multiple_of(args.every) {
        eprintln!("{}", progress_line(last));
    }
    let (tag, method_tag) = (model.tag(), method.tag());
    let base = snapshot::file_name(&[
        &tag,
        &start.tag,
        &format!("to{target}"),
        &method_tag,
        &format!("step{}", last.step),
    ]);
    let dir = &config.paths.snapshots;
    let scale = config.invert.scale;
    let final_png = snapshot::write_png(dir, &base, &snapshot::image(&last.pixels, scale))?;
    let pixels: Vec<&[f32]> = frames.iter().map(|f| f.pixels.as_slice()).collect();
    let strip_png = snapshot::write_png(
        dir,
        &format!("{base}_strip"),
        &snapshot::strip(&pixels, config.invert.strip, scale),
    )?;
    let mut written = vec![final_png, strip_png];
    if config.invert.gif_frames > 0 {
        written.push(snapshot::write_gif(
            dir,
            &base,
            &pixels,
            config.invert.gif_frames,
            scale,
        )?);
    }
    let reached = reason == StopReason::Reached;
    if args.json {
        let out = serde_json::json!({
            "model": tag, "from": start.tag, "label": start.label, "target": target,
            "options": method.options_json(), "steps": last.step, "reached": reached,
            "stop": reason, "p_target": last.p_target, "probs": last.probs, "l2": last.l2,
            "linf": last.linf, "start_grad_norm": first.grad_norm,
            "final_grad_norm": last.grad_norm, "seconds": seconds,
            "snapshots": written,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} -> {target} ({tag}, {method_tag}): {} after {} steps, p_target {:.4}, L2 {:.3}, L-inf {:.3}; gradient norm {:.3e} at the start, {:.3e} at the end ({seconds:.2} s)",
            describe(&start),
            if reached { "reached" } else { reason.describe() },
            last.step,
            last.p_target,
            last.l2,
            last.linf,
            first.grad_norm,
            last.grad_norm,
        );
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        println!("snapshots: {}", names.join(", "));
    }
    Ok(())
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

/// The methods a grid compares: for the CNN by default naive and log loss, each with a raw
/// and a normalised step (`--loss`/`--step` narrow it); for k-NN its one method.
fn grid_methods(args: &InvertArgs, config: &Config, model: &Model) -> Vec<Method> {
    match model.method(config) {
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
    model: &Model,
    data: Option<&Dataset>,
) -> anyhow::Result<()> {
    let data = data.context("--grid needs the test split")?;
    let confidence = config.invert.confidence;
    let predict = |pixels: &[u8]| model.predict(pixels);
    let found = start::first_confident(&predict, &data.test, confidence)?;
    let mut sources = Vec::new();
    for (class, index) in found.iter().enumerate() {
        match index {
            Some(i) => sources.push(Start::Test(*i).resolve(&data.test, &predict, confidence)?),
            None => eprintln!(
                "class {class}: no test image classified as {class} with p >= {confidence}; row left out"
            ),
        }
    }
    let tag = model.tag();
    let mut results = Vec::new();
    for method in grid_methods(args, config, model) {
        let method_tag = method.tag();
        eprintln!("{method_tag}: {} inversions", sources.len() * CLASSES);
        let started = std::time::Instant::now();
        let cells = grid::run(
            &sources,
            |source, target| model.inverter(&method, &source.pixels, target),
            grid_progress(args.every),
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let rows = grid_rows(&cells);
        let png = snapshot::write_png(
            &config.paths.snapshots,
            &snapshot::file_name(&[&tag, "grid", "classes-to-all", &method_tag]),
            &snapshot::grid(&rows, config.invert.scale),
        )?;
        let summary = grid::summarise(&cells);
        results.push(MethodResult {
            tag: method_tag,
            threshold: method.threshold(),
            summary,
            cells,
            png,
            seconds,
        });
    }
    if args.json {
        let out: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "method": r.tag, "summary": r.summary, "cells": r.cells,
                    "snapshot": r.png, "seconds": r.seconds,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "model": tag, "methods": out }))?
        );
        return Ok(());
    }
    for r in &results {
        println!(
            "\n{}: steps to p >= {} (- = not reached), {:.1} s, {}",
            r.tag,
            r.threshold,
            r.seconds,
            r.png.display()
        );
        print_steps(&r.cells);
    }
    println!();
    print_summaries(&results);
    Ok(())
}

fn print_steps(cells: &[Cell]) {
    print!("{:>8}", "from\\to");
    for t in 0..CLASSES {
        print!("{t:>6}");
    }
    println!();
    for row in cells.chunks(CLASSES) {
        let label = row[0]
            .label
            .map_or_else(|| "?".to_string(), |l| l.to_string());
        print!("{label:>8}");
        for c in row {
            if c.reason == StopReason::Reached {
                print!("{:>6}", c.steps);
            } else {
                print!("{:>6}", "-");
            }
        }
        println!();
    }
}

/// One method's grid.
struct MethodResult {
    tag: String,
    threshold: f32,
    summary: Summary,
    cells: Vec<Cell>,
    png: PathBuf,
    seconds: f64,
}

fn print_summaries(results: &[MethodResult]) {
    let opt = |v: Option<f64>, p: usize| v.map_or_else(|| "-".to_string(), |v| format!("{v:.p$}"));
    println!(
        "{:<24} {:>12} {:>12} {:>8} {:>10} {:>16}",
        "method", "success", "median steps", "mean L2", "mean L-inf", "median |g| start"
    );
    for r in results {
        let s = &r.summary;
        println!(
            "{:<24} {:>12} {:>12} {:>8} {:>10} {:>16}",
            r.tag,
            format!("{}/{} {:.0}%", s.reached, s.runs, s.success_rate * 100.0),
            opt(s.median_steps, 1),
            opt(s.mean_l2, 3),
            opt(s.mean_linf, 3),
            s.median_start_grad_norm
                .map_or_else(|| "-".to_string(), |v| format!("{v:.2e}")),
        );
    }
    println!("(cells whose source already is the target are left out; steps and distances are over the runs that reached the threshold; k-NN's |g| is its direction's length)");
}

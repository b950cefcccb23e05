//! `classgen invert`: turn the classifier into a generator, headless. One inversion with
//! progress lines and snapshots, or `--grid`: every class to every target, per method.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use classgen::config::Config;
use classgen::data::{Dataset, CLASSES};
use classgen::inversion::grid::{self, Cell, Summary};
use classgen::inversion::{
    start, Frame, GradientInverter, GradientOptions, Objective, Start, StartImage, StepKind,
};
use classgen::model::{checkpoint, Network};
use classgen::snapshot;

use super::DataArgs;

/// Which classifier to invert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelKind {
    /// The CNN of a training run (gradient inversion).
    Cnn,
}

/// Flags of `classgen invert`; each overrides `[invert]` in the config.
#[derive(Debug, Args)]
pub struct InvertArgs {
    /// Classifier to invert.
    #[arg(long, value_enum, default_value = "cnn")]
    model: ModelKind,
    /// Start image: test:IDX, class:C (first confident test image of class C), noise:SEED or blank.
    #[arg(
        long,
        value_name = "START",
        default_value = "class:3",
        conflicts_with = "grid"
    )]
    from: Start,
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
    /// Learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// Most updates.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Stop once p(target) reaches this.
    #[arg(long)]
    threshold: Option<f32>,
    /// Stop once the gradient norm is below this (0 = never).
    #[arg(long)]
    epsilon: Option<f32>,
    /// Regularisers: tv=F,l2=F,blur=SIGMA,blur_every=K,jitter=PX (0 = off).
    #[arg(long, value_name = "SPEC")]
    reg: Option<String>,
    /// Seed for jitter.
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
    /// A progress line every N steps (0 = none).
    #[arg(long, default_value_t = 10)]
    every: usize,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
}

impl InvertArgs {
    fn apply(&self, config: &mut Config) -> anyhow::Result<()> {
        self.data.apply(config);
        if let Some(d) = &self.device {
            config.train.device = d.clone();
        }
        let c = &mut config.invert;
        if let Some(v) = self.loss {
            c.loss = v;
        }
        if let Some(v) = self.step {
            c.step = v;
        }
        if let Some(v) = self.lr {
            c.lr = v;
        }
        if let Some(v) = self.max_steps {
            c.max_steps = v;
        }
        if let Some(v) = self.threshold {
            c.threshold = v;
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
        if let Some(spec) = &self.reg {
            c.reg = c
                .reg
                .parse_over(spec)
                .map_err(|e| anyhow::anyhow!("--reg: {e}"))?;
        }
        Ok(())
    }
}

/// The checkpoint to invert: `--run`, else the latest train run.
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

/// Runs `classgen invert`.
pub fn run(args: InvertArgs, config: &mut Config) -> anyhow::Result<()> {
    args.apply(config)?;
    config.validate()?;
    let ModelKind::Cnn = args.model;
    let dir = run_dir(&args, config)?;
    let device = classgen::device::open(&config.train.device)?;
    let (net, meta) = checkpoint::load_network(&dir, &device)?;
    let net = Arc::new(net);
    eprintln!(
        "model: {} ({}, epoch {})",
        dir.display(),
        meta.arch.name,
        meta.position.epoch
    );
    let tag = model_tag(&dir);
    let needs_data = args.grid || args.from.needs_test_split();
    let data = if needs_data {
        Some(super::load_data(config, Some(meta.dataset))?.dataset)
    } else {
        None
    };
    match (args.grid, args.target) {
        (true, _) => run_grid(&args, config, &net, data.as_ref(), &tag),
        (false, Some(target)) => run_one(&args, config, &net, data.as_ref(), &tag, target.into()),
        (false, None) => anyhow::bail!("--target T (0-9) is needed without --grid"),
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
    net: &Arc<Network>,
    data: Option<&Dataset>,
    tag: &str,
    target: usize,
) -> anyhow::Result<()> {
    let empty = classgen::data::Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    let test = data.map_or(&empty, |d| &d.test);
    let start = args
        .from
        .resolve(test, net, config.invert.confidence)
        .map_err(|e| anyhow::anyhow!("--from {}: {e}", args.from))?;
    let options = config.invert.options(target);
    let mut inverter = GradientInverter::new(net.clone(), start.pixels.clone(), options.clone())?;
    let started = std::time::Instant::now();
    let mut frames: Vec<Frame> = Vec::new();
    for frame in inverter.by_ref() {
        let frame = frame?;
        if args.every > 0 && (frame.step % args.every == 0) {
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
    if args.every > 0 && last.step % args.every != 0 {
        eprintln!("{}", progress_line(last));
    }
    let method = method_tag(&options);
    let base = [
        tag,
        &start.tag,
        &format!("to{target}"),
        &method,
        &format!("step{}", last.step),
    ];
    let dir = &config.paths.snapshots;
    let final_png = snapshot::write_png(
        dir,
        &snapshot::file_name(&base),
        &snapshot::image(&last.pixels, config.invert.scale),
    )?;
    let pixels: Vec<&[f32]> = frames.iter().map(|f| f.pixels.as_slice()).collect();
    let strip_png = snapshot::write_png(
        dir,
        &format!("{}_strip", snapshot::file_name(&base)),
        &snapshot::strip(&pixels, config.invert.strip, config.invert.scale),
    )?;
    let reached = reason == classgen::inversion::StopReason::Reached;
    if args.json {
        let out = serde_json::json!({
            "model": tag, "from": start.tag, "label": start.label, "target": target,
            "options": options, "steps": last.step, "reached": reached, "stop": reason,
            "p_target": last.p_target, "probs": last.probs, "l2": last.l2, "linf": last.linf,
            "start_grad_norm": first.grad_norm, "final_grad_norm": last.grad_norm,
            "seconds": seconds, "snapshots": [final_png, strip_png],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} -> {target} ({method}): {} after {} steps, p_target {:.4}, L2 {:.3}, L-inf {:.3}; gradient norm {:.3e} at the start, {:.3e} at the end ({seconds:.2} s)",
            describe(&start),
            if reached { "reached" } else { reason.describe() },
            last.step,
            last.p_target,
            last.l2,
            last.linf,
            first.grad_norm,
            last.grad_norm,
        );
        println!(
            "snapshots: {}, {}",
            final_png.display(),
            strip_png.display()
        );
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

/// `log-normalized`, plus the regulariser tag if any.
fn method_tag(o: &GradientOptions) -> String {
    let mut tag = format!("{}-{}", o.objective.name(), o.step.name());
    let reg = o.reg.tag();
    if !reg.is_empty() {
        tag = format!("{tag}-{reg}");
    }
    tag
}

fn run_grid(
    args: &InvertArgs,
    config: &Config,
    net: &Arc<Network>,
    data: Option<&Dataset>,
    tag: &str,
) -> anyhow::Result<()> {
    let data = data.context("--grid needs the test split")?;
    let confidence = config.invert.confidence;
    let found = start::first_confident(net, &data.test, confidence)?;
    let mut sources = Vec::new();
    for (class, index) in found.iter().enumerate() {
        match index {
            Some(i) => sources.push(Start::Test(*i).resolve(&data.test, net, confidence)?),
            None => eprintln!(
                "class {class}: no test image classified as {class} with p >= {confidence}; row left out"
            ),
        }
    }
    let losses = args
        .loss
        .map_or(vec![Objective::Naive, Objective::Log], |l| vec![l]);
    let steps = args
        .step
        .map_or(vec![StepKind::Raw, StepKind::Normalized], |s| vec![s]);
    let mut results = Vec::new();
    for &objective in &losses {
        for &step in &steps {
            let options = GradientOptions {
                objective,
                step,
                ..config.invert.options(0)
            };
            let method = method_tag(&options);
            eprintln!("{method}: {} inversions", sources.len() * CLASSES);
            let started = std::time::Instant::now();
            let cells = grid::run(net, &sources, &options, |done, total| {
                if args.every > 0 && done % CLASSES == 0 {
                    eprintln!("  {done}/{total}");
                }
            })?;
            let seconds = started.elapsed().as_secs_f64();
            let rows: Vec<Vec<Option<&[f32]>>> = cells
                .chunks(CLASSES)
                .map(|row| row.iter().map(|c| Some(c.last.pixels.as_slice())).collect())
                .collect();
            let png = snapshot::write_png(
                &config.paths.snapshots,
                &snapshot::file_name(&[tag, "grid", "classes-to-all", &method]),
                &snapshot::grid(&rows, config.invert.scale),
            )?;
            let summary = grid::summarise(&cells);
            results.push((method, summary, cells, png, seconds));
        }
    }
    if args.json {
        let out: Vec<serde_json::Value> = results
            .iter()
            .map(|(method, summary, cells, png, seconds)| {
                serde_json::json!({
                    "method": method, "summary": summary, "cells": cells,
                    "snapshot": png, "seconds": seconds,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "model": tag, "methods": out }))?
        );
        return Ok(());
    }
    for (method, _, cells, png, seconds) in &results {
        println!(
            "\n{method}: steps to p >= {} (- = not reached), {seconds:.1} s, {}",
            config.invert.threshold,
            png.display()
        );
        print_steps(cells);
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
            if c.reason == classgen::inversion::StopReason::Reached {
                print!("{:>6}", c.steps);
            } else {
                print!("{:>6}", "-");
            }
        }
        println!();
    }
}

type MethodResult = (String, Summary, Vec<Cell>, PathBuf, f64);

fn print_summaries(results: &[MethodResult]) {
    let opt = |v: Option<f64>, p: usize| v.map_or_else(|| "-".to_string(), |v| format!("{v:.p$}"));
    println!(
        "{:<24} {:>12} {:>12} {:>8} {:>10} {:>16}",
        "method", "success", "median steps", "mean L2", "mean L-inf", "median |g| start"
    );
    for (method, s, _, _, _) in results {
        println!(
            "{:<24} {:>12} {:>12} {:>8} {:>10} {:>16}",
            method,
            format!("{}/{} {:.0}%", s.reached, s.runs, s.success_rate * 100.0),
            opt(s.median_steps, 1),
            opt(s.mean_l2, 3),
            opt(s.mean_linf, 3),
            s.median_start_grad_norm
                .map_or_else(|| "-".to_string(), |v| format!("{v:.2e}")),
        );
    }
    println!("(cells whose source already is the target are left out; steps and distances are over the runs that reached the threshold)");
}

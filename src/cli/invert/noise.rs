//! `classgen invert --grid --from noise`: every target from seeded noise, plain and
//! regularised, and the share of the images that other models also classify as the target.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use classgen::config::Config;
use classgen::data::{Dataset, CLASSES};
use classgen::inversion::grid::{self, Cell, Summary};
use classgen::inversion::prototype::{self, Agreement};
use classgen::inversion::{GradientInverter, Inverter, Regularisers};
use classgen::model::checkpoint::{self, CheckpointMeta};
use classgen::model::Network;
use classgen::snapshot;

use super::InvertArgs;

/// Test images whose distance to the nearest training image is the reference.
const REFERENCE_IMAGES: usize = 500;

/// One mode's images and what the classifiers make of them.
struct ModeResult {
    name: &'static str,
    reg: Regularisers,
    summary: Summary,
    cells: Vec<Cell>,
    /// The inverted CNN, the CNN trained with another seed (if any), the k-NN.
    own: Agreement,
    other: Option<Agreement>,
    knn: Agreement,
    /// Median distance of the images to their nearest training image.
    nearest: Option<f64>,
    png: PathBuf,
    seconds: f64,
}

/// Runs the noise grid for the CNN `net` (checkpoint `dir`, `meta`) on `data`.
pub(super) fn run(
    args: &InvertArgs,
    config: &Config,
    net: &Arc<Network>,
    tag: &str,
    dir: &Path,
    meta: &CheckpointMeta,
    data: &Dataset,
) -> anyhow::Result<()> {
    let p = &config.invert.prototype;
    let judge = load_judge(args, config, net, dir, meta)?;
    let b = &config.baselines;
    let index = super::knn_index(config, data, "judge")?;
    // How far real digits lie from their nearest training image, for reference.
    let real = data.test.head(REFERENCE_IMAGES.min(data.test.len()));
    let real_nearest = prototype::median_nearest_distance(&index, &real.images);
    let sources = prototype::noise_starts(p.first_seed, p.starts);
    let mut results = Vec::new();
    for (name, reg) in [("plain", Regularisers::default()), ("regularised", p.reg)] {
        eprintln!("{name}: {} inversions", sources.len() * CLASSES);
        let started = std::time::Instant::now();
        let cells = grid::run(
            &sources,
            |source, target| {
                let options = p.options(&config.invert, target, reg);
                let inverter = GradientInverter::new(net.clone(), source.pixels.clone(), options)?;
                Ok(Box::new(inverter) as Box<dyn Inverter>)
            },
            super::grid_progress(args.every),
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let rows = super::grid_rows(&cells);
        let method = match reg.tag() {
            t if t.is_empty() => "plain".to_string(),
            t => t,
        };
        let png = snapshot::write_png(
            &config.paths.snapshots,
            &snapshot::file_name(&[
                tag,
                "grid",
                &format!("noise{}x{}", p.first_seed, p.starts),
                &format!("{}-{}-lr{}", p.loss.name(), config.invert.step.name(), p.lr),
                &method,
            ]),
            &snapshot::grid(&rows, config.invert.scale),
        )?;
        let own = prototype::agreement(&cells, &cnn(net))?;
        let other = match &judge {
            Some((_, _, judge)) => Some(prototype::agreement(&cells, &cnn(judge))?),
            None => None,
        };
        let knn = prototype::agreement(&cells, &|px: &[u8]| Ok(index.predict_proba_u8(px, b.k)))?;
        let nearest = prototype::median_nearest_distance(&index, &prototype::final_images(&cells));
        results.push(ModeResult {
            name,
            reg,
            summary: grid::summarise(&cells),
            cells,
            own,
            other,
            knn,
            nearest,
            png,
            seconds,
        });
    }
    let judge_json = judge.as_ref().map(
        |(d, m, _)| serde_json::json!({ "run": d, "seed": m.config.seed, "arch": m.arch.name }),
    );
    if args.json {
        let modes: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "mode": r.name, "reg": r.reg, "summary": r.summary, "cells": r.cells,
                    "own_cnn": r.own, "other_cnn": r.other, "knn": r.knn,
                    "median_nearest_distance": r.nearest,
                    "snapshot": r.png, "seconds": r.seconds,
                })
            })
            .collect();
        let out = serde_json::json!({
            "model": tag, "options": p.options(&config.invert, 0, Regularisers::default()),
            "starts": p.starts, "first_seed": p.first_seed, "judge_cnn": judge_json,
            "knn_k": b.k, "test_median_nearest_distance": real_nearest, "modes": modes,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "noise -> every target ({} starts x {CLASSES} targets, {tag}, {} loss, {} step, lr {}, up to {} steps to p >= {})",
        p.starts,
        p.loss.name(),
        config.invert.step.name(),
        p.lr,
        p.max_steps,
        p.threshold
    );
    let judge_name = match &judge {
        Some((d, m, _)) => format!("{} (seed {})", d.display(), m.config.seed),
        None => "none".to_string(),
    };
    println!(
        "classified as the target by: the inverted CNN; a CNN trained with another seed: {judge_name}; k-NN (k = {})",
        b.k
    );
    println!(
        "{:<12} {:<32} {:>8} {:>7} {:>9} {:>10} {:>8} {:>9} {:>7}",
        "mode",
        "regularisers",
        "reached",
        "steps",
        "own CNN",
        "other CNN",
        "k-NN",
        "NN dist",
        "seconds"
    );
    let dist = |d: Option<f64>| d.map_or("-".into(), |d| format!("{d:.2}"));
    let pct = |a: &Agreement| format!("{:.0}%", a.share() * 100.0);
    for r in &results {
        let s = &r.summary;
        println!(
            "{:<12} {:<32} {:>8} {:>7} {:>9} {:>10} {:>8} {:>9} {:>7.1}",
            r.name,
            if r.reg.any() { r.reg.tag() } else { "-".into() },
            format!("{}/{}", s.reached, s.runs),
            s.median_steps.map_or("-".into(), |v| format!("{v:.0}")),
            pct(&r.own),
            r.other.as_ref().map_or("-".into(), pct),
            pct(&r.knn),
            dist(r.nearest),
            r.seconds,
        );
    }
    println!(
        "(steps: median over the runs that reached the threshold; shares count the final images, as bytes; NN dist: median L2 to the nearest training image, {} for the first {} test images)",
        dist(real_nearest),
        real.len()
    );
    for r in &results {
        let per = |a: &Agreement| {
            a.per_target
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("{} per target 0-9 of {} each:", r.name, p.starts);
        if let Some(o) = &r.other {
            println!("  other CNN  {}", per(o));
        }
        println!("  k-NN       {}", per(&r.knn));
        println!("  grid: {}", r.png.display());
    }
    Ok(())
}

/// A CNN as a classifier of u8 images.
fn cnn(net: &Network) -> impl Fn(&[u8]) -> anyhow::Result<Vec<f32>> + '_ {
    move |pixels| Ok(net.predict_proba(pixels, 256)?)
}

/// The CNN that judges: `--judge`, else one found under the runs directory (see
/// [`prototype::find_judge`]); `None`, with a note on how to make one, when there is none.
fn load_judge(
    args: &InvertArgs,
    config: &Config,
    net: &Network,
    dir: &Path,
    meta: &CheckpointMeta,
) -> anyhow::Result<Option<(PathBuf, CheckpointMeta, Network)>> {
    let runs = &config.paths.runs;
    let Some(judge_dir) = args
        .judge
        .clone()
        .or_else(|| prototype::find_judge(runs, dir, meta))
    else {
        eprintln!(
            "no CNN trained on {} with a seed other than {} under {}: train one with `classgen train --seed {}` and the same data flags, or name one with --judge RUN_DIR; judging with the k-NN only",
            meta.dataset,
            meta.config.seed,
            runs.display(),
            meta.config.seed.wrapping_add(1)
        );
        return Ok(None);
    };
    let (judge, judge_meta) = checkpoint::load_network(&judge_dir, net.device())
        .map_err(|e| anyhow::anyhow!("--judge: {e:#}"))?;
    if judge_meta.dataset != meta.dataset {
        anyhow::bail!(
            "--judge {}: trained on {}, the inverted CNN on {}",
            judge_dir.display(),
            judge_meta.dataset,
            meta.dataset
        );
    }
    if judge_meta.config.seed == meta.config.seed {
        eprintln!(
            "warning: the judge {} was trained with the same seed ({}) as the inverted CNN: it is not independent",
            judge_dir.display(),
            meta.config.seed
        );
    }
    let accuracy = judge_meta
        .history
        .last()
        .map_or("-".into(), |h| format!("{:.2}%", h.test_accuracy * 100.0));
    eprintln!(
        "judge: {} ({}, seed {}, test accuracy {accuracy})",
        judge_dir.display(),
        judge_meta.arch.name,
        judge_meta.config.seed
    );
    Ok(Some((judge_dir, judge_meta, judge)))
}

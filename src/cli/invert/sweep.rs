//! `classgen invert --sweep`: the study's learning-rate x start comparison (section 3.3): one
//! inversion per (lr, start), a table (steps to the threshold or never, final p(target), L2 from
//! the start, oscillation), a braille chart of p(target) per lr and a labelled PNG grid of the
//! final images (rows: lrs, columns: starts).

use std::str::FromStr;

use anyhow::Context;

use classgen::config::Config;
use classgen::inversion::start::StartError;
use classgen::inversion::sweep::{SweepCell, OSCILLATION_DROP};
use classgen::inversion::{GradientInverter, Inverter, Start, StartImage};
use classgen::jobs::invert::InvertModel;
use classgen::text::charts::{self, AxisSpec, ChartSpec, Series, PALETTE};

use super::super::console::{self, note, out};
use super::super::{inputs, NeedCnn};
use super::{InvertArgs, Task};

/// The study's rates, and its starts: five noise images.
const DEFAULT_LRS: [f32; 5] = [0.01, 0.03, 0.1, 0.3, 1.0];
const DEFAULT_STARTS: &str = "noise:1-5";

/// `--starts`: comma-separated starts, `noise:A-B` for a range of noise seeds.
fn parse_starts(spec: &str) -> anyhow::Result<Vec<Start>> {
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
    if starts.is_empty() || starts.len() > classgen::limits::MAX_STARTS {
        anyhow::bail!(
            "--starts: 1 to {} starts, found {}",
            classgen::limits::MAX_STARTS,
            starts.len()
        );
    }
    Ok(starts)
}

/// Runs `classgen invert --sweep`.
pub(super) fn run(args: &InvertArgs, config: &mut Config) -> anyhow::Result<()> {
    if args.grid || args.from.is_some() {
        anyhow::bail!("--sweep takes its starts from --starts (not --from or --grid)");
    }
    let target = usize::from(args.target.context("--sweep needs --target T (0-9)")?);
    args.apply(config, &Task::ClassGrid)?;
    config.validate()?;
    classgen::runtime::set_threads(config.invert.threads);
    let lrs = args.lrs.clone().unwrap_or_else(|| DEFAULT_LRS.to_vec());
    if lrs.is_empty() || lrs.len() > classgen::limits::MAX_LEVELS {
        anyhow::bail!(
            "--lrs: 1 to {} rates, found {}",
            classgen::limits::MAX_LEVELS,
            lrs.len()
        );
    }
    if let Some(bad) = lrs.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
        anyhow::bail!("--lrs: each rate must be a positive number, found {bad}");
    }
    let starts = parse_starts(args.starts.as_deref().unwrap_or(DEFAULT_STARTS))?;
    let inputs = inputs(config, &args.data, args.run.as_deref(), NeedCnn::Required)?;
    let cnn = inputs.cnn.context("no CNN to invert")?;
    let network = cnn.network.clone();
    let model = InvertModel::Cnn(Box::new(cnn));
    let predict = |pixels: &[u8]| model.predict(pixels);
    let images: Vec<StartImage> = starts
        .iter()
        .map(|s| {
            s.resolve(&inputs.data.test, &predict, config.invert.confidence)
                .map_err(|e| anyhow::anyhow!("--starts {s}: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let base = config.invert.options(target);
    let threshold = base.threshold;
    let cancel = console::cancel_flag();
    let started = std::time::Instant::now();
    let mut cells: Vec<SweepCell> = Vec::new();
    let mut finals: Vec<Vec<f32>> = Vec::new();
    for &lr in &lrs {
        for (start, image) in starts.iter().zip(&images) {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                anyhow::bail!("stopped before the sweep's end");
            }
            let options = classgen::inversion::GradientOptions { lr, ..base.clone() };
            let mut inverter =
                GradientInverter::new(network.clone(), image.pixels.clone(), options)?;
            let frames = Inverter::run_to_end(&mut inverter)?;
            let cell = SweepCell::of(lr, start.to_string(), &frames, threshold);
            note!(
                "  lr {lr} from {start}: {} steps, p(target) {:.4}",
                frames.last().map_or(0, |f| f.step),
                cell.final_p
            );
            finals.push(frames.last().map(|f| f.pixels.clone()).unwrap_or_default());
            cells.push(cell);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // How far apart the final images of different starts are, per lr (mean, min, max L2).
    let spread: Vec<Option<(f32, f32, f32)>> = finals
        .chunks(starts.len())
        .map(|row| {
            let mut d = Vec::new();
            for i in 0..row.len() {
                for j in i + 1..row.len() {
                    d.push(classgen::inversion::distances(&row[i], &row[j]).0);
                }
            }
            let mean = d.iter().sum::<f32>() / d.len().max(1) as f32;
            let min = d.iter().copied().fold(f32::INFINITY, f32::min);
            let max = d.iter().copied().fold(0f32, f32::max);
            (!d.is_empty()).then_some((mean, min, max))
        })
        .collect();
    let png = write_grid(config, &model.tag(), target, &lrs, &starts, &finals)?;
    if args.json {
        let json = serde_json::json!({
            "target": target,
            "threshold": threshold,
            "oscillation_drop": OSCILLATION_DROP,
            "seconds": seconds,
            "grid": png,
            "cells": cells,
            "final_l2_between_starts": lrs.iter().zip(&spread).map(|(lr, s)| serde_json::json!({
                "lr": lr,
                "mean": s.map(|s| s.0),
                "min": s.map(|s| s.1),
                "max": s.map(|s| s.2),
            })).collect::<Vec<_>>(),
        });
        out!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    out!(
        "{:>8}  {:<10} {:>8}  {:>8}  {:>7}  {:>10}  oscillated (p fell > {OSCILLATION_DROP} after rising)",
        "lr", "start", "steps", "final p", "L2", "max fall"
    );
    for c in &cells {
        out!(
            "{:>8}  {:<10} {:>8}  {:>8.4}  {:>7.3}  {:>10.3}  {}",
            c.lr,
            c.start,
            c.steps_to_threshold
                .map_or("never".into(), |s| s.to_string()),
            c.final_p,
            c.l2,
            c.largest_drop,
            if c.oscillated { "yes" } else { "no" }
        );
    }
    out!(
        "steps: to p(target) >= {threshold} (never: not within {} steps)",
        base.max_steps
    );
    for (r, &lr) in lrs.iter().enumerate() {
        let row = &cells[r * starts.len()..(r + 1) * starts.len()];
        for line in chart(lr, row, base.max_steps) {
            out!("{line}");
        }
        if let Some((mean, min, max)) = spread[r] {
            let from_start = row.iter().map(|c| c.l2).sum::<f32>() / row.len() as f32;
            out!(
                "lr {lr}: final images of different starts are L2 {mean:.3} apart (min {min:.3}, max {max:.3}); each moved L2 {from_start:.3} from its start on average"
            );
        }
    }
    out!(
        "grid: {} (rows: lr {}; columns: {})",
        png,
        lrs.iter()
            .enumerate()
            .map(|(i, l)| format!("{i} = {l}"))
            .collect::<Vec<_>>()
            .join(", "),
        starts
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{i} = {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out!("{} inversions in {seconds:.1} s", cells.len());
    Ok(())
}

/// A braille chart of p(target) over the steps, one line per start, for rate `lr`.
fn chart(lr: f32, cells: &[SweepCell], max_steps: usize) -> Vec<String> {
    let series: Vec<Series> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let points: Vec<(f64, f64)> = c
                .curve
                .iter()
                .enumerate()
                .map(|(s, &p)| (s as f64, f64::from(p)))
                .collect();
            Series::line(c.start.clone(), points, PALETTE[i % PALETTE.len()])
        })
        .collect();
    let longest = cells
        .iter()
        .map(|c| c.curve.len())
        .max()
        .unwrap_or(1)
        .max(2)
        - 1;
    let steps = longest.min(max_steps).max(1) as f64;
    let spec = ChartSpec::new(
        format!("lr {lr}"),
        AxisSpec::new("step", [0.0, steps]).integer(),
        AxisSpec::new("p(target)", [0.0, 1.0]),
        series,
    );
    charts::render(72, 14, &spec)
}

/// The final images as a labelled grid (rows: lrs by index, columns: starts by index), written
/// under the snapshots directory, named after the model, the target and a hash of the settings
/// (never replacing a file: a taken name gets a suffix).
fn write_grid(
    config: &Config,
    model: &str,
    target: usize,
    lrs: &[f32],
    starts: &[Start],
    finals: &[Vec<f32>],
) -> anyhow::Result<String> {
    let rows: Vec<Vec<Option<&[f32]>>> = finals
        .chunks(starts.len())
        .map(|row| row.iter().map(|p| Some(p.as_slice())).collect())
        .collect();
    let labels: Vec<String> = (0..lrs.len()).map(|i| i.to_string()).collect();
    let img = classgen::snapshot::labelled_grid(&rows, &labels, config.invert.scale);
    let spec = format!(
        "{:?}{:?}{:?}",
        lrs,
        starts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        config.invert.options(target)
    );
    let hash = spec.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let name = classgen::snapshot::file_name(&[
        "invert-sweep",
        model,
        &format!("to{target}"),
        &format!("{:08x}", hash as u32),
    ]);
    let path = classgen::snapshot::write_png_unique(&config.paths.snapshots, &name, &img)?;
    Ok(path.display().to_string())
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
}

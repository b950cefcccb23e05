//! `classgen invert --sweep`: the study's learning-rate x start comparison (section 3.3): one
//! inversion per (lr, start), a table (steps to the threshold or never, final p(target), L2 from
//! the start, oscillation), a braille chart of p(target) per lr and a labelled PNG grid of the
//! final images (rows: lrs, columns: starts).

use anyhow::Context;

use classgen::config::Config;
use classgen::inversion::sweep::{SweepCell, OSCILLATION_DROP};
use classgen::jobs::invert_sweep::{
    self as job, SweepEvent, SweepPlan, DEFAULT_LRS, DEFAULT_STARTS,
};
use classgen::runs::RunStore;
use classgen::text::charts::{self, AxisSpec, ChartSpec, Series, PALETTE};

use super::super::console::{self, note, out};
use super::super::{inputs, NeedCnn};
use super::{snapshot_settings, InvertArgs, Task};

/// Runs `classgen invert --sweep` through the sweep job.
pub(super) fn run(args: &InvertArgs, config: &mut Config) -> anyhow::Result<()> {
    if args.grid || args.from.is_some() {
        anyhow::bail!("--sweep takes its starts from --starts (not --from or --grid)");
    }
    let target = usize::from(args.target.context("--sweep needs --target T (0-9)")?);
    args.apply(config, &Task::ClassGrid)?;
    config.validate()?;
    classgen::runtime::set_threads(config.invert.threads);
    let lrs = args.lrs.clone().unwrap_or_else(|| DEFAULT_LRS.to_vec());
    job::check_lrs(&lrs)?;
    let starts = job::parse_starts(args.starts.as_deref().unwrap_or(DEFAULT_STARTS))?;
    let inputs = inputs(config, &args.data, args.run.as_deref(), NeedCnn::Required)?;
    let plan = SweepPlan {
        cnn: inputs.cnn.context("no CNN to invert")?,
        lrs,
        starts,
        options: config.invert.options(target),
        confidence: config.invert.confidence,
        snapshots: snapshot_settings(config),
    };
    let store = RunStore::new(&config.paths.runs);
    let job = job::spawn(plan, inputs.data, &store, console::cancel_flag())?;
    super::super::announce(job.run());
    for event in job.events().iter() {
        match event {
            SweepEvent::CellDone { summary, steps, .. } => note!(
                "  lr {} from {}: {steps} steps, p(target) {:.4}",
                summary.lr,
                summary.start,
                summary.final_p
            ),
            SweepEvent::Notice { message } => note!("{message}"),
            SweepEvent::Planned { .. } | SweepEvent::Curve { .. } | SweepEvent::Grid { .. } => {}
        }
    }
    let result = job.join()?;
    let Some(png) = result.grid.as_ref().filter(|_| result.complete) else {
        anyhow::bail!("stopped before the sweep's end");
    };
    let png = png.display().to_string();
    let (lrs, starts, cells) = (&result.lrs, &result.starts, &result.cells);
    let threshold = result.threshold;
    if args.json {
        let json = serde_json::json!({
            "target": target,
            "threshold": threshold,
            "oscillation_drop": OSCILLATION_DROP,
            "seconds": result.seconds,
            "grid": png,
            "cells": cells,
            "final_l2_between_starts": lrs.iter().zip(&result.spread).map(|(lr, s)| serde_json::json!({
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
    for c in cells {
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
        result.max_steps
    );
    for (r, &lr) in lrs.iter().enumerate() {
        let row = &cells[r * starts.len()..(r + 1) * starts.len()];
        for line in chart(lr, row, result.max_steps) {
            out!("{line}");
        }
        if let Some((mean, min, max)) = result.spread[r] {
            let from_start = row.iter().map(|c| c.l2).sum::<f32>() / row.len() as f32;
            out!(
                "lr {lr}: final images of different starts are L2 {mean:.3} apart (min {min:.3}, max {max:.3}); each moved L2 {from_start:.3} from its start on average"
            );
        }
    }
    out!("grid: {png} (a row per lr, a column per start)");
    out!("{} inversions in {:.1} s", cells.len(), result.seconds);
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

//! Chart series and axes of saved results, for the headless report and the dashboard alike.

use ratatui::style::Color;

use super::charts::{self, AxisSpec, ChartSpec, Series};
use super::format;
use crate::analysis::robustness::AttackResult;
use crate::jobs::ablate::StudyPlan;
use crate::jobs::baselines::Row;
use crate::jobs::confidence::ModelConfidence;
use crate::jobs::robustness::RobustnessResult;

/// Models in the order their noise rows came.
pub fn noise_models(result: &RobustnessResult) -> Vec<&str> {
    let mut models: Vec<&str> = Vec::new();
    for row in &result.noise {
        if !models.contains(&row.model.as_str()) {
            models.push(&row.model);
        }
    }
    models
}

/// Accuracy (%) against sigma of each model, as chart series.
pub fn noise_series(result: &RobustnessResult) -> Vec<Series<'static>> {
    noise_models(result)
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let points: Vec<(f64, f64)> = result
                .noise
                .iter()
                .filter(|r| r.model == *m)
                .map(|r| (f64::from(r.sigma), 100.0 * r.accuracy))
                .collect();
            Series::line(*m, points, charts::PALETTE[i % charts::PALETTE.len()])
        })
        .collect()
}

/// The accuracy-against-noise chart of `result`, titled `title`.
pub fn noise_chart(result: &RobustnessResult, title: String) -> ChartSpec<'static> {
    let max_sigma = result.sigmas.iter().copied().fold(0.0f32, f32::max);
    ChartSpec::new(
        title,
        AxisSpec::new("sigma", [0.0, f64::from(max_sigma).max(1e-6)]),
        AxisSpec::new("acc %", [0.0, 100.0]),
        noise_series(result),
    )
}

/// The m(x) histogram chart of `m`, in `color`.
pub fn histogram_chart(m: &ModelConfidence, log: bool, color: Color) -> ChartSpec<'static> {
    let counts = &m.report.all.histogram;
    let title = format!("{}: m(x) of {} test images", m.label, m.report.all.count);
    ChartSpec::new(
        title,
        charts::confidence_x_axis(),
        charts::histogram_y_axis(counts, log),
        vec![charts::histogram_bars(&m.label, counts, color)],
    )
    .without_legend()
}

/// The reliability diagram of `m`: accuracy against mean confidence per non-empty bin, and the
/// diagonal of perfect calibration.
pub fn reliability_chart(m: &ModelConfidence, color: Color) -> ChartSpec<'static> {
    let points: Vec<(f64, f64)> = m
        .report
        .reliability
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.confidence, 100.0 * b.accuracy))
        .collect();
    ChartSpec::new(
        format!("reliability, ECE {:.4}", m.report.ece),
        AxisSpec::new("m(x)", [0.0, 1.0]),
        AxisSpec::new("acc %", [0.0, 100.0]),
        vec![
            Series::line(
                "calibrated",
                vec![(0.0, 0.0), (1.0, 100.0)],
                Color::DarkGray,
            ),
            Series::line(m.label.clone(), points, color),
        ],
    )
}

/// The cells of one attack's row: attack, kind, epsilon, clean accuracy, accuracy, success,
/// mean L2 and mean L-inf distance.
pub fn attack_cells(a: &AttackResult) -> Vec<String> {
    vec![
        a.attack.name().to_string(),
        if a.targeted { "targeted" } else { "untargeted" }.to_string(),
        a.epsilon.to_string(),
        format::percent(a.clean_accuracy),
        format::percent(a.accuracy),
        format::percent(a.success_rate),
        format!("{:.3}", a.mean_l2),
        format!("{:.3}", a.mean_linf),
    ]
}

/// The cells of one model's confidence row: model, accuracy, the quantiles of m(x), share
/// above 0.999, ECE, mean m(x) of right and of wrong answers.
pub fn confidence_cells(m: &ModelConfidence) -> Vec<String> {
    let r = &m.report;
    let mut cells = vec![m.label.clone(), format::percent(r.accuracy)];
    cells.extend(r.all.quantiles.iter().map(|(_, v)| format!("{v:.4}")));
    cells.push(format::percent(r.all.above_0999));
    cells.push(format!("{:.4}", r.ece));
    cells.push(format!("{:.4}", r.correct.mean_confidence));
    cells.push(format!("{:.4}", r.wrong.mean_confidence));
    cells
}

/// The cells of one baseline's row: model, accuracy, fit and predict seconds, size, note.
pub fn baseline_cells(r: &Row) -> Vec<String> {
    vec![
        r.model.clone(),
        format::percent(r.accuracy),
        format::seconds(r.fit_seconds),
        format::seconds(Some(r.predict_seconds)),
        format::bytes(r.size_bytes),
        r.note.clone(),
    ]
}

/// What a starting study will do: "18 runs, 0 already done; 2 at a time, 1 thread each".
pub fn study_plan(p: &StudyPlan) -> String {
    let threads = if p.threads_per_run == 1 {
        "thread"
    } else {
        "threads"
    };
    format!(
        "{} runs, {} already done; {} at a time, {} {threads} each",
        p.runs, p.done, p.at_once, p.threads_per_run
    )
}

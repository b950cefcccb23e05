//! Chart series and axes of saved results, for the headless report and the dashboard alike.

use ratatui::style::Color;
use ratatui::widgets::{Chart, GraphType};

use super::charts::{self, AxisSpec, Series};
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
pub fn noise_series(result: &RobustnessResult) -> Vec<Series> {
    noise_models(result)
        .iter()
        .enumerate()
        .map(|(i, m)| Series {
            name: m.to_string(),
            points: result
                .noise
                .iter()
                .filter(|r| r.model == *m)
                .map(|r| (f64::from(r.sigma), 100.0 * r.accuracy))
                .collect(),
            color: charts::PALETTE[i % charts::PALETTE.len()],
        })
        .collect()
}

/// The axes of an accuracy-against-noise chart.
pub fn noise_axes(result: &RobustnessResult) -> (AxisSpec, AxisSpec) {
    let max_sigma = result.sigmas.iter().copied().fold(0.0f32, f32::max);
    let x = AxisSpec {
        title: "sigma".into(),
        bounds: [0.0, f64::from(max_sigma).max(1e-6)],
        labels: vec![
            "0".into(),
            format!("{}", max_sigma / 2.0),
            format!("{max_sigma}"),
        ],
    };
    let y = AxisSpec {
        title: "acc %".into(),
        bounds: [0.0, 100.0],
        labels: ["0", "50", "100"].map(String::from).to_vec(),
    };
    (x, y)
}

/// An m(x) histogram of `m` as bars `per_bin` dots wide, in `color`.
pub fn histogram_series(
    m: &ModelConfidence,
    log: bool,
    per_bin: usize,
    color: Color,
) -> Vec<Series> {
    vec![Series {
        name: m.label.clone(),
        points: charts::histogram_points(&m.report.all.histogram, log, per_bin),
        color,
    }]
}

/// The m(x) histogram chart of `m` drawn from `series` (see [`histogram_series`]).
pub fn histogram_chart<'a>(m: &ModelConfidence, series: &'a [Series], log: bool) -> Chart<'a> {
    let title = format!(
        "{}: m(x) of {} test images{}",
        m.label,
        m.report.all.count,
        if log { ", log scale" } else { "" }
    );
    charts::chart(
        &title,
        series,
        GraphType::Bar,
        charts::confidence_x_axis(),
        charts::histogram_y_axis(&m.report.all.histogram, log),
    )
}

/// Reliability of `m`: accuracy against mean confidence per non-empty bin, and the diagonal
/// of perfect calibration.
pub fn reliability_series(m: &ModelConfidence, color: Color) -> Vec<Series> {
    let points = m
        .report
        .reliability
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.confidence, 100.0 * b.accuracy))
        .collect();
    vec![
        Series {
            name: "calibrated".into(),
            points: vec![(0.0, 0.0), (1.0, 100.0)],
            color: Color::DarkGray,
        },
        Series {
            name: m.label.clone(),
            points,
            color,
        },
    ]
}

/// The reliability diagram of `m` drawn from `series` (see [`reliability_series`]).
pub fn reliability_chart<'a>(m: &ModelConfidence, series: &'a [Series]) -> Chart<'a> {
    charts::chart(
        &format!("reliability, ECE {:.4}", m.report.ece),
        series,
        GraphType::Line,
        AxisSpec {
            title: "m(x)".into(),
            bounds: [0.0, 1.0],
            labels: ["0", "0.5", "1"].map(String::from).to_vec(),
        },
        AxisSpec {
            title: "acc %".into(),
            bounds: [0.0, 100.0],
            labels: ["0", "50", "100"].map(String::from).to_vec(),
        },
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

//! `classgen robustness`: accuracy of the CNN and the baselines under Gaussian noise (a table
//! and a braille chart per model), and of the CNN under FGSM and PGD (a table).

use anyhow::Context;
use clap::Args;

use classgen::analysis::robustness::AttackKind;
use classgen::baselines::BaselineKind;
use classgen::config::Config;
use classgen::jobs::robustness::{self as job, RobustnessEvent, RobustnessPlan, RobustnessResult};
use classgen::runs::RunStore;
use classgen::text::format;
use classgen::text::results::{self, noise_chart, noise_models, noise_series};

use super::console::{self, note, out};
use super::{DataArgs, NeedCnn};

/// Width and height of one model's chart, in characters.
const CHART_SIZE: (u16, u16) = (34, 12);
/// Charts side by side per row.
const CHARTS_PER_ROW: usize = 3;

/// Flags of `classgen robustness`.
#[derive(Debug, Args)]
pub struct RobustnessArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Baselines scored under noise next to the CNN, comma-separated (default: [baselines]
    /// models); `--models none` for the CNN only.
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Test images the attacks use (the first N).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Test images the noise part uses (the first N; 0 = all).
    #[arg(long, value_name = "N")]
    noise_limit: Option<usize>,
    /// Attacks to run, comma-separated (default: fgsm,pgd); `--attacks none` for none.
    #[arg(long, value_delimiter = ',')]
    attacks: Option<Vec<String>>,
    /// The CNN: a training run's directory or name (default: the newest finished one on the
    /// same data).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Parses a comma list of names with `none` meaning empty.
fn parse_list<T>(
    items: &[String],
    flag: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    if items.len() == 1 && items[0] == "none" {
        return Ok(Vec::new());
    }
    items
        .iter()
        .map(|s| parse(s).with_context(|| format!("{flag}: unknown name '{s}'")))
        .collect()
}

/// Runs `classgen robustness`.
pub fn run(args: RobustnessArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(n) = args.limit {
        config.robustness.attack_images = n;
    }
    if let Some(n) = args.noise_limit {
        config.robustness.noise_images = n;
    }
    config.validate()?;
    let baselines = match &args.models {
        Some(m) => parse_list(m, "--models", |s| {
            <BaselineKind as clap::ValueEnum>::from_str(s, true).ok()
        })?,
        None => config.baselines.models.clone(),
    };
    let attacks = match &args.attacks {
        Some(a) => parse_list(a, "--attacks", |s| {
            <AttackKind as clap::ValueEnum>::from_str(s, true).ok()
        })?,
        None => vec![AttackKind::Fgsm, AttackKind::Pgd],
    };
    classgen::runtime::set_threads(config.train.threads);
    let inputs = super::inputs(config, &args.data, args.run.as_deref(), NeedCnn::Optional)?;
    let plan = RobustnessPlan {
        settings: config.robustness.clone(),
        baselines,
        baseline_settings: config.baselines.clone(),
        attacks,
        cnn: inputs.cnn,
        eval_batch: config.train.eval_batch,
    };
    let store = RunStore::new(&config.paths.runs);
    let job = job::spawn(plan, inputs.data, &store, console::cancel_flag())?;
    super::announce(job.run());
    for event in job.events().iter() {
        match event {
            RobustnessEvent::Planned { noise, attacks, .. } => {
                note!("{noise} noise scores and {attacks} attacks planned")
            }
            RobustnessEvent::Fitting {
                model,
                train_images,
            } => note!("fitting {model} on {train_images} images ..."),
            RobustnessEvent::Noise(row) => note!(
                "{} sigma {}: {}",
                row.model,
                row.sigma,
                format::percent(row.accuracy)
            ),
            RobustnessEvent::Attack(a) => note!(
                "{} {} eps {}: accuracy {}, success {}",
                a.attack.name(),
                if a.targeted { "targeted" } else { "untargeted" },
                a.epsilon,
                format::percent(a.accuracy),
                format::percent(a.success_rate)
            ),
            RobustnessEvent::Notice { message } => note!("{message}"),
        }
    }
    let result = job.join()?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        for line in report(&result) {
            out!("{line}");
        }
    }
    Ok(())
}

/// One braille chart per model (so each reads in plain text), three to a row.
fn noise_charts(result: &RobustnessResult) -> Vec<String> {
    let series = noise_series(result);
    let (w, h) = CHART_SIZE;
    let mut lines = Vec::new();
    for row in series.chunks(CHARTS_PER_ROW) {
        let width = w * row.len() as u16;
        lines.extend(classgen::text::render_lines(width, h, |area, buf| {
            for (i, s) in row.iter().enumerate() {
                let cell = ratatui::layout::Rect::new(area.x + w * i as u16, area.y, w, h);
                let mut chart = noise_chart(result, s.name.clone()).without_legend();
                chart.series = vec![s.clone()];
                ratatui::widgets::Widget::render(&chart, cell, buf);
            }
        }));
    }
    lines
}

/// The printed report: noise table, charts, attack table.
fn report(result: &RobustnessResult) -> Vec<String> {
    let mut out = vec![format!(
        "Accuracy under Gaussian noise (clipped to [0,1], rounded to u8; first {} test images, seed {})",
        result.noise_images, result.noise_seed
    )];
    let mut header = vec!["model".to_string()];
    header.extend(result.sigmas.iter().map(|s| format!("σ={s}")));
    let rows: Vec<Vec<String>> = noise_models(result)
        .iter()
        .map(|m| {
            std::iter::once(m.to_string())
                .chain(
                    result
                        .noise
                        .iter()
                        .filter(|r| r.model == *m)
                        .map(|r| format::percent(r.accuracy)),
                )
                .collect()
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out.extend(format::table(
        &header,
        &rows,
        &(1..header.len()).collect::<Vec<_>>(),
    ));
    out.push(String::new());
    out.extend(noise_charts(result));
    if result.attacks.is_empty() {
        return out;
    }
    out.push(String::new());
    let cnn = result
        .cnn
        .as_ref()
        .map_or("-".to_string(), |c| c.run.clone());
    out.push(format!(
        "Attacks on the CNN {cnn} (L-inf; first {} test images; PGD {} steps of {}, random start)",
        result.attack_images, result.pgd_steps, result.pgd_step_size
    ));
    let rows: Vec<Vec<String>> = result.attacks.iter().map(results::attack_cells).collect();
    out.extend(format::table(
        &[
            "attack",
            "kind",
            "eps",
            "clean",
            "accuracy",
            "success",
            "mean L2",
            "mean L-inf",
        ],
        &rows,
        &[2, 3, 4, 5, 6, 7],
    ));
    out.push("success: untargeted = clean-correct images made wrong; targeted = images classified as their (random, seeded) target".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_with_none_and_name_the_flag_on_errors() {
        let parse = |s: &str| (s == "a").then_some(1);
        assert_eq!(
            parse_list(&["none".into()], "--x", parse).unwrap(),
            Vec::<i32>::new()
        );
        assert_eq!(parse_list(&["a".into()], "--x", parse).unwrap(), vec![1]);
        let err = parse_list(&["b".into()], "--x", parse).unwrap_err();
        assert!(err.to_string().contains("--x: unknown name 'b'"), "{err}");
    }
}

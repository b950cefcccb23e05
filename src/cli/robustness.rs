//! `classgen robustness`: accuracy of the CNN and the baselines under Gaussian noise, and of the
//! CNN under FGSM and PGD (untargeted and targeted); one table, `--json`, and
//! `runs/<timestamp>-robustness/result.json`.

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use classgen::analysis::robustness::{add_noise, attack, AttackKind, AttackResult, AttackSettings};
use classgen::baselines::BaselineKind;
use classgen::classifier::{accuracy, Classifier};
use classgen::config::Config;
use classgen::data::Split;
use classgen::fsutil::{new_run_dir, write_atomic};
use classgen::tui::widgets::plain::render_lines;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Widget};

use super::baselines::{fit_timed, latest_cnn};
use super::DataArgs;

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
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Accuracy of one model at one noise level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoiseRow {
    pub model: String,
    pub sigma: f32,
    pub accuracy: f64,
}

/// What `result.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RobustnessResult {
    pub dataset: String,
    pub origin: String,
    /// Which checkpoint the CNN rows come from (empty: no CNN).
    pub cnn: String,
    pub noise_images: usize,
    pub noise_seed: u64,
    pub noise: Vec<NoiseRow>,
    pub attack_images: usize,
    pub pgd_steps: usize,
    pub pgd_step_size: f32,
    pub attacks: Vec<AttackResult>,
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
    let data = super::load_data(config, None)?.dataset;
    let r = config.robustness.clone();
    let noise_split = match r.noise_images {
        0 => data.test.clone(),
        n => data.test.head(n),
    };
    let dir = new_run_dir(&config.paths.runs, "robustness").with_context(|| {
        format!(
            "creating a run directory under {}",
            config.paths.runs.display()
        )
    })?;
    // The same noisy images for every model.
    let noisy: Vec<Vec<u8>> = r
        .sigmas
        .iter()
        .enumerate()
        .map(|(i, &s)| add_noise(&noise_split.images, s, r.seed.wrapping_add(i as u64)))
        .collect();
    let mut noise = Vec::new();
    let mut score = |model: &dyn Classifier| -> anyhow::Result<()> {
        for (&sigma, images) in r.sigmas.iter().zip(&noisy) {
            let probs = model.predict_proba(images)?;
            let row = NoiseRow {
                model: model.name().to_string(),
                sigma,
                accuracy: accuracy(&probs, &noise_split.labels),
            };
            eprintln!("{} sigma {sigma}: {:.2} %", row.model, 100.0 * row.accuracy);
            noise.push(row);
        }
        Ok(())
    };
    let cnn = latest_cnn(config)?;
    if let Some((model, _, _)) = &cnn {
        score(model)?;
    }
    for &kind in &baselines {
        eprintln!("fitting {kind} on {} images ...", data.train.len());
        let (model, _) = fit_timed(kind, &data, config)?;
        score(model.as_ref())?;
    }
    let attack_split = data.test.head(r.attack_images);
    let mut results = Vec::new();
    match &cnn {
        Some((model, _, _)) => {
            results = run_attacks(&model.network, &attack_split, &attacks, config)?;
        }
        None => eprintln!(
            "no CNN: no train checkpoint under {} (run `classgen train`); noise rows only",
            config.paths.runs.display()
        ),
    }
    let result = RobustnessResult {
        dataset: data.kind.to_string(),
        origin: data.origin.to_string(),
        cnn: cnn.as_ref().map(|c| c.2.clone()).unwrap_or_default(),
        noise_images: noise_split.len(),
        noise_seed: r.seed,
        noise,
        attack_images: attack_split.len(),
        pgd_steps: r.pgd_steps,
        pgd_step_size: r.pgd_step_size,
        attacks: results,
    };
    let json = serde_json::to_vec_pretty(&result)?;
    let path = dir.join("result.json");
    write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&json));
    } else {
        print_tables(&result, &r.sigmas);
        println!("saved in {}", dir.display());
    }
    Ok(())
}

/// Every attack at every epsilon, untargeted then targeted.
fn run_attacks(
    net: &classgen::model::Network,
    split: &Split,
    attacks: &[AttackKind],
    config: &Config,
) -> anyhow::Result<Vec<AttackResult>> {
    let r = &config.robustness;
    let mut out = Vec::new();
    for &kind in attacks {
        for targeted in [false, true] {
            for &epsilon in &r.epsilons {
                let settings = AttackSettings {
                    kind,
                    epsilon,
                    targeted,
                    steps: r.pgd_steps,
                    step_size: r.pgd_step_size,
                    seed: r.seed,
                    batch: r.batch,
                };
                let res = attack(net, &split.images, &split.labels, &settings)
                    .with_context(|| format!("{} attack at epsilon {epsilon}", kind.name()))?;
                eprintln!(
                    "{} {} eps {epsilon}: accuracy {:.2} %, success {:.2} %",
                    kind.name(),
                    if targeted { "targeted" } else { "untargeted" },
                    100.0 * res.accuracy,
                    100.0 * res.success_rate
                );
                out.push(res);
            }
        }
    }
    Ok(out)
}

/// Width and height of one model's chart, in characters.
const CHART_SIZE: (u16, u16) = (30, 10);
/// Charts side by side per row.
const CHARTS_PER_ROW: usize = 3;

/// Accuracy against noise level, one braille line chart per model, three to a row.
fn noise_charts(curves: &[(&str, Vec<(f64, f64)>)], max_sigma: f64) -> Vec<String> {
    let (w, h) = CHART_SIZE;
    let mut lines = Vec::new();
    for row in curves.chunks(CHARTS_PER_ROW) {
        let width = w * row.len() as u16;
        lines.extend(render_lines(width, h, |area, buf| {
            for (i, (model, points)) in row.iter().enumerate() {
                let cell = Rect::new(area.x + w * i as u16, area.y, w, h);
                let data = [Dataset::default()
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .data(points)];
                Chart::new(data.to_vec())
                    .block(Block::bordered().title(format!(" {model} ")))
                    .x_axis(
                        Axis::default()
                            .bounds([0.0, max_sigma.max(1e-6)])
                            .labels(["0".to_string(), format!("{max_sigma}")]),
                    )
                    .y_axis(
                        Axis::default()
                            .bounds([0.0, 100.0])
                            .labels(["0", "50", "100"]),
                    )
                    .render(cell, buf);
            }
        }));
    }
    lines
}

fn print_tables(result: &RobustnessResult, sigmas: &[f32]) {
    println!(
        "Accuracy under Gaussian noise (clipped to [0,1], rounded to u8; first {} test images, seed {})",
        result.noise_images, result.noise_seed
    );
    print!("{:<8}", "model");
    for s in sigmas {
        print!(" {:>9}", format!("σ={s}"));
    }
    println!();
    let mut models: Vec<&str> = Vec::new();
    for row in &result.noise {
        if !models.contains(&row.model.as_str()) {
            models.push(&row.model);
        }
    }
    for m in &models {
        print!("{m:<8}");
        for row in result.noise.iter().filter(|r| r.model == *m) {
            print!(" {:>8.2}%", 100.0 * row.accuracy);
        }
        println!();
    }
    println!();
    println!("Accuracy (%, vertical) against noise σ (horizontal), per model:");
    let curves: Vec<(&str, Vec<(f64, f64)>)> = models
        .iter()
        .map(|m| {
            let points = result
                .noise
                .iter()
                .filter(|r| r.model == *m)
                .map(|r| (r.sigma as f64, 100.0 * r.accuracy))
                .collect();
            (*m, points)
        })
        .collect();
    let max_sigma = sigmas.iter().copied().fold(0.0f32, f32::max) as f64;
    for line in noise_charts(&curves, max_sigma) {
        println!("{line}");
    }
    if result.attacks.is_empty() {
        return;
    }
    println!();
    println!(
        "Attacks on the CNN (L-inf; first {} test images; PGD {} steps of {}, random start; {})",
        result.attack_images, result.pgd_steps, result.pgd_step_size, result.cnn
    );
    println!(
        "{:<6} {:<10} {:>5} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "attack", "kind", "eps", "clean", "accuracy", "success", "mean L2", "mean L-inf"
    );
    for a in &result.attacks {
        println!(
            "{:<6} {:<10} {:>5} {:>8.2}% {:>8.2}% {:>8.2}% {:>8.3} {:>10.3}",
            a.attack.name(),
            if a.targeted { "targeted" } else { "untargeted" },
            a.epsilon,
            100.0 * a.clean_accuracy,
            100.0 * a.accuracy,
            100.0 * a.success_rate,
            a.mean_l2,
            a.mean_linf
        );
    }
    println!("success: untargeted = clean-correct images made wrong; targeted = images classified as their (random, seeded) target");
}

#[cfg(test)]
mod tests {
    #[test]
    fn noise_charts_draw_one_titled_braille_panel_per_model() {
        let falling = vec![(0.0, 99.0), (0.25, 60.0), (0.5, 20.0)];
        let flat = vec![(0.0, 90.0), (0.25, 90.0), (0.5, 90.0)];
        let curves = [
            ("cnn", falling.clone()),
            ("knn", flat.clone()),
            ("logreg", flat),
            ("tree", falling),
        ];
        let lines = super::noise_charts(&curves, 0.5);
        // Four models: a row of three panels, then one.
        assert_eq!(lines.len(), 2 * super::CHART_SIZE.1 as usize);
        let text = lines.join("\n");
        for model in ["cnn", "knn", "logreg", "tree"] {
            assert!(
                text.contains(&format!(" {model} ")),
                "no panel for {model}:\n{text}"
            );
        }
        let dots = |s: &str| {
            s.chars()
                .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
                .count()
        };
        assert!(dots(&text) > 20, "no braille curves:\n{text}");
        // A falling curve spans many rows of its panel; a flat one a single row.
        let (w, h) = (super::CHART_SIZE.0 as usize, super::CHART_SIZE.1 as usize);
        let rows_with_dots = |panel: usize| {
            lines[..h]
                .iter()
                .filter(|l| dots(&l.chars().skip(panel * w).take(w).collect::<String>()) > 0)
                .count()
        };
        assert!(rows_with_dots(0) >= 3, "{text}");
        assert_eq!(rows_with_dots(1), 1, "{text}");
    }

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

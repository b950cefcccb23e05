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

/// One block character per value in [0,1], from ▁ (0) to █ (1): a chart that fits a line.
fn sparkline(values: &[f64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .iter()
        .map(|v| LEVELS[(v.clamp(0.0, 1.0) * 7.0).round() as usize])
        .collect()
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
    println!(
        "chart: accuracy from σ=0 (left) to σ={} (right), one column per σ, ▁ = 0 % .. █ = 100 %",
        sigmas.last().copied().unwrap_or(0.0)
    );
    for m in &models {
        let accuracies: Vec<f64> = result
            .noise
            .iter()
            .filter(|r| r.model == *m)
            .map(|r| r.accuracy)
            .collect();
        println!("{m:<8} {}", sparkline(&accuracies));
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
    fn sparkline_maps_zero_to_one_onto_the_eight_blocks() {
        assert_eq!(super::sparkline(&[1.0, 0.5, 0.0, 2.0]), "█▅▁█");
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

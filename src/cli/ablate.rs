//! `classgen ablate`: the ablation study headless, resumable, with a significance table.

use std::collections::HashMap;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use classgen::ablation::{RunResult, VariantRow};
use classgen::config::Config;
use classgen::jobs::ablate::{self as job, AblationEvent, AblationPlan};
use classgen::model::train::TrainEvent;
use classgen::model::ArchSpec;
use classgen::runs::RunStore;

use super::console::{self, note, out};
use super::plot::PlotArgs;
use super::DataArgs;

/// Flags of `classgen ablate`; each overrides `[ablation]` in the config.
#[derive(Debug, Args)]
pub struct AblateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Comma-separated variant names (see --list).
    #[arg(long, value_delimiter = ',')]
    variants: Option<Vec<String>>,
    /// Seeds per variant.
    #[arg(long)]
    seeds: Option<usize>,
    /// Epochs per run.
    #[arg(long)]
    epochs: Option<usize>,
    /// Runs trained side by side on the CPU, sharing its threads.
    #[arg(long)]
    runs_at_once: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// List the variants with their parameter counts and exit.
    #[arg(long)]
    list: bool,
    /// Print the table as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Mean accuracy per variant as bars, ± std over seeds.
    #[command(flatten)]
    plot: PlotArgs,
}

fn list(config: &Config) {
    out!("{:<10} {:>10}  description", "variant", "params");
    let custom = config.archs.iter().map(|a| (a.clone(), "from config.toml"));
    for (spec, description) in ArchSpec::builtins().into_iter().chain(custom) {
        out!("{:<10} {:>10}  {description}", spec.name, spec.params());
    }
}

/// Runs `classgen ablate`.
pub fn run(args: AblateArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(v) = &args.variants {
        config.ablation.variants = v.clone();
    }
    if let Some(v) = args.seeds {
        config.ablation.seeds = v;
    }
    if let Some(v) = args.epochs {
        config.ablation.epochs = v;
    }
    if let Some(v) = args.runs_at_once {
        config.ablation.runs_at_once = v;
    }
    if let Some(v) = &args.device {
        config.train.device = v.clone();
    }
    config.validate()?;
    if args.list {
        list(config);
        return Ok(());
    }
    classgen::runtime::set_threads(config.train.threads);
    let variants = config
        .ablation
        .variants
        .iter()
        .map(|v| ArchSpec::by_name(v, &config.archs).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut recipe = config.train.clone();
    recipe.epochs = config.ablation.epochs;
    let seeds: Vec<u64> = (0..config.ablation.seeds as u64)
        .map(|i| config.train.seed + i)
        .collect();
    let data = super::load_data(config)?;
    let plan = AblationPlan {
        variants,
        seeds,
        train: recipe,
        runs_at_once: config.ablation.runs_at_once,
    };
    let store = RunStore::new(&config.paths.runs);
    let job = job::spawn(plan, data, &store, console::cancel_flag())?;
    super::announce(job.run());
    // A progress bar per run in flight, keyed by variant and seed.
    let bars = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
    let mut in_flight: HashMap<(String, u64), ProgressBar> = HashMap::new();
    let interactive = console::interactive();
    for event in job.events().iter() {
        match event {
            AblationEvent::Planned(plan) => note!(
                "study: {} ({})",
                plan.dir.display(),
                classgen::text::results::study_plan(&plan)
            ),
            AblationEvent::Reused(r) => note!(
                "  {} seed {}: {:.2}% (saved earlier)",
                r.variant,
                r.seed,
                r.test_accuracy * 100.0
            ),
            AblationEvent::RunStarted { variant, seed } => {
                if !interactive {
                    note!("  {variant} seed {seed}: training");
                }
            }
            AblationEvent::Train {
                variant,
                seed,
                progress:
                    TrainEvent::Batch {
                        epoch,
                        batch,
                        batches,
                        loss,
                        ..
                    },
            } if interactive => {
                let key = (variant, seed);
                let b = in_flight.entry(key.clone()).or_insert_with(|| {
                    let b = bars.add(ProgressBar::new(batches as u64));
                    b.set_style(
                        ProgressStyle::with_template("  {prefix} [{bar:25}] {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    b
                });
                b.set_prefix(format!("{} seed {} epoch {epoch}", key.0, key.1));
                b.set_position(batch as u64);
                b.set_message(format!("loss {loss:.4}"));
            }
            AblationEvent::Train { .. } => {}
            AblationEvent::RunFinished(r) => {
                if let Some(b) = in_flight.remove(&(r.variant.clone(), r.seed)) {
                    b.finish_and_clear();
                    bars.remove(&b);
                }
                bars.suspend(|| {
                    note!(
                        "  {} seed {}: {:.2}% ({:.1} s/epoch)",
                        r.variant,
                        r.seed,
                        r.test_accuracy * 100.0,
                        r.seconds_per_epoch
                    )
                });
            }
            AblationEvent::Cancelled => {
                for (_, b) in in_flight.drain() {
                    b.finish_and_clear();
                }
                note!("stopped; finished runs are saved. Run the same command again to continue.");
            }
            AblationEvent::Notice { message } => bars.suspend(|| note!("{message}")),
        }
    }
    for (_, b) in in_flight.drain() {
        b.finish_and_clear();
    }
    let result = job.join()?;
    args.plot
        .write(&[classgen::text::figures::ablation(&result.rows)])?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_table(&result.rows);
        out!("{}", timing_note(&result.runs));
    }
    Ok(())
}

fn print_table(rows: &[VariantRow]) {
    out!(
        "{:<10} {:>9}  {:>16}  {:>15}  {:>7}  {:>9}  {:>7}  {:>7}  verdict",
        "variant",
        "params",
        "accuracy %",
        "(min, max)",
        "s/epoch",
        "infer/s",
        "delta",
        "p"
    );
    for r in rows {
        let a = &r.accuracy;
        out!(
            "{:<10} {:>9}  {:>7.2} ± {:<6.2}  ({:>5.2}, {:>5.2})  {:>7.1}  {:>9.0}  {:>7}  {:>7}  {}",
            r.variant,
            r.params,
            a.mean * 100.0,
            a.std * 100.0,
            a.min * 100.0,
            a.max * 100.0,
            r.seconds_per_epoch,
            r.inference_images_per_second,
            r.delta.map_or("-".into(), |d| format!("{:+.2}", d * 100.0)),
            r.welch.map_or("-".into(), |w| format!("{:.3}", w.p)),
            r.verdict
        );
    }
    out!(
        "accuracy: mean ± std over seeds; delta vs seed in points; p: Welch's t-test (two-sided)."
    );
}

/// How the table's times were taken, from its runs.
fn timing_note(runs: &[RunResult]) -> String {
    let mut ways: Vec<(usize, usize)> = runs.iter().map(|r| (r.threads, r.runs_at_once)).collect();
    ways.sort_unstable();
    ways.dedup();
    match ways.as_slice() {
        [(threads, at_once)] if *threads > 0 => {
            let threads = format!("{threads} thread{}", if *threads == 1 { "" } else { "s" });
            if *at_once > 1 {
                format!("s/epoch, infer/s: each run on {threads}, {at_once} runs training at once.")
            } else {
                format!("s/epoch, infer/s: each run alone on {threads}.")
            }
        }
        _ => "s/epoch, infer/s: runs timed in different ways (each run's threads and runs_at_once are in result.json).".into(),
    }
}

//! `classgen sweep`: a grid over training settings (`[sweep]`, or these flags), tabled like the
//! ablation (mean ± std over seeds, Welch's test against a baseline row) on the same code path:
//! resumable, its cells runnable one by one (`--cell`) or as a Slurm array (`--slurm`).

use clap::Args;

use classgen::config::{Config, Schedule};

use super::plot::PlotArgs;
use super::study::StudyArgs;
use super::DataArgs;

/// Flags of `classgen sweep`; each overrides `[sweep]` in the config.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Learning rates, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LR,..")]
    lrs: Option<Vec<f64>>,
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "N,..")]
    batch_sizes: Option<Vec<usize>>,
    /// Epoch counts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "N,..")]
    epochs: Option<Vec<usize>>,
    /// Architectures, comma-separated (`classgen ablate --list` shows them).
    #[arg(long, value_delimiter = ',', value_name = "NAME,..")]
    archs: Option<Vec<String>>,
    /// Learning-rate schedules, comma-separated.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "S,..")]
    schedules: Option<Vec<Schedule>>,
    /// Seeds per combination.
    #[arg(long)]
    seeds: Option<usize>,
    /// The row every other is compared with, as --cells names rows (default: the first).
    #[arg(long, value_name = "ROW")]
    baseline: Option<String>,
    /// Runs trained side by side on the CPU, sharing its threads.
    #[arg(long)]
    runs_at_once: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Print the table as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    study: StudyArgs,
    /// Mean accuracy per row as bars, ± std over seeds.
    #[command(flatten)]
    plot: PlotArgs,
}

/// Runs `classgen sweep`.
pub fn run(args: SweepArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    let s = &mut config.sweep;
    if let Some(v) = &args.lrs {
        s.learning_rates = v.clone();
    }
    if let Some(v) = &args.batch_sizes {
        s.batch_sizes = v.clone();
    }
    if let Some(v) = &args.epochs {
        s.epochs = v.clone();
    }
    if let Some(v) = &args.archs {
        s.archs = v.clone();
    }
    if let Some(v) = &args.schedules {
        s.schedules = v.clone();
    }
    if let Some(v) = args.seeds {
        s.seeds = v;
    }
    if let Some(v) = &args.baseline {
        s.baseline = v.clone();
    }
    if let Some(v) = args.runs_at_once {
        s.runs_at_once = v;
    }
    if let Some(v) = &args.device {
        config.train.device = v.clone();
    }
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let study = classgen::jobs::study::sweep(config)?;
    super::study::run(study, &args.study, &args.plot, config, args.json)
}

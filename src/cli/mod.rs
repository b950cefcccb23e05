//! Command-line interface: argument definitions and dispatch.

mod ablate;
mod baselines;
mod confidence;
mod eval;
mod invert;
mod robustness;
mod train;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use classgen::config::Config;
use classgen::data::hub::HubOptions;
use classgen::data::source::{LoadRequest, Loaded};
use classgen::data::{DatasetKind, SourceKind};

/// Train MNIST classifiers, then turn them into generators.
#[derive(Debug, Parser)]
#[command(
    name = "classgen",
    version,
    about,
    after_help = "Without a subcommand, classgen opens the dashboard (keys: ? inside it)."
)]
pub struct Cli {
    /// Configuration file (default: ./config.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Without a subcommand, classgen opens the dashboard.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a CNN headless: progress, per-epoch metrics, checkpoint in runs/<timestamp>-train/.
    Train(train::TrainArgs),
    /// Evaluate a saved checkpoint on the test split.
    Eval(eval::EvalArgs),
    /// Ablation study: variants x seeds, a table with mean ± std and Welch's t-test vs seed.
    Ablate(ablate::AblateArgs),
    /// Change an image until the classifier assigns a target class; writes snapshots.
    Invert(invert::InvertArgs),
    /// Fit the classical baselines and score them next to the latest CNN: one table.
    Baselines(baselines::BaselinesArgs),
    /// m(x) histograms, quantiles and calibration of the CNN and the baselines.
    Confidence(confidence::ConfidenceArgs),
    /// Accuracy under Gaussian noise (every model) and FGSM/PGD attacks (the CNN).
    Robustness(robustness::RobustnessArgs),
    /// Open the dashboard on a run another process trains (follows its events.jsonl live; a
    /// finished run is replayed).
    Attach(AttachArgs),
}

/// Flags of `classgen attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Run directory, or its name under the runs directory (default: the newest run with an
    /// events.jsonl).
    #[arg(value_name = "RUN")]
    run: Option<String>,
}

/// Where the data comes from; overrides `[data]` in the config.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data set.
    #[arg(long, value_enum)]
    dataset: Option<DatasetKind>,
    /// Data source (auto: --data-dir, else the Hub, else the bundled sample).
    #[arg(long, value_enum)]
    source: Option<SourceKind>,
    /// Directory with the four MNIST-layout IDX files (raw or .gz).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// Applies the flags to the config.
    fn apply(&self, config: &mut Config) {
        if let Some(d) = self.dataset {
            config.data.dataset = d;
        }
        if let Some(s) = self.source {
            config.data.source = s;
        }
        if let Some(dir) = &self.data_dir {
            config.data.dir = dir.clone();
        }
    }
}

/// Loads the data set the config asks for, printing where it came from (and any fallback
/// notice) on stderr.
pub fn load_data(config: &Config, dataset_override: Option<DatasetKind>) -> anyhow::Result<Loaded> {
    let request = LoadRequest {
        kind: dataset_override.unwrap_or(config.data.dataset),
        source: config.data.source,
        dir: config.data.dir().map(Path::to_path_buf),
        hub: HubOptions {
            endpoint: config.data.hub_endpoint.clone(),
            cache_dir: config.data.cache_dir(),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            timeout: config.data.hub_timeout(),
        },
    };
    let loaded = classgen::data::load(&request).context("loading data")?;
    if let Some(notice) = &loaded.notice {
        eprintln!("{notice}");
    }
    let d = &loaded.dataset;
    eprintln!(
        "data: {} from {} ({} train, {} test)",
        d.kind,
        d.origin,
        d.train.len(),
        d.test.len()
    );
    Ok(loaded)
}

/// Sets `cancel` on Ctrl-C, SIGTERM and SIGHUP, so a job saves its work and stops.
pub fn cancel_on_signals(
    cancel: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, cancel.clone())?;
    }
    Ok(())
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Some(Command::Train(args)) => train::run(args, &mut config),
        Some(Command::Eval(args)) => eval::run(args, &mut config),
        Some(Command::Ablate(args)) => ablate::run(args, &mut config),
        Some(Command::Invert(args)) => invert::run(args, &mut config),
        Some(Command::Baselines(args)) => baselines::run(args, &mut config),
        Some(Command::Confidence(args)) => confidence::run(args, &mut config),
        Some(Command::Robustness(args)) => robustness::run(args, &mut config),
        Some(Command::Attach(args)) => classgen::tui::attach(&config, args.run.as_deref()),
        None => classgen::tui::run(&config),
    }
}

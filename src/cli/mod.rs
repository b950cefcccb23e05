//! Command-line interface: flags -> config -> job -> printer. Each subcommand parses its flags
//! into the config, starts its job and prints the job's events (stderr) and result (stdout).

mod ablate;
mod baselines;
mod confidence;
pub mod console;
mod eval;
mod explain;
mod gpu_check;
mod invert;
mod plot;
mod predict;
mod robustness;
mod runs;
mod study;
mod sweep;
mod train;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use classgen::config::Config;
use classgen::data::hub::HubOptions;
use classgen::data::source::LoadRequest;
use classgen::data::{Dataset, DatasetKind, SourceKind};
use classgen::jobs::models::CnnModel;
use classgen::runs::{DataIdentity, RunInfo, RunKind, RunStore};

use console::note;

/// Train MNIST classifiers, then turn them into generators.
#[derive(Debug, Parser)]
#[command(
    name = "classgen",
    version,
    about,
    after_help = "Without a subcommand, classgen opens the dashboard (keys: ? inside it).\n\
                  Exit status: 0 done, 1 error, 2 bad usage, 130/143/129 stopped by Ctrl-C/SIGTERM/SIGHUP \
                  (after saving), 141 the output pipe closed."
)]
pub struct Cli {
    /// Configuration file (default: ./config.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The dashboard's data and model (the same flags as the subcommands').
    #[command(flatten)]
    dashboard: DashboardArgs,
    /// Without a subcommand, classgen opens the dashboard.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags of the dashboard (`classgen` without a subcommand).
#[derive(Debug, Args)]
struct DashboardArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The CNN the tabs use: a training run's directory or name (default: the newest finished
    /// one on the data in use).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a CNN headless: progress, per-epoch metrics, checkpoints in runs/<timestamp>-train/.
    Train(train::TrainArgs),
    /// Evaluate a training run's checkpoint on the test split of its data.
    Eval(eval::EvalArgs),
    /// Ablation study: variants x seeds, a table with mean ± std and Welch's t-test vs seed.
    Ablate(ablate::AblateArgs),
    /// Training sweep: a grid over lr, batch size, epochs, arch, schedule, each with several
    /// seeds, tabled like the ablation against a baseline row.
    Sweep(sweep::SweepArgs),
    /// Change an image until the classifier assigns a target class; writes snapshots.
    Invert(invert::InvertArgs),
    /// The top 3 classes of your own images (PNG, JPEG) by the CNN and, with --models, the
    /// baselines.
    Predict(predict::PredictArgs),
    /// Fit the classical baselines and score them next to the CNN: one table.
    Baselines(baselines::BaselinesArgs),
    /// m(x) histograms, quantiles and calibration of the CNN and the baselines.
    Confidence(confidence::ConfidenceArgs),
    /// Accuracy under Gaussian noise (every model) and FGSM/PGD attacks (the CNN).
    Robustness(robustness::RobustnessArgs),
    /// Attribution maps (saliency, IG, SmoothGrad, occlusion, Grad-CAM ...) of a few images,
    /// with faithfulness and sanity checks.
    Explain(explain::ExplainArgs),
    /// List the runs: kind, data, model, state, age.
    Runs(runs::RunsArgs),
    /// Open the dashboard on a run another process trains (follows its events.jsonl live; a
    /// finished run is replayed).
    Attach(AttachArgs),
    /// Compare a GPU with the CPU (a `cuda` build): agreement of every device path, then speed,
    /// as one Markdown report.
    GpuCheck(gpu_check::GpuCheckArgs),
}

/// Flags of `classgen attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Run directory or name (default: the newest training run).
    #[arg(value_name = "RUN")]
    run: Option<String>,
}

/// Where the data comes from; overrides `[data]` in the config.
#[derive(Debug, Clone, Default, Args)]
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
    /// Whether any data flag was given on the command line.
    fn given(&self) -> bool {
        self.dataset.is_some() || self.source.is_some() || self.data_dir.is_some()
    }

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
            if self.source.is_none() {
                config.data.source = SourceKind::Dir;
            }
        }
    }
}

/// How to reach the Hub, from the config.
fn hub_options(config: &Config) -> HubOptions {
    config
        .data
        .hub_options(console::interactive(), console::cancel_flag())
}

/// Loads what `request` asks for, saying on stderr what was loaded (and any fallback).
fn load(request: &LoadRequest) -> anyhow::Result<Arc<Dataset>> {
    if let Some(dir) = request.dir.as_deref().filter(|d| d.to_str().is_none()) {
        anyhow::bail!(
            "--data-dir {}: the path is not valid UTF-8, and a run records its data folder as text: rename the folder, or link to it from a UTF-8 name",
            dir.to_string_lossy()
        );
    }
    let loaded = classgen::data::load(request).or_else(|failure| {
        if let Some(notice) = &failure.notice {
            note!("{notice}");
        }
        Err(anyhow::Error::new(failure.error)).context("loading data")
    })?;
    if let Some(notice) = &loaded.notice {
        note!("{notice}");
    }
    note!("data: {}", DataIdentity::of(&loaded.dataset));
    Ok(Arc::new(loaded.dataset))
}

/// Loads the data set the config asks for.
pub fn load_data(config: &Config) -> anyhow::Result<Arc<Dataset>> {
    load(&LoadRequest {
        kind: config.data.dataset,
        source: config.data.source,
        dir: config.data.dir().map(Path::to_path_buf),
        hub: hub_options(config),
    })
}

/// Loads the data a run recorded, checking it still is that data.
pub fn load_recorded(config: &Config, recorded: &DataIdentity) -> anyhow::Result<Arc<Dataset>> {
    let data = load(&recorded.load_request(hub_options(config))).with_context(|| {
        format!("loading the run's data ({recorded}; other data: pass --data-dir DIR with the same set)")
    })?;
    let found = DataIdentity::of(&data);
    if !found.same_data(recorded) {
        anyhow::bail!("the run was made on {recorded}, but its source now holds {found}");
    }
    Ok(data)
}

/// The data a command uses and the CNN it uses with it.
pub struct Inputs {
    pub data: Arc<Dataset>,
    pub cnn: Option<CnnModel>,
}

/// Whether a command cannot run without a CNN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedCnn {
    Required,
    /// The CNN is a row among others: without one, a notice and no row.
    Optional,
}

/// The data and the CNN for a command: with `--run` and no data flags the run's own data; else
/// the data in use and the newest finished CNN on it. Prints which run it uses.
pub fn inputs(
    config: &Config,
    data_args: &DataArgs,
    run: Option<&str>,
    need: NeedCnn,
) -> anyhow::Result<Inputs> {
    let store = RunStore::new(&config.paths.runs);
    let device = classgen::device::open(&config.train.device)?;
    let named = match run {
        Some(name) => Some(
            store
                .find(name)
                .and_then(|r| r.expect_kind(RunKind::Train))
                .map_err(|e| anyhow::anyhow!("--run: {e}"))?,
        ),
        None => None,
    };
    let data = match &named {
        Some(info) if !data_args.given() => load_recorded(config, &info.record.data)?,
        _ => load_data(config)?,
    };
    let identity = DataIdentity::of(&data);
    let info = match named {
        Some(info) => Some(info),
        None => match store.newest_finished_cnn(&identity) {
            Ok(choice) => {
                for skipped in &choice.skipped {
                    note!("skipping damaged run {skipped}");
                }
                Some(choice.run)
            }
            Err(e) if need == NeedCnn::Optional => {
                note!("no CNN row: {e}");
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let cnn = match info {
        Some(info) => {
            let cnn = CnnModel::load(info, &device)?;
            if let Some(notice) = cnn.check_data(&identity)? {
                note!("{notice}");
            }
            note!("model: {}", cnn.describe());
            Some(cnn)
        }
        None => None,
    };
    Ok(Inputs { data, cnn })
}

/// Says on stderr which run directory a job writes.
pub fn announce(run: Option<&RunInfo>) {
    if let Some(run) = run {
        note!("run: {}", run.dir.display());
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.command.is_some() && (cli.dashboard.data.given() || cli.dashboard.run.is_some()) {
        anyhow::bail!(
            "data and --run flags go after the subcommand (classgen train --data-dir DIR); before it they are the dashboard's"
        );
    }
    let mut config = Config::load(cli.config.as_deref())?;
    if !matches!(cli.command, None | Some(Command::Attach(_))) {
        // The dashboard watches signals itself.
        console::install_signal_handlers()?;
    }
    match cli.command {
        Some(Command::Train(args)) => train::run(args, &mut config),
        Some(Command::Eval(args)) => eval::run(args, &mut config),
        Some(Command::Ablate(args)) => ablate::run(args, &mut config),
        Some(Command::Sweep(args)) => sweep::run(args, &mut config),
        Some(Command::Invert(args)) => invert::run(args, &mut config),
        Some(Command::Predict(args)) => predict::run(args, &mut config),
        Some(Command::Baselines(args)) => baselines::run(args, &mut config),
        Some(Command::Confidence(args)) => confidence::run(args, &mut config),
        Some(Command::Robustness(args)) => robustness::run(args, &mut config),
        Some(Command::Explain(args)) => explain::run(args, &mut config),
        Some(Command::Runs(args)) => runs::run(args, &config),
        Some(Command::Attach(args)) => {
            classgen::tui::attach(&config, args.run.as_deref()).map(console::signalled)
        }
        Some(Command::GpuCheck(args)) => gpu_check::run(args),
        None => {
            cli.dashboard.data.apply(&mut config);
            config.validate()?;
            classgen::tui::run(
                &config,
                classgen::tui::Start {
                    run: cli.dashboard.run,
                    data_given: cli.dashboard.data.given(),
                },
            )
            .map(console::signalled)
        }
    }
}

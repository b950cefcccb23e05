//! `classgen train`: headless training with a progress bar (or plain lines), a final table,
//! and `--json` for scripts.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use classgen::config::{Config, Schedule};
use classgen::jobs::train::{self as job, TrainPlan};
use classgen::model::train::{EpochMetrics, Outcome, TrainEvent};
use classgen::runs::checkpoint::CheckpointMeta;
use classgen::runs::{RunInfo, RunKind, RunState, RunStore};
use classgen::text::figures;

use super::console::{self, note, out};
use super::plot::PlotArgs;
use super::DataArgs;

/// Flags of `classgen train`; each overrides `[train]` in the config.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Architecture name.
    #[arg(long)]
    arch: Option<String>,
    /// Epochs to train (on --resume: the total to reach).
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per Adam step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// Random-shift augmentation, in pixels (0 = none).
    #[arg(long)]
    augment_shift: Option<usize>,
    /// Seed for initialisation, shuffling and augmentation.
    #[arg(long)]
    seed: Option<u64>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// CPU threads (0 = all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Continue a run (its directory or name; without a value the newest unfinished training
    /// run) with its own recipe and data; only --epochs and --device may change.
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "")]
    resume: Option<String>,
    /// Print one JSON object with the results on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
    /// Loss (per batch and per epoch, log scale) and accuracy curves, train and test.
    #[command(flatten)]
    plot: PlotArgs,
}

impl TrainArgs {
    fn apply(&self, config: &mut Config) {
        self.data.apply(config);
        let t = &mut config.train;
        if let Some(v) = &self.arch {
            t.arch = v.clone();
        }
        if let Some(v) = self.epochs {
            t.epochs = v;
        }
        if let Some(v) = self.batch_size {
            t.batch_size = v;
        }
        if let Some(v) = self.lr {
            t.learning_rate = v;
        }
        if let Some(v) = self.schedule {
            t.schedule = v;
        }
        if let Some(v) = self.augment_shift {
            t.augment_shift = v;
        }
        if let Some(v) = self.seed {
            t.seed = v;
        }
        if let Some(v) = &self.device {
            t.device = v.clone();
        }
        if let Some(v) = self.threads {
            t.threads = v;
        }
    }
}

impl TrainArgs {
    /// The recipe flags given that a resume cannot honour (they would make another experiment).
    fn fixed_on_resume(&self) -> Vec<&'static str> {
        let flags = [
            ("--arch", self.arch.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--lr", self.lr.is_some()),
            ("--schedule", self.schedule.is_some()),
            ("--augment-shift", self.augment_shift.is_some()),
            ("--seed", self.seed.is_some()),
        ];
        flags
            .iter()
            .filter(|(_, given)| *given)
            .map(|(f, _)| *f)
            .collect()
    }
}

/// The run `--resume` names; without a name the newest training run not finished.
fn resume_run(store: &RunStore, name: &str) -> anyhow::Result<RunInfo> {
    if !name.is_empty() {
        return Ok(store.find(name)?.expect_kind(RunKind::Train)?);
    }
    store
        .newest(RunKind::Train, |r| {
            !matches!(r.state(), RunState::Finished | RunState::Running)
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--resume: no stopped or interrupted training run under {} (name one: --resume RUN)",
                store.root().display()
            )
        })
}

/// Runs `classgen train`.
pub fn run(args: TrainArgs, config: &mut Config) -> anyhow::Result<()> {
    args.apply(config);
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let store = RunStore::new(&config.paths.runs);
    store.check_root()?;
    let (plan, data) = match &args.resume {
        Some(name) => {
            let fixed = args.fixed_on_resume();
            if !fixed.is_empty() {
                anyhow::bail!(
                    "{} cannot change when resuming: a run keeps its recipe (start a new run instead; --epochs and --device may change)",
                    fixed.join(", ")
                );
            }
            let run = resume_run(&store, name)?;
            let data = if args.data.given() {
                super::load_data(config)?
            } else {
                super::load_recorded(config, &run.record.data)?
            };
            let plan = TrainPlan::Resume {
                run: Box::new(run),
                epochs: args.epochs,
                device: args.device.clone(),
            };
            (plan, data)
        }
        None => {
            let plan = TrainPlan::New {
                recipe: config.train.clone(),
                custom_archs: config.archs.clone(),
            };
            (plan, super::load_data(config)?)
        }
    };
    let job = job::spawn(plan, data, &store, console::cancel_flag())?;
    super::announce(job.run());
    let mut printer = Printer::new();
    let mut batches = Vec::new();
    for event in job.events().iter() {
        printer.show(&event);
        if let TrainEvent::Batch {
            epoch,
            batch,
            batches: per_epoch,
            batch_loss,
            ..
        } = event
        {
            if args.plot.wanted() {
                let x = (epoch - 1) as f64 + batch as f64 / per_epoch.max(1) as f64;
                batches.push((x, batch_loss));
            }
        }
    }
    let result = job.join();
    printer.finish();
    let result = result?;
    args.plot.write(&figures::training(
        &result.run.name,
        &result.meta.progress.history,
        &batches,
    ))?;
    if let Outcome::Cancelled(at) = result.outcome {
        note!(
            "stopped at epoch {} batch {}; checkpoint saved. Continue with: classgen train --resume {}",
            at.epoch + 1,
            at.batch,
            result.run.dir.display()
        );
    }
    if args.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&summary_json(
                &result.meta,
                &result.run,
                &result.outcome
            ))?
        );
    } else {
        print_table(&result.meta.progress.history);
    }
    Ok(())
}

/// The `--json` object.
fn summary_json(meta: &CheckpointMeta, run: &RunInfo, outcome: &Outcome) -> serde_json::Value {
    let history = &meta.progress.history;
    let last = history.last();
    let mean = |f: fn(&EpochMetrics) -> f64| {
        let n = history.len().max(1) as f64;
        history.iter().map(f).sum::<f64>() / n
    };
    serde_json::json!({
        "run": run.name,
        "run_dir": run.dir,
        "arch": meta.arch.name,
        "params": meta.params,
        "data": meta.data,
        "recipe": meta.recipe,
        "epochs": meta.progress.position.epoch,
        "finished": matches!(outcome, Outcome::Finished),
        "state": run.state(),
        "test_accuracy": last.map(|m| m.test_accuracy),
        "test_loss": last.map(|m| m.test_loss),
        "train_accuracy": last.map(|m| m.train_accuracy),
        "seconds_per_epoch": mean(|m| m.seconds),
        "images_per_second": mean(|m| m.images_per_second),
        "seed": meta.recipe.seed,
        "history": history,
    })
}

fn print_table(history: &[EpochMetrics]) {
    out!(
        "{:>5}  {:>10}  {:>9}  {:>9}  {:>8}  {:>7}  {:>8}",
        "epoch",
        "train loss",
        "train acc",
        "test loss",
        "test acc",
        "seconds",
        "images/s"
    );
    for m in history {
        out!(
            "{:>5}  {:>10.4}  {:>8.2}%  {:>9.4}  {:>7.2}%  {:>7.1}  {:>8.0}",
            m.epoch,
            m.train_loss,
            m.train_accuracy * 100.0,
            m.test_loss,
            m.test_accuracy * 100.0,
            m.seconds,
            m.images_per_second
        );
    }
}

/// Shows training events: a bar per epoch on a terminal, plain lines otherwise.
struct Printer {
    bar: Option<ProgressBar>,
    interactive: bool,
    last_plain_decile: usize,
    epochs: usize,
}

impl Printer {
    fn new() -> Self {
        Self {
            bar: None,
            interactive: console::interactive(),
            last_plain_decile: 0,
            epochs: 0,
        }
    }

    fn show(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started {
                params,
                epochs,
                batches_per_epoch,
                from,
            } => {
                self.epochs = *epochs;
                note!(
                    "training {params} parameters, {epochs} epochs of {batches_per_epoch} batches{}",
                    if from.epoch > 0 || from.batch > 0 {
                        format!(", resuming at epoch {} batch {}", from.epoch + 1, from.batch)
                    } else {
                        String::new()
                    }
                );
            }
            TrainEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
                accuracy,
                images_per_second,
                eta_seconds,
                ..
            } => {
                let text = format!(
                    "loss {loss:.4} acc {:.2}% {images_per_second:.0} img/s eta {eta_seconds:.0}s",
                    accuracy * 100.0
                );
                if self.interactive {
                    let bar = self.bar.get_or_insert_with(|| {
                        let bar = ProgressBar::with_draw_target(
                            Some(*batches as u64),
                            indicatif::ProgressDrawTarget::stderr(),
                        );
                        bar.set_style(
                            ProgressStyle::with_template(
                                "epoch {prefix} [{bar:30}] {pos}/{len} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        bar.set_prefix(format!("{epoch}/{}", self.epochs));
                        bar
                    });
                    bar.set_position(*batch as u64);
                    bar.set_message(text);
                } else {
                    let decile = batch * 10 / batches;
                    if decile > self.last_plain_decile {
                        self.last_plain_decile = decile;
                        note!(
                            "epoch {epoch}/{} batch {batch}/{batches} {text}",
                            self.epochs
                        );
                    }
                }
            }
            TrainEvent::Epoch(m) => {
                self.finish();
                self.last_plain_decile = 0;
                note!(
                    "epoch {}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | {:.1} s, {:.0} img/s",
                    m.epoch,
                    self.epochs,
                    m.train_loss,
                    m.train_accuracy * 100.0,
                    m.test_loss,
                    m.test_accuracy * 100.0,
                    m.seconds,
                    m.images_per_second
                );
            }
            TrainEvent::Checkpoint { .. } => {}
            TrainEvent::Cancelled { .. } => self.finish(),
            TrainEvent::Notice { message } => {
                self.finish();
                note!("{message}");
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

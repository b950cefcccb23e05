//! `classgen train`: headless training with a progress bar (or plain lines), a final table,
//! and `--json` for scripts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use classgen::config::{Config, Schedule};
use classgen::jobs::train as job;
use classgen::model::checkpoint::{self, CheckpointMeta};
use classgen::model::train::{Outcome, TrainEvent};

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
    /// Continue a run: its directory, or the latest train run when no value is given.
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "latest")]
    resume: Option<String>,
    /// Print one JSON object with the results on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
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

/// Finds the run directory `--resume` names.
fn resume_dir(value: &str, config: &Config) -> anyhow::Result<PathBuf> {
    if value == "latest" {
        return checkpoint::latest_run(&config.paths.runs, "train").ok_or_else(|| {
            anyhow::anyhow!(
                "--resume: no train run with a checkpoint under {}",
                config.paths.runs.display()
            )
        });
    }
    Ok(PathBuf::from(value))
}

/// Runs `classgen train`.
pub fn run(args: TrainArgs, config: &mut Config) -> anyhow::Result<()> {
    args.apply(config);
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let resume = args
        .resume
        .as_deref()
        .map(|v| resume_dir(v, config))
        .transpose()?;
    // A resumed run trains on the data set its checkpoint was trained on.
    let dataset = match &resume {
        Some(dir) => Some(checkpoint::read_meta(dir)?.dataset),
        None => None,
    };
    let data = Arc::new(super::load_data(config, dataset)?.dataset);
    let cancel = Arc::new(AtomicBool::new(false));
    super::cancel_on_signals(&cancel)?;
    let job = job::spawn_with_archs(
        &config.train,
        &config.archs,
        data.clone(),
        &config.paths.runs,
        resume.as_deref(),
        cancel,
    )?;
    eprintln!("run: {}", job.run_dir.display());
    let mut printer = Printer::new();
    for event in job.events.iter() {
        printer.show(&event);
    }
    let run_dir = job.run_dir.clone();
    let (outcome, meta) = job.join()?;
    printer.finish();
    if let Outcome::Cancelled(at) = outcome {
        eprintln!(
            "stopped at epoch {} batch {}; checkpoint saved. Continue with: classgen train --resume {}",
            at.epoch + 1,
            at.batch,
            run_dir.display()
        );
    }
    print_table(&meta);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&meta, &run_dir, &outcome))?
        );
    }
    Ok(())
}

/// The `--json` object.
fn summary_json(
    meta: &CheckpointMeta,
    run_dir: &std::path::Path,
    outcome: &Outcome,
) -> serde_json::Value {
    let last = meta.history.last();
    let mean = |f: fn(&classgen::model::train::EpochMetrics) -> f64| {
        let n = meta.history.len().max(1) as f64;
        meta.history.iter().map(f).sum::<f64>() / n
    };
    serde_json::json!({
        "arch": meta.arch.name,
        "params": meta.params,
        "dataset": meta.dataset,
        "origin": meta.origin,
        "epochs": meta.position.epoch,
        "finished": matches!(outcome, Outcome::Finished),
        "test_accuracy": last.map(|m| m.test_accuracy),
        "test_loss": last.map(|m| m.test_loss),
        "train_accuracy": last.map(|m| m.train_accuracy),
        "seconds_per_epoch": mean(|m| m.seconds),
        "images_per_second": mean(|m| m.images_per_second),
        "seed": meta.config.seed,
        "run_dir": run_dir,
        "history": meta.history,
    })
}

fn print_table(meta: &CheckpointMeta) {
    eprintln!();
    eprintln!(
        "{:>5}  {:>10}  {:>9}  {:>9}  {:>8}  {:>7}  {:>8}",
        "epoch", "train loss", "train acc", "test loss", "test acc", "seconds", "images/s"
    );
    for m in &meta.history {
        eprintln!(
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
            interactive: std::io::stderr().is_terminal(),
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
                eprintln!(
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
                        let bar = ProgressBar::new(*batches as u64);
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
                        eprintln!(
                            "epoch {epoch}/{} batch {batch}/{batches} {text}",
                            self.epochs
                        );
                    }
                }
            }
            TrainEvent::Epoch(m) => {
                self.finish();
                self.last_plain_decile = 0;
                eprintln!(
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
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

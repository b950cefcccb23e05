//! The training loop: Adam on cross-entropy, seeded reshuffling, per-batch and per-epoch events,
//! test evaluation after every epoch, checkpoints, cancellation between batches.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::fused::Engine;
use super::network::{images_tensor, Network};
use super::recipe::{Schedule, TrainConfig};
use crate::data::{Dataset, Split, PIXELS, SIDE};

/// Where a run stands: `epoch` epochs are complete and `batch` batches of the next are done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: usize,
    pub batch: usize,
}

/// Metrics of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Training time of the epoch (evaluation excluded).
    pub seconds: f64,
    pub images_per_second: f64,
    /// Time of the test evaluation after the epoch (0 in files from before it was kept).
    #[serde(default)]
    pub eval_seconds: f64,
}

/// What training reports while it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started {
        params: usize,
        epochs: usize,
        batches_per_epoch: usize,
        from: Position,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        /// Mean loss and accuracy of the epoch so far.
        loss: f64,
        accuracy: f64,
        /// This batch's own mean loss and accuracy (0 in logs written before they were kept).
        #[serde(default)]
        batch_loss: f64,
        #[serde(default)]
        batch_accuracy: f64,
        images_per_second: f64,
        elapsed_seconds: f64,
        eta_seconds: f64,
    },
    Epoch(EpochMetrics),
    Checkpoint {
        path: PathBuf,
    },
    Cancelled {
        at: Position,
    },
    /// Something the user should know (a changed recipe on resume, a skipped file).
    Notice {
        message: String,
    },
}

/// Running sums of the epoch in progress. Checkpoints keep them, so an epoch resumed
/// mid-way still reports its metrics over the whole epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSums {
    pub loss_sum: f64,
    pub correct: usize,
    pub seen: usize,
    /// Training seconds spent on the epoch so far.
    pub seconds: f64,
}

/// How far training has got: everything besides the weights and the optimizer's moments that
/// continuing exactly needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    pub position: Position,
    pub adam_step: u64,
    pub history: Vec<EpochMetrics>,
    pub partial: EpochSums,
}

/// Everything a training run needs besides the network, the optimizer and the progress.
pub struct TrainRun<'a> {
    pub config: &'a TrainConfig,
    pub data: &'a Dataset,
    /// Receives every event.
    pub events: &'a dyn Fn(TrainEvent),
    pub cancel: &'a AtomicBool,
}

/// Saves a checkpoint of the network, the optimizer and the progress; returns where, if it
/// keeps one.
pub type Save<'a> =
    dyn FnMut(&Network, &Adam, &TrainProgress) -> anyhow::Result<Option<PathBuf>> + 'a;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Cancelled(Position),
}

/// Why a data set cannot be trained on: an empty split.
pub fn check_data(data: &Dataset) -> Result<(), String> {
    if data.train.is_empty() {
        return Err(format!("{}: the training split has no images", data.origin));
    }
    if data.test.is_empty() {
        return Err(format!(
            "{}: the test split has no images, so nothing can be evaluated",
            data.origin
        ));
    }
    Ok(())
}

/// Mean loss and accuracy of `net` on `split`, in batches of `batch` (on the CPU, the fused
/// engine's fixed chunks instead).
pub fn evaluate(net: &Network, split: &Split, batch: usize) -> candle_core::Result<(f64, f64)> {
    if net.device().is_cpu() {
        let engine = Engine::inference(net).map_err(candle_core::Error::wrap);
        return engine?.evaluate(split).map_err(candle_core::Error::wrap);
    }
    let mut loss_sum = 0.0;
    let mut correct = 0usize;
    for (images, labels) in split
        .images
        .chunks(batch.max(1) * PIXELS)
        .zip(split.labels.chunks(batch.max(1)))
    {
        let x = images_tensor(images, net.device())?;
        let logits = net.forward_frozen(&x)?;
        let y = labels_tensor(labels, net.device())?;
        loss_sum += candle_nn::loss::cross_entropy(&logits, &y)?.to_scalar::<f32>()? as f64
            * labels.len() as f64;
        correct += count_correct(&logits, labels)?;
    }
    let n = split.len().max(1) as f64;
    Ok((loss_sum / n, correct as f64 / n))
}

fn labels_tensor(labels: &[u8], device: &Device) -> candle_core::Result<Tensor> {
    let v: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    Tensor::from_vec(v, labels.len(), device)
}

fn count_correct(logits: &Tensor, labels: &[u8]) -> candle_core::Result<usize> {
    let predicted = super::ops::argmax_rows(logits)?;
    Ok(predicted
        .iter()
        .zip(labels)
        .filter(|(p, &l)| **p == l as u32)
        .count())
}

/// The order of training images in `epoch` (0-based): a permutation seeded by run seed and epoch,
/// so a resumed run sees exactly the batches an uninterrupted one would.
fn epoch_rng(seed: u64, epoch: usize) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Copies image `src` into `dst`, shifted by (dy, dx) with zero fill.
fn shifted(src: &[u8], dst: &mut [f32], dy: isize, dx: isize) {
    dst.fill(0.0);
    for y in 0..SIDE as isize {
        let sy = y - dy;
        if !(0..SIDE as isize).contains(&sy) {
            continue;
        }
        for x in 0..SIDE as isize {
            let sx = x - dx;
            if (0..SIDE as isize).contains(&sx) {
                dst[(y * SIDE as isize + x) as usize] =
                    src[(sy * SIDE as isize + sx) as usize] as f32 / 255.0;
            }
        }
    }
}

/// Learning rate at global step `step` of `total`.
fn learning_rate(config: &TrainConfig, step: usize, total: usize) -> f64 {
    match config.schedule {
        Schedule::Constant => config.learning_rate,
        Schedule::Cosine => {
            let progress = step as f64 / total.max(1) as f64;
            config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// Trains `net` from `progress.position` to `config.epochs`, updating `progress` and calling
/// `save` at the start of a fresh run, after every epoch and on cancellation.
pub fn train(
    run: &TrainRun,
    net: &Network,
    adam: &mut Adam,
    progress: &mut TrainProgress,
    save: &mut Save,
) -> anyhow::Result<Outcome> {
    check_data(run.data).map_err(anyhow::Error::msg)?;
    let config = run.config;
    let train = &run.data.train;
    let batch_size = config.batch_size.max(1);
    let batches = train.len().div_ceil(batch_size);
    if progress.position.batch > batches {
        anyhow::bail!(
            "the checkpoint is at batch {} of an epoch that has {batches} batches",
            progress.position.batch
        );
    }
    let total_steps = batches * config.epochs;
    let send = run.events;
    send(TrainEvent::Started {
        params: net.spec.params(),
        epochs: config.epochs,
        batches_per_epoch: batches,
        from: progress.position,
    });
    let mut checkpoint = |progress: &TrainProgress, adam: &Adam| -> anyhow::Result<()> {
        if let Some(path) = save(net, adam, progress)? {
            send(TrainEvent::Checkpoint { path });
        }
        Ok(())
    };
    if progress.position == Position::default() && progress.history.is_empty() {
        // A checkpoint from the start, so even a run killed in its first epoch can resume.
        checkpoint(progress, adam)?;
    }
    let mut x_buf = vec![0f32; batch_size * PIXELS];
    let mut labels = Vec::with_capacity(batch_size);
    // On the CPU the fused engine trains; `net` and `adam` are synced before every save.
    let mut fused = if net.device().is_cpu() {
        Some(Engine::trainer(net, adam, batch_size)?)
    } else {
        None
    };
    let sync = |fused: &Option<Engine>, adam: &mut Adam| match fused {
        Some(engine) => engine.sync_to(net, adam),
        None => Ok(()),
    };
    while progress.position.epoch < config.epochs {
        let epoch = progress.position.epoch;
        let mut rng = epoch_rng(config.seed, epoch);
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let shifts: Vec<(isize, isize)> = (0..train.len())
            .map(|_| {
                let s = config.augment_shift as i32;
                if s == 0 {
                    (0, 0)
                } else {
                    let mut pick = || rng.random_range(-s..=s) as isize;
                    (pick(), pick())
                }
            })
            .collect();
        let started = Instant::now();
        let sums = progress.partial;
        let seconds = || sums.seconds + started.elapsed().as_secs_f64();
        let (mut loss_sum, mut correct, mut seen) = (sums.loss_sum, sums.correct, sums.seen);
        for (b, idx) in order
            .chunks(batch_size)
            .enumerate()
            .skip(progress.position.batch)
        {
            if run.cancel.load(Ordering::Relaxed) {
                sync(&fused, adam)?;
                progress.position.batch = b;
                progress.adam_step = adam.step;
                progress.partial = EpochSums {
                    loss_sum,
                    correct,
                    seen,
                    seconds: seconds(),
                };
                checkpoint(progress, adam)?;
                send(TrainEvent::Cancelled {
                    at: progress.position,
                });
                return Ok(Outcome::Cancelled(progress.position));
            }
            let n = idx.len();
            labels.clear();
            labels.extend(idx.iter().map(|&i| train.labels[i]));
            for (slot, &i) in x_buf.chunks_exact_mut(PIXELS).zip(idx) {
                let (dy, dx) = shifts[i];
                shifted(train.image(i), slot, dy, dx);
            }
            let x = &x_buf[..n * PIXELS];
            let lr = learning_rate(config, epoch * batches + b, total_steps);
            let (batch_loss, batch_correct) = match &mut fused {
                Some(engine) => engine.step(x, &labels, lr)?,
                None => candle_step(net, adam, x, &labels, lr)?,
            };
            loss_sum += batch_loss;
            correct += batch_correct;
            seen += n;
            let elapsed = seconds();
            let rate = seen as f64 / elapsed.max(1e-9);
            let remaining_images = train.len().saturating_sub((b + 1) * batch_size) as f64
                + ((config.epochs - epoch - 1) * train.len()) as f64;
            send(TrainEvent::Batch {
                epoch: epoch + 1,
                batch: b + 1,
                batches,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
                batch_loss: batch_loss / n as f64,
                batch_accuracy: batch_correct as f64 / n as f64,
                images_per_second: rate,
                elapsed_seconds: elapsed,
                eta_seconds: remaining_images / rate,
            });
        }
        let seconds = seconds();
        sync(&fused, adam)?;
        let evaluated = Instant::now();
        let (test_loss, test_accuracy) = evaluate(net, &run.data.test, config.eval_batch)?;
        let eval_seconds = evaluated.elapsed().as_secs_f64();
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_loss,
            test_accuracy,
            seconds,
            images_per_second: seen as f64 / seconds.max(1e-9),
            eval_seconds,
        };
        progress.history.push(metrics.clone());
        progress.position = Position {
            epoch: epoch + 1,
            batch: 0,
        };
        progress.partial = EpochSums::default();
        progress.adam_step = adam.step;
        send(TrainEvent::Epoch(metrics));
        checkpoint(progress, adam)?;
    }
    Ok(Outcome::Finished)
}

/// One Adam step through candle's graph (devices other than the CPU): summed loss and correct
/// predictions of the batch.
fn candle_step(
    net: &Network,
    adam: &mut Adam,
    x: &[f32],
    labels: &[u8],
    lr: f64,
) -> candle_core::Result<(f64, usize)> {
    let n = labels.len();
    let x = Tensor::from_slice(x, (n, SIDE, SIDE, 1), net.device())?;
    let y = labels_tensor(labels, net.device())?;
    let logits = net.forward(&x)?;
    let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
    adam.backward_step(&loss, lr)?;
    let correct = count_correct(&logits.detach(), labels)?;
    Ok((loss.to_scalar::<f32>()? as f64 * n as f64, correct))
}

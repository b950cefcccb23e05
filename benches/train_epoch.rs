//! Training and inference speed of the seed CNN on the CPU.
//!
//! `cargo bench --bench train_epoch` trains three 12,800-image epochs (100 batches of 128) and
//! prints the median images/s and the seconds a 60,000-image epoch takes at that rate, then the
//! median time to classify the test split. Uses full MNIST from `CLASSGEN_BENCH_DATA` or
//! `../shared/data/mnist` when present, else the bundled sample. Other built-in variants are
//! timed by name: `cargo bench --bench train_epoch -- no-pool1 narrow`.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

mod common;

use candle_core::Device;
use classgen::config::{Schedule, TrainConfig};
use classgen::data::Dataset;
use classgen::model::adam::Adam;
use classgen::model::train::{train, TrainProgress, TrainRun};
use classgen::model::{ArchSpec, Network};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    classgen::runtime::tune_allocator();
    let full = common::bench_data()?;
    println!(
        "data: {} ({} train, {} test)",
        full.origin,
        full.train.len(),
        full.test.len()
    );
    let subset = Dataset {
        train: full.train.head(12_800),
        test: full.test.head(1_000),
        ..full.clone()
    };
    // The study's plain recipe, comparable with PyTorch's figure (augmentation costs ~nothing).
    let config = TrainConfig {
        epochs: 1,
        schedule: Schedule::Constant,
        augment_shift: 0,
        ..TrainConfig::default()
    };
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if names.is_empty() {
        time_arch(&ArchSpec::seed(), &subset, &config, &full)
    } else {
        for name in names {
            let arch = ArchSpec::by_name(&name, &[]).map_err(anyhow::Error::msg)?;
            time_arch(&arch, &subset, &config, &full)?;
        }
        Ok(())
    }
}

/// Prints the median training rate of `arch` on `subset`, then its inference time on `full`.
fn time_arch(
    arch: &ArchSpec,
    subset: &Dataset,
    config: &TrainConfig,
    full: &Dataset,
) -> anyhow::Result<()> {
    println!("arch: {}", arch.name);
    let mut rates = Vec::new();
    let mut net = Network::new(arch, 1, &Device::Cpu)?;
    for repeat in 0..3 {
        net = Network::new(arch, repeat, &Device::Cpu)?;
        let mut adam = Adam::new(net.vars().cloned().collect())?;
        let mut progress = TrainProgress::default();
        let run = TrainRun {
            config,
            data: subset,
            events: &|_| {},
            cancel: &AtomicBool::new(false),
        };
        train(&run, &net, &mut adam, &mut progress, &mut |_, _, _| {
            Ok(None)
        })?;
        let rate = progress.history[0].images_per_second;
        println!("  run {}: {rate:.0} images/s", repeat + 1);
        rates.push(rate);
    }
    let rate = median(rates);
    println!(
        "train: median {rate:.0} images/s = {:.1} s per 60,000-image epoch",
        60_000.0 / rate
    );
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        net.predict_proba(&full.test.images, 1000)?;
        times.push(started.elapsed().as_secs_f64());
    }
    println!(
        "inference: median {:.2} s for {} test images",
        median(times),
        full.test.len()
    );
    Ok(())
}

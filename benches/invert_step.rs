//! Time of one inversion step for one image on the CPU (one thread unless INVERT_THREADS says
//! otherwise), median over several runs:
//! - the CNN gradient step (forward, backward to the pixels, update); target at most 1 ms;
//! - the k-NN step (neighbour search, nearest target-class images, update) against the full
//!   MNIST training set when `../shared/data/mnist` exists, else the bundled sample.

use std::sync::Arc;
use std::time::Instant;

use std::path::Path;

use candle_core::Device;
use classgen::baselines::knn::KnnIndex;
use classgen::data::{source::load_sample, Split, PIXELS};
use classgen::inversion::{GradientInverter, GradientOptions, Inverter, KnnInverter, KnnOptions};
use classgen::model::{ArchSpec, Network};

const RUNS: usize = 7;
const STEPS: usize = 100;

fn main() -> anyhow::Result<()> {
    classgen::runtime::tune_allocator();
    // As `classgen invert` runs by default (`invert.threads`): one image is fastest on one
    // thread. INVERT_THREADS overrides it (0 = every core) to compare.
    let threads = std::env::var("INVERT_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    classgen::runtime::set_threads(threads);
    // Weights do not change the cost: an untrained seed CNN will do.
    let net = Arc::new(Network::new(&ArchSpec::seed(), 1, &Device::Cpu)?);
    let start: Vec<f32> = (0..PIXELS).map(|i| (i % 29) as f32 / 29.0).collect();
    let options = GradientOptions {
        target: 7,
        max_steps: usize::MAX,
        threshold: 1.0,
        ..GradientOptions::default()
    };
    let mut cnn = GradientInverter::new(net, start, options)?;
    let ms = time_steps(&mut cnn, STEPS)?;
    println!(
        "invert_step cnn: median {:.3} ms per step (min {:.3}, max {:.3}; {RUNS} runs of {STEPS} steps, 1 image, log loss, normalised step, {} threads)",
        ms[RUNS / 2],
        ms[0],
        ms[RUNS - 1],
        rayon::current_num_threads()
    );

    let dir = Path::new("../shared/data/mnist");
    let (train, origin) = if dir.join("train-images-idx3-ubyte.gz").is_file() {
        let train = Split::read(
            &dir.join("train-images-idx3-ubyte.gz"),
            &dir.join("train-labels-idx1-ubyte.gz"),
        )?;
        (train, "full MNIST")
    } else {
        (load_sample()?.train, "bundled sample")
    };
    let index = Arc::new(KnnIndex::new(&train.images, &train.labels, 32, 42)?);
    let options = KnnOptions {
        target: 7,
        k: 3,
        lr: 0.05,
        mask: 0.5,
        max_steps: usize::MAX,
        threshold: 1.0,
        seed: 0,
    };
    // A real digit, as inversions start from: the search prunes by how typical an image is.
    let digit: Vec<f32> = load_sample()?
        .test
        .image(0)
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let mut knn = KnnInverter::new(index, Arc::new(train.clone()), digit, options)?;
    let ms = time_steps(&mut knn, 10)?;
    println!(
        "invert_step knn: median {:.3} ms per step (min {:.3}, max {:.3}; {RUNS} runs of 10 steps, k = 3 against {} training images of {origin})",
        ms[RUNS / 2],
        ms[0],
        ms[RUNS - 1],
        train.len()
    );
    Ok(())
}

/// Per-step milliseconds of `RUNS` runs of `steps` steps each, sorted, after a warm-up.
fn time_steps(inverter: &mut dyn Inverter, steps: usize) -> anyhow::Result<Vec<f64>> {
    for _ in 0..steps.min(20) {
        inverter.step()?;
    }
    let mut per_step_ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..steps {
            inverter.step()?;
        }
        per_step_ms.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
    }
    per_step_ms.sort_by(f64::total_cmp);
    Ok(per_step_ms)
}

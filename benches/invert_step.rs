//! Time of one CNN gradient-inversion step (forward, backward to the pixels, update) for one
//! image on the CPU. Target: at most 1 ms. Prints the median over several runs.

use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use classgen::data::PIXELS;
use classgen::inversion::{GradientInverter, GradientOptions};
use classgen::model::{ArchSpec, Network};

const RUNS: usize = 7;
const STEPS: usize = 100;

fn main() -> anyhow::Result<()> {
    classgen::runtime::tune_allocator();
    // Weights do not change the cost: an untrained seed CNN will do.
    let net = Arc::new(Network::new(&ArchSpec::seed(), 1, &Device::Cpu)?);
    let start: Vec<f32> = (0..PIXELS).map(|i| (i % 29) as f32 / 29.0).collect();
    let options = GradientOptions {
        target: 7,
        max_steps: usize::MAX,
        threshold: 1.0,
        ..GradientOptions::default()
    };
    let mut inverter = GradientInverter::new(net, start, options)?;
    for _ in 0..20 {
        inverter.step()?;
    }
    let mut per_step_ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..STEPS {
            inverter.step()?;
        }
        per_step_ms.push(t.elapsed().as_secs_f64() * 1e3 / STEPS as f64);
    }
    per_step_ms.sort_by(f64::total_cmp);
    println!(
        "invert_step: median {:.3} ms per step (min {:.3}, max {:.3}; {RUNS} runs of {STEPS} steps, 1 image, log loss, normalised step, {} threads)",
        per_step_ms[RUNS / 2],
        per_step_ms[0],
        per_step_ms[RUNS - 1],
        rayon::current_num_threads()
    );
    Ok(())
}

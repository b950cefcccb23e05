//! Time of each attribution method on the seed CNN, for one image and per image in a batch of
//! 100 (Captum's settings: IG 50 steps, SmoothGrad 25 samples, occlusion 4x4 stride 2), median
//! of several runs, on every core (2 threads on the reference machine, as the peer script).
//! EXPLAIN_RUN names a training run to load (the weights the peer script reads too); without
//! it an untrained seed CNN stands in. Test images from the bundled sample.

use std::time::Instant;

use candle_core::Device;
use classgen::data::{source::load_sample, PIXELS};
use classgen::explain::{explain_targets, Explainer, Method, Settings};
use classgen::model::{ArchSpec, Network};
use classgen::runs::checkpoint;

const RUNS: usize = 9;

fn median_ms(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    method: Method,
    reps: usize,
) -> anyhow::Result<f64> {
    let s = Settings::default();
    explain_targets(model, xs, targets, &[method], &s)?;
    let mut ms: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                explain_targets(model, xs, targets, &[method], &s)?;
            }
            Ok(t.elapsed().as_secs_f64() * 1e3 / reps as f64)
        })
        .collect::<anyhow::Result<_>>()?;
    ms.sort_by(f64::total_cmp);
    Ok(ms[RUNS / 2])
}

fn main() -> anyhow::Result<()> {
    classgen::runtime::tune_allocator();
    let (net, what) = match std::env::var("EXPLAIN_RUN") {
        Ok(dir) => (checkpoint::load_network(dir.as_ref(), &Device::Cpu)?.0, dir),
        Err(_) => (
            Network::new(&ArchSpec::seed(), 1, &Device::Cpu)?,
            "an untrained seed CNN".into(),
        ),
    };
    let mut model = Explainer::cnn(&net)?;
    let test = load_sample()?.test;
    let xs: Vec<f32> = test.images[..100 * PIXELS]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let probs = model.probs(&xs)?;
    let targets: Vec<usize> = classgen::classifier::predictions(&probs)
        .into_iter()
        .map(usize::from)
        .collect();
    println!(
        "explain ({what}, {} threads; median of {RUNS} runs): ms for one image | ms per image in a batch of 100",
        rayon::current_num_threads()
    );
    for method in Method::ALL {
        let one = median_ms(&mut model, &xs[..PIXELS], &targets[..1], method, 20)?;
        let batch = median_ms(&mut model, &xs, &targets, method, 1)? / 100.0;
        println!("{:<11} {one:>9.3} | {batch:>9.3}", method.name());
    }
    Ok(())
}

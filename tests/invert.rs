//! Gradient inversion on a CNN trained briefly on the bundled sample.

use std::sync::{Arc, OnceLock};

use classgen::baselines::knn::KnnIndex;
use classgen::data::source::load_sample;
use classgen::data::CLASSES;
use classgen::inversion::start::first_confident;
use classgen::inversion::{
    Frame, GradientInverter, GradientOptions, Inverter, KnnInverter, KnnOptions, Objective,
    Regularisers, Start, StepKind, StopReason,
};
use classgen::model::Network;
use classgen::runs::checkpoint;

mod common;
use common::{train_on_sample, TrainedSample};

/// One model for every test here: one epoch over 4,096 sample images.
fn fixture() -> &'static TrainedSample {
    static FIXTURE: OnceLock<TrainedSample> = OnceLock::new();
    FIXTURE.get_or_init(|| train_on_sample(4096, 500))
}

fn network() -> Arc<Network> {
    Arc::new(
        checkpoint::load_network(&fixture().run_dir, &candle_core::Device::Cpu)
            .unwrap()
            .0,
    )
}

/// The CNN as a function of u8 images.
fn predict(net: &Network) -> impl Fn(&[u8]) -> anyhow::Result<Vec<f32>> + '_ {
    |pixels| Ok(net.predict_proba(pixels, 256)?)
}

/// The first confident test image of the class the model is surest of, and that class.
fn confident_start(net: &Network) -> (usize, Vec<f32>) {
    let test = &fixture().data.test;
    let found = first_confident(&predict(net), test, 0.9).unwrap();
    let (class, _) = found
        .iter()
        .enumerate()
        .filter_map(|(c, i)| i.map(|i| (c, i)))
        .map(|(c, i)| {
            let p = net.predict_proba(test.image(i), 1).unwrap()[c];
            (c, p)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("the briefly trained model classifies some test image with p >= 0.9");
    let start = Start::Class(class)
        .resolve(test, &predict(net), 0.9)
        .unwrap();
    (class, start.pixels)
}

/// The test image the model is surest of, and the class it finds least likely there.
fn most_confident(net: &Network) -> (usize, Vec<f32>) {
    let test = &fixture().data.test;
    let probs = net.predict_proba(&test.images, 100).unwrap();
    let (index, p) = probs
        .chunks(CLASSES)
        .enumerate()
        .max_by(|a, b| {
            let own = |(i, p): &(usize, &[f32])| p[usize::from(test.labels[*i])];
            own(a).total_cmp(&own(b))
        })
        .unwrap();
    let least = (0..CLASSES).min_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    let start = Start::Test(index)
        .resolve(test, &predict(net), 0.9)
        .unwrap();
    (least, start.pixels)
}

fn run(net: &Arc<Network>, start: &[f32], options: GradientOptions) -> (Vec<Frame>, StopReason) {
    let mut inverter = GradientInverter::new(net.clone(), start.to_vec(), options).unwrap();
    let frames: Vec<Frame> = inverter.by_ref().map(Result::unwrap).collect();
    (frames, inverter.stop_reason().unwrap())
}

#[test]
fn frames_are_deterministic_by_seed_and_pixels_stay_in_the_unit_range() {
    let net = network();
    let test = &fixture().data.test;
    let start = Start::Noise(11)
        .resolve(test, &predict(&net), 0.9)
        .unwrap()
        .pixels;
    let options = |seed| GradientOptions {
        target: 4,
        objective: Objective::Logit,
        step: StepKind::Raw,
        lr: 0.5,
        max_steps: 12,
        threshold: 1.0,
        reg: Regularisers {
            l2: 0.01,
            jitter: 2,
            ..Regularisers::default()
        },
        seed,
        ..GradientOptions::default()
    };
    let (a, reason) = run(&net, &start, options(1));
    let (b, _) = run(&net, &start, options(1));
    let (c, _) = run(&net, &start, options(2));
    assert_eq!(reason, StopReason::MaxSteps);
    assert_eq!(a.len(), 13, "frames 0..=max_steps");
    assert_eq!(a, b, "same seed, same frames");
    assert_ne!(a, c, "another jitter seed, other frames");
    for f in &a {
        assert!(
            f.pixels.iter().all(|p| (0.0..=1.0).contains(p)),
            "step {}",
            f.step
        );
    }
    // The large raw steps do hit the bounds, so the clip is exercised.
    let last = &a.last().unwrap().pixels;
    assert!(last.contains(&0.0) && last.contains(&1.0));
}

#[test]
fn log_loss_with_a_normalised_step_reaches_the_threshold() {
    let net = network();
    let (class, start) = confident_start(&net);
    let target = (class + 5) % CLASSES;
    let (frames, reason) = run(
        &net,
        &start,
        GradientOptions {
            target,
            max_steps: 400,
            ..GradientOptions::default()
        },
    );
    let last = frames.last().unwrap();
    assert_eq!(
        reason,
        StopReason::Reached,
        "{class} -> {target}: p_target {} after {} steps",
        last.p_target,
        last.step
    );
    assert!(last.p_target >= 0.99);
    assert!(
        frames[0].p_target < 0.5,
        "the start is not already the target"
    );
    assert!(last.l2 > 0.0 && last.linf > 0.0);
}

#[test]
fn naive_raw_step_barely_moves_a_confident_image_where_normalised_log_does() {
    let net = network();
    let (target, start) = most_confident(&net);
    let steps = |objective, step| GradientOptions {
        target,
        objective,
        step,
        max_steps: 30,
        threshold: 1.0,
        ..GradientOptions::default()
    };
    let (naive, _) = run(&net, &start, steps(Objective::Naive, StepKind::Raw));
    let (log, _) = run(&net, &start, steps(Objective::Log, StepKind::Normalized));
    let (naive, log) = (naive.last().unwrap(), log.last().unwrap());
    assert!(
        naive.l2 * 100.0 < log.l2,
        "naive raw moved {} (gradient norm {}), normalised log {}",
        naive.l2,
        naive.grad_norm,
        log.l2
    );
    assert!(naive.grad_norm < 1e-5, "naive gradient {}", naive.grad_norm);
}

#[test]
fn knn_inverter_raises_the_share_of_target_neighbours_deterministically() {
    // A small set: 1,000 training images, no CNN needed.
    let full = load_sample().unwrap();
    let train = Arc::new(full.train.head(1000));
    let index = Arc::new(KnnIndex::new(&train.images, &train.labels, 16, 1).unwrap());
    let source = (0..full.test.len())
        .find(|&i| full.test.labels[i] == 3)
        .unwrap();
    let start: Vec<f32> = full
        .test
        .image(source)
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let options = KnnOptions {
        target: 7,
        k: 3,
        lr: 0.5,
        mask: 0.5,
        max_steps: 200,
        threshold: 0.6,
        seed: 5,
    };
    let run = || {
        let mut inverter =
            KnnInverter::new(index.clone(), train.clone(), start.clone(), options.clone()).unwrap();
        let frames = inverter.run_to_end().unwrap();
        (frames, inverter.stop_reason())
    };
    let (frames, reason) = run();
    assert_eq!(run().0, frames, "same seed, same frames");
    let (first, last) = (&frames[0], frames.last().unwrap());
    assert_eq!(
        reason,
        Some(StopReason::Reached),
        "p_target {}",
        last.p_target
    );
    assert!(first.p_target < 0.6 && last.p_target >= 0.6);
    assert!(frames
        .iter()
        .all(|f| f.pixels.iter().all(|p| (0.0..=1.0).contains(p))));
}

#[test]
fn regularised_inversions_from_noise_lie_nearer_the_training_images_than_plain_ones() {
    use classgen::inversion::{grid, prototype};
    let net = network();
    let train = &fixture().data.train;
    let index = KnnIndex::new(&train.images, &train.labels, 0, 1).unwrap();
    let sources = prototype::noise_starts(0, 1);
    let nearest = |reg| {
        let cells = grid::run(
            &sources,
            |source, target| {
                let options = GradientOptions {
                    target,
                    max_steps: 40,
                    reg,
                    ..GradientOptions::default()
                };
                let inverter = GradientInverter::new(net.clone(), source.pixels.clone(), options)?;
                Ok(Box::new(inverter) as Box<dyn Inverter>)
            },
            |_, _| {},
        )
        .unwrap();
        prototype::median_nearest_distance(&index, &prototype::final_images(&cells)).unwrap()
    };
    let (plain, regularised) = (
        nearest(Regularisers::default()),
        nearest(Regularisers::prototype()),
    );
    assert!(
        regularised < plain,
        "regularised {regularised}, plain {plain}"
    );
}

/// The sweep job on 2 rates x 2 starts: the plan for the tests below.
fn sweep_plan(snapshots: &std::path::Path) -> classgen::jobs::invert_sweep::SweepPlan {
    use classgen::jobs::invert::SnapshotSettings;
    use classgen::jobs::models::CnnModel;
    let run = classgen::runs::RunInfo::read(&fixture().run_dir).unwrap();
    classgen::jobs::invert_sweep::SweepPlan {
        cnn: CnnModel::load(run, &candle_core::Device::Cpu).unwrap(),
        lrs: vec![0.03, 0.3],
        starts: vec![Start::Noise(1), Start::Test(0)],
        options: GradientOptions {
            target: 3,
            max_steps: 25,
            ..GradientOptions::default()
        },
        confidence: 0.9,
        snapshots: SnapshotSettings {
            dir: snapshots.to_path_buf(),
            scale: 1,
            strip: 0,
            gif_frames: 0,
        },
    }
}

#[test]
fn the_sweep_job_reports_every_cell_as_one_inversion_computes_it_and_stops_when_cancelled() {
    use classgen::inversion::sweep::SweepCell;
    use classgen::jobs::invert_sweep::{self as sweep_job, SweepEvent};
    use classgen::runs::{RunKind, RunState, RunStore};
    use std::sync::atomic::AtomicBool;
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(dir.path().join("runs"));
    let plan = sweep_plan(&dir.path().join("snapshots"));
    let data = Arc::new(fixture().data.clone());
    // Each cell as the CLI computed it before the job: one inversion run to its end.
    let net = network();
    let mut expected: Vec<SweepCell> = Vec::new();
    for lr in [0.03f32, 0.3] {
        for s in &plan.starts {
            let start = s
                .resolve(&fixture().data.test, &predict(&net), 0.9)
                .unwrap();
            let options = GradientOptions {
                lr,
                ..plan.options.clone()
            };
            let (frames, _) = run(&net, &start.pixels, options);
            expected.push(SweepCell::of(
                lr,
                s.to_string(),
                &frames,
                plan.options.threshold,
            ));
        }
    }
    let job = sweep_job::spawn(
        plan.clone(),
        data.clone(),
        &store,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let run_dir = job.run().unwrap().dir.clone();
    let events: Vec<SweepEvent> = job.events().iter().collect();
    let result = job.join().unwrap();
    assert!(result.complete);
    assert_eq!(result.cells, expected);
    let done: Vec<&SweepCell> = events
        .iter()
        .filter_map(|e| match e {
            SweepEvent::CellDone { summary, image, .. } => {
                assert_eq!(image.len(), 784);
                Some(summary)
            }
            _ => None,
        })
        .collect();
    assert_eq!(done, expected.iter().collect::<Vec<_>>());
    // The curve events, joined, are each cell's curve.
    let mut curves: Vec<Vec<f32>> = vec![Vec::new(); 4];
    for e in &events {
        if let SweepEvent::Curve { cell, from, p, .. } = e {
            assert_eq!(curves[*cell].len(), *from);
            curves[*cell].extend(p);
        }
    }
    let wanted: Vec<Vec<f32>> = expected.iter().map(|c| c.curve.clone()).collect();
    assert_eq!(curves, wanted);
    let Some(SweepEvent::Grid { path }) = events.last() else {
        panic!("the grid comes last: {:?}", events.last());
    };
    assert!(path.exists() && result.grid.as_ref() == Some(path));
    let info = classgen::runs::RunInfo::read(&run_dir).unwrap();
    assert_eq!(info.record.kind, RunKind::InvertSweep);
    assert_eq!(info.state(), RunState::Finished);

    // Cells that would run 5000 steps each, cancelled at the first curve event: the job ends
    // in its first cell, its run stopped.
    let mut long = plan;
    long.options.max_steps = 5000;
    long.options.threshold = 2.0;
    let job = sweep_job::spawn(long, data, &store, Arc::new(AtomicBool::new(false))).unwrap();
    for e in job.events().iter() {
        if matches!(e, SweepEvent::Curve { .. }) {
            job.cancel();
        }
    }
    let stopped_dir = job.run().unwrap().dir.clone();
    let stopped = job.join().unwrap();
    assert!(!stopped.complete && stopped.grid.is_none());
    assert!(stopped.cells.is_empty(), "{} cells", stopped.cells.len());
    assert!(matches!(
        classgen::runs::RunInfo::read(&stopped_dir).unwrap().state(),
        RunState::Stopped { .. }
    ));
}

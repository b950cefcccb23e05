//! Training on the bundled sample: accuracy, checkpoint round trip, cancel and exact resume.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use classgen::config::{Schedule, TrainConfig};
use classgen::data::source::load_sample;
use classgen::jobs::train as job;
use classgen::model::checkpoint;
use classgen::model::train::{Outcome, TrainEvent};

/// The study's plain recipe (constant rate, no augmentation): the default's cosine decay and
/// shifts pay off over several epochs, not in the single epoch these tests train.
fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        seed: 7,
        schedule: Schedule::Constant,
        augment_shift: 0,
        ..TrainConfig::default()
    }
}

#[test]
fn one_epoch_on_the_sample_reaches_90_percent_and_checkpoints_round_trip() {
    let data = Arc::new(load_sample().unwrap());
    let runs = tempfile::tempdir().unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let job = job::spawn(&config(1), data.clone(), runs.path(), None, cancel).unwrap();
    let run_dir = job.run_dir.clone();
    let events: Vec<TrainEvent> = job.events.iter().collect();
    let (outcome, meta) = job.join().unwrap();
    assert_eq!(outcome, Outcome::Finished);
    let accuracy = meta.history[0].test_accuracy;
    assert!(
        accuracy >= 0.90,
        "test accuracy after one epoch: {accuracy}"
    );
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Batch { .. })));
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Epoch(_))));
    assert!(run_dir.join(job::EVENTS).is_file());

    // Saved and loaded, the network predicts identically.
    let (loaded, loaded_meta) =
        checkpoint::load_network(&run_dir, &candle_core::Device::Cpu).unwrap();
    assert_eq!(loaded_meta.params, 225_034);
    let again = loaded
        .predict_proba(&data.test.images[..50 * 784], 16)
        .unwrap();
    let reloaded_twice = checkpoint::load_network(&run_dir, &candle_core::Device::Cpu)
        .unwrap()
        .0
        .predict_proba(&data.test.images[..50 * 784], 50)
        .unwrap();
    assert_eq!(again, reloaded_twice);
    let (_, acc) = classgen::model::train::evaluate(&loaded, &data.test, 500).unwrap();
    assert_eq!(
        acc, accuracy,
        "the loaded model scores what training reported"
    );
}

#[test]
fn cancelled_run_resumes_to_the_same_weights_as_an_uninterrupted_one() {
    let full = load_sample().unwrap();
    let small = Arc::new(classgen::data::Dataset {
        train: full.train.head(1024),
        test: full.test.head(200),
        ..full
    });
    let runs = tempfile::tempdir().unwrap();

    // Uninterrupted: 2 epochs.
    let straight = job::spawn(
        &config(2),
        small.clone(),
        runs.path(),
        None,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let straight_dir = straight.run_dir.clone();
    straight.events.iter().for_each(drop);
    straight.join().unwrap();

    // Interrupted after the first few batches of epoch 1, then resumed.
    let cancel = Arc::new(AtomicBool::new(false));
    let job = job::spawn(&config(2), small.clone(), runs.path(), None, cancel.clone()).unwrap();
    let dir = job.run_dir.clone();
    for event in job.events.iter() {
        if let TrainEvent::Batch {
            epoch: 1, batch: 3, ..
        } = event
        {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let (outcome, _) = job.join().unwrap();
    assert!(
        matches!(outcome, Outcome::Cancelled(p) if p.epoch < 2 && (p.epoch, p.batch) >= (0, 3)),
        "{outcome:?}"
    );
    let resumed = job::spawn(
        &config(2),
        small,
        runs.path(),
        Some(&dir),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    resumed.events.iter().for_each(drop);
    let (outcome, meta) = resumed.join().unwrap();
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!(meta.position.epoch, 2);

    let weights = |d: &std::path::Path| {
        candle_core::safetensors::load(d.join(checkpoint::WEIGHTS), &candle_core::Device::Cpu)
            .unwrap()
    };
    let (resumed, straight) = (weights(&dir), weights(&straight_dir));
    assert_eq!(resumed.len(), straight.len());
    for (name, tensor) in &straight {
        let a = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = resumed[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            a == b,
            "{name}: resumed weights differ from an uninterrupted run"
        );
    }
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = classgen::model::Network::new(
        &classgen::model::ArchSpec::seed(),
        1,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let other = classgen::model::ArchSpec {
        name: "narrow".into(),
        convs: vec![
            classgen::model::arch::conv(16, true),
            classgen::model::arch::conv(32, true),
        ],
        dense: Some(128),
    };
    let other_net = classgen::model::Network::new(&other, 1, &candle_core::Device::Cpu).unwrap();
    let path = dir.path().join("w.safetensors");
    candle_core::safetensors::save(&other_net.named_tensors(), &path).unwrap();
    let err = net.load_weights(&path).unwrap_err().to_string();
    assert!(
        err.contains("w.safetensors") && err.contains("seed"),
        "{err}"
    );
}

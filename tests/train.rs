//! Training on the bundled sample through the job engine: accuracy, checkpoint round trip,
//! cancel and exact resume, data identity on resume.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use classgen::data::source::load_sample;
use classgen::jobs::train::{self as job, TrainPlan};
use classgen::model::train::{Outcome, TrainEvent};
use classgen::runs::checkpoint;
use classgen::runs::{RunInfo, RunState, RunStore, EVENTS};

use common::plain;

fn new_run(epochs: usize) -> TrainPlan {
    TrainPlan::New {
        recipe: plain(epochs, 7),
        custom_archs: Vec::new(),
    }
}

#[test]
fn one_epoch_on_the_sample_reaches_90_percent_and_checkpoints_round_trip() {
    let data = Arc::new(load_sample().unwrap());
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());
    let cancel = Arc::new(AtomicBool::new(false));
    let job = job::spawn(new_run(1), data.clone(), &store, cancel).unwrap();
    let run_dir = job.run().unwrap().dir.clone();
    let events: Vec<TrainEvent> = job.events().iter().collect();
    let result = job.join().unwrap();
    assert_eq!(result.outcome, Outcome::Finished);
    let accuracy = result.meta.progress.history[0].test_accuracy;
    assert!(
        accuracy >= 0.90,
        "test accuracy after one epoch: {accuracy}"
    );
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Batch { .. })));
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Epoch(_))));
    assert!(run_dir.join(EVENTS).is_file());
    let info = RunInfo::read(&run_dir).unwrap();
    assert_eq!(info.state(), RunState::Finished);
    assert_eq!(
        info.record.cnn.as_ref().unwrap().test_accuracy,
        Some(accuracy)
    );
    assert_eq!(
        store
            .newest_finished_cnn(&info.record.data)
            .unwrap()
            .run
            .dir,
        run_dir
    );

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

/// Every weight of the run in `dir`.
fn weights(dir: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let (net, _) = checkpoint::load_network(dir, &candle_core::Device::Cpu).unwrap();
    let mut named: Vec<(String, Vec<f32>)> = net
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[test]
fn cancelled_run_resumes_to_the_same_weights_and_metrics_as_an_uninterrupted_one() {
    let small = Arc::new(common::sample_head(1024, 200));
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());

    // Uninterrupted: 2 epochs.
    let straight = common::train(&store, &plain(2, 7), &small);

    // Interrupted after the first few batches of epoch 1, then resumed (its own recipe: the
    // resume names no epochs).
    let cancel = Arc::new(AtomicBool::new(false));
    let job = job::spawn(new_run(2), small.clone(), &store, cancel.clone()).unwrap();
    let dir = job.run().unwrap().dir.clone();
    for event in job.events().iter() {
        if let TrainEvent::Batch {
            epoch: 1, batch: 3, ..
        } = event
        {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let stopped = job.join().unwrap();
    assert!(
        matches!(stopped.outcome, Outcome::Cancelled(p) if p.epoch < 2 && (p.epoch, p.batch) >= (0, 3)),
        "{:?}",
        stopped.outcome
    );
    let info = RunInfo::read(&dir).unwrap();
    assert!(
        matches!(info.state(), RunState::Stopped { at: Some(_) }),
        "{:?}",
        info.state()
    );
    assert!(
        store
            .newest_finished_cnn(&info.record.data)
            .unwrap()
            .run
            .dir
            != dir
    );
    let plan = TrainPlan::Resume {
        run: Box::new(info),
        epochs: None,
        device: None,
    };
    let resumed = job::spawn(plan, small, &store, Arc::new(AtomicBool::new(false))).unwrap();
    resumed.events().iter().for_each(drop);
    let resumed = resumed.join().unwrap();
    assert_eq!(resumed.outcome, Outcome::Finished);
    assert_eq!(resumed.meta.progress.position.epoch, 2);
    assert_eq!(weights(&dir), weights(&straight.run.dir), "weights differ");
    // The epoch cut in two reports its metrics over the whole epoch.
    let (a, b) = (
        &resumed.meta.progress.history,
        &straight.meta.progress.history,
    );
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (x.train_loss, x.train_accuracy, x.test_accuracy),
            (y.train_loss, y.train_accuracy, y.test_accuracy)
        );
    }
}

#[test]
fn a_resume_on_other_data_is_refused_naming_both() {
    let small = Arc::new(common::sample_head(256, 100));
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());
    let done = common::train(&store, &plain(1, 1), &small);
    let other = Arc::new(common::sample_head(512, 100));
    let plan = TrainPlan::Resume {
        run: Box::new(done.run),
        epochs: Some(2),
        device: None,
    };
    let err = job::spawn(plan, other, &store, Arc::new(AtomicBool::new(false)))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("256 train") && err.contains("512 train"),
        "{err}"
    );
}

#[test]
fn empty_splits_are_refused_before_any_run_is_made() {
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());
    let no_train = Arc::new(common::sample_head(0, 10));
    let err = job::spawn(
        new_run(1),
        no_train,
        &store,
        Arc::new(AtomicBool::new(false)),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("training split has no images"), "{err}");
    let no_test = Arc::new(common::sample_head(10, 0));
    let err = job::spawn(
        new_run(1),
        no_test,
        &store,
        Arc::new(AtomicBool::new(false)),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("test split has no images"), "{err}");
    assert!(store.list().is_empty());
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

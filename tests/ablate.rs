//! A tiny ablation on the bundled sample: complete rows, and resuming skips finished runs.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use classgen::config::TrainConfig;
use classgen::data::source::load_sample;
use classgen::data::Dataset;
use classgen::jobs::ablate::{self as job, AblationEvent, AblationPlan, AblationResult};
use classgen::model::ArchSpec;
use classgen::runs::{RunKind, RunState, RunStore};

fn small_sample() -> Dataset {
    let full = load_sample().unwrap();
    Dataset {
        train: full.train.head(1024),
        test: full.test.head(200),
        ..full
    }
}

fn plan() -> AblationPlan {
    let by = |n| ArchSpec::by_name(n, &[]).unwrap();
    AblationPlan {
        variants: vec![by("seed"), by("tiny")],
        seeds: vec![1, 2],
        train: TrainConfig {
            epochs: 1,
            ..TrainConfig::default()
        },
        runs_at_once: 2,
    }
}

/// Runs `plan` to the end in a fresh store; returns its events and table.
fn study(plan: AblationPlan, data: &Arc<Dataset>) -> (Vec<AblationEvent>, AblationResult) {
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());
    let job = job::spawn(plan, data.clone(), &store, Arc::new(AtomicBool::new(false))).unwrap();
    let events = job.events().iter().collect();
    (events, job.join().unwrap())
}

#[test]
fn runs_side_by_side_give_the_numbers_of_runs_one_at_a_time() {
    let data = Arc::new(small_sample());
    let (events, together) = study(plan(), &data);
    let alone = study(
        AblationPlan {
            runs_at_once: 1,
            ..plan()
        },
        &data,
    )
    .1;
    let at_once = events.iter().find_map(|e| match e {
        AblationEvent::Planned(plan) => Some(plan.at_once),
        _ => None,
    });
    assert_eq!(at_once, Some(2.min(rayon::current_num_threads())));
    // Every run's numbers, in plan order, whatever finished first.
    let numbers = |r: &AblationResult| -> Vec<(String, u64, Vec<[f64; 4]>)> {
        r.runs
            .iter()
            .map(|run| {
                let history = run.history.iter();
                let metrics =
                    history.map(|m| [m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy]);
                (run.variant.clone(), run.seed, metrics.collect())
            })
            .collect()
    };
    assert_eq!(numbers(&together).len(), 4);
    assert_eq!(numbers(&together), numbers(&alone));
    assert_eq!(together.rows, {
        let mut rows = alone.rows.clone();
        for (row, timed) in rows.iter_mut().zip(&together.rows) {
            row.seconds_per_epoch = timed.seconds_per_epoch;
            row.inference_images_per_second = timed.inference_images_per_second;
        }
        rows
    });
}

#[test]
fn tiny_ablation_fills_the_table_and_resumes_without_retraining() {
    let data = Arc::new(small_sample());
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());

    // First pass: cancel as soon as one run has finished.
    let first = job::spawn(
        plan(),
        data.clone(),
        &store,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let dir = first.run().unwrap().dir.clone();
    for event in first.events().iter() {
        if matches!(event, AblationEvent::RunFinished(_)) {
            first.cancel();
        }
    }
    let partial = first.join().unwrap();
    assert!(
        !partial.runs.is_empty() && partial.runs.len() < 4,
        "{} runs after cancel",
        partial.runs.len()
    );
    let stopped = store.find(&dir.display().to_string()).unwrap();
    assert_eq!(stopped.state(), RunState::Stopped { at: None });

    // Second pass: the same study lands in the same run; finished runs are reused.
    let second = job::spawn(plan(), data, &store, Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(second.run().unwrap().dir, dir);
    let events: Vec<AblationEvent> = second.events().iter().collect();
    let result = second.join().unwrap();
    let reused = events
        .iter()
        .filter(|e| matches!(e, AblationEvent::Reused(_)))
        .count();
    let trained = events
        .iter()
        .filter(|e| matches!(e, AblationEvent::RunFinished(_)))
        .count();
    assert_eq!(reused, partial.runs.len());
    assert_eq!(reused + trained, 4);
    assert_eq!(result.runs.len(), 4);

    let rows = &result.rows;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].params, 225_034);
    assert_eq!(rows[1].params, 14_410);
    assert!(
        rows[0].accuracy.mean > 0.5,
        "seed: {}",
        rows[0].accuracy.mean
    );
    for row in rows {
        assert_eq!(row.accuracy.n, 2);
        assert!(
            row.accuracy.mean > 0.1,
            "{} at chance: {}",
            row.variant,
            row.accuracy.mean
        );
        assert!(row.seconds_per_epoch > 0.0 && row.inference_images_per_second > 0.0);
    }
    assert!(rows[1].delta.is_some() && !rows[1].verdict.is_empty());

    // The table the dashboard shows is the run's result, found through the store.
    let saved = store.newest(RunKind::Ablate, |_| true).unwrap();
    assert_eq!(saved.state(), RunState::Finished);
    let table: AblationResult = saved.result().unwrap();
    let accuracies =
        |r: &AblationResult| -> Vec<f64> { r.runs.iter().map(|run| run.test_accuracy).collect() };
    assert_eq!(accuracies(&table), accuracies(&result));
    assert_eq!(table.rows.len(), 2);
}

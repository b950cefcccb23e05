//! A tiny ablation on the bundled sample: complete rows, and resuming skips finished runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;

use classgen::ablation::table;
use classgen::config::TrainConfig;
use classgen::data::source::load_sample;
use classgen::data::Dataset;
use classgen::jobs::ablate::{run, study_dir, AblationEvent, AblationPlan};
use classgen::model::ArchSpec;

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
    }
}

#[test]
fn tiny_ablation_fills_the_table_and_resumes_without_retraining() {
    let data = small_sample();
    let runs = tempfile::tempdir().unwrap();
    let plan = plan();
    let dir = study_dir(runs.path(), &data, &plan.train);

    // First pass: cancel as soon as one run has finished.
    let cancel = AtomicBool::new(false);
    let (tx, rx) = channel();
    let partial = std::thread::scope(|s| {
        let worker = s.spawn(|| run(&plan, &data, &dir, &tx, &cancel));
        for event in rx.iter() {
            if matches!(event, AblationEvent::RunFinished(_)) {
                cancel.store(true, Ordering::Relaxed);
            }
            if matches!(event, AblationEvent::Cancelled) {
                break;
            }
        }
        worker.join().unwrap().unwrap()
    });
    assert!(
        !partial.is_empty() && partial.len() < 4,
        "{} runs after cancel",
        partial.len()
    );

    // Second pass: the finished runs are reused, the rest trained.
    let (tx, rx) = channel();
    let results = run(&plan, &data, &dir, &tx, &AtomicBool::new(false)).unwrap();
    drop(tx);
    let events: Vec<AblationEvent> = rx.iter().collect();
    let reused = events
        .iter()
        .filter(|e| matches!(e, AblationEvent::Reused(_)))
        .count();
    let trained = events
        .iter()
        .filter(|e| matches!(e, AblationEvent::RunFinished(_)))
        .count();
    assert_eq!(reused, partial.len());
    assert_eq!(reused + trained, 4);
    assert_eq!(results.len(), 4);

    let order = vec!["seed".to_string(), "tiny".to_string()];
    let rows = table(&results, &order, "seed");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].params, 225_034);
    assert_eq!(rows[1].params, 14_410);
    assert!(
        rows[0].accuracy.mean > 0.5,
        "seed: {}",
        rows[0].accuracy.mean
    );
    for row in &rows {
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

    // The table the dashboard shows is saved beside the runs.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(classgen::jobs::ablate::RESULT)).unwrap())
            .unwrap();
    assert_eq!(saved["variants"].as_array().unwrap().len(), 2);
}

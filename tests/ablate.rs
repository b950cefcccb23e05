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

/// Issue 22, defect 6: an `[[arch]]` redefined under the same name is another study, so none of
/// the old architecture's cells are reused.
#[test]
fn a_redefined_architecture_is_a_new_study() {
    let data = Arc::new(small_sample());
    let runs = tempfile::tempdir().unwrap();
    let store = RunStore::new(runs.path());
    let mine = |convs: usize| -> ArchSpec {
        let tiny = ArchSpec::by_name("tiny", &[]).unwrap();
        ArchSpec {
            name: "mine".into(),
            convs: tiny.convs.iter().cycle().take(convs).cloned().collect(),
            ..tiny
        }
    };
    let plan = |arch: ArchSpec| AblationPlan {
        variants: vec![arch],
        seeds: vec![1],
        ..plan()
    };
    let first = job::spawn(
        plan(mine(1)),
        data.clone(),
        &store,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let first_dir = first.run().unwrap().dir.clone();
    let _: Vec<AblationEvent> = first.events().iter().collect();
    let before = first.join().unwrap();
    let second = job::spawn(
        plan(mine(2)),
        data,
        &store,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    assert_ne!(
        second.run().unwrap().dir,
        first_dir,
        "another study directory"
    );
    let events: Vec<AblationEvent> = second.events().iter().collect();
    let after = second.join().unwrap();
    assert!(
        !events.iter().any(|e| matches!(e, AblationEvent::Reused(_))),
        "the old architecture's cell was reused"
    );
    assert_eq!(before.rows[0].params, mine(1).params());
    assert_eq!(after.rows[0].params, mine(2).params());
    assert_ne!(mine(1).params(), mine(2).params());
}

/// `classgen` in `dir` with `args`, started (not waited for).
fn start(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_processes_started_together_never_both_train_a_cell() {
    let ws = tempfile::tempdir().unwrap();
    let data = ws.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let sample = small_sample();
    sample.train.write(&data, "train").unwrap();
    sample.test.write(&data, "t10k").unwrap();
    let study = [
        "ablate",
        "--variants",
        "tiny",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--data-dir",
        "data",
    ];
    let with = |more: &[&'static str]| -> Vec<&str> { [&study[..], more].concat() };

    let (code, cells, _) = finish(start(ws.path(), &with(&["--cells"])));
    assert_eq!(code, 0);
    assert!(cells.starts_with("2 cells\n"), "{cells}");
    assert!(cells.contains("tiny seed 43"), "{cells}");

    let a = start(ws.path(), &with(&["--cell", "0"]));
    let b = start(ws.path(), &with(&["--cell", "0"]));
    let ends = [finish(a), finish(b)];
    for (code, _, err) in &ends {
        assert_eq!(*code, 0, "{err}");
    }
    let trained = ends
        .iter()
        .filter(|(_, _, err)| err.contains("cells done") && !err.contains("): already done"))
        .count();
    assert_eq!(trained, 1, "exactly one process trains the cell: {ends:?}");
    assert!(
        ends.iter()
            .any(|(_, _, err)| err.contains("running in another process")
                || err.contains("already done")),
        "{ends:?}"
    );

    // The table from the finished cells says which are missing; a finished cell is skipped.
    let (_, status, _) = finish(start(ws.path(), &with(&["--status"])));
    assert!(
        status.contains("1 done, 0 running, 0 failed, 1 missing"),
        "{status}"
    );
    let (code, _, err) = finish(start(ws.path(), &with(&["--cell", "0"])));
    assert_eq!(code, 0);
    assert!(err.contains("already done"), "{err}");
    let (code, _, err) = finish(start(ws.path(), &with(&["--cell", "1"])));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 of 2 cells done"), "{err}");
    let (code, _, err) = finish(start(ws.path(), &with(&["--cell", "2"])));
    assert_ne!(code, 0);
    assert!(err.contains("the study has 2 cells"), "{err}");
    let (code, json, err) = finish(start(ws.path(), &with(&["--json"])));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 already done"), "{err}");
    let table: AblationResult = serde_json::from_str(&json).unwrap();
    assert_eq!(table.runs.len(), 2);
    assert!(table.missing.is_empty());
}

/// A directory with `data/`: the small sample as IDX files.
fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let data = ws.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let sample = small_sample();
    sample.train.write(&data, "train").unwrap();
    sample.test.write(&data, "t10k").unwrap();
    ws
}

#[test]
fn a_sweep_is_tabled_against_its_baseline_row_and_resumes() {
    let ws = workspace();
    let sweep = [
        "sweep",
        "--lrs",
        "0.001,0.003",
        "--archs",
        "tiny",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--baseline",
        "lr=0.003",
        "--data-dir",
        "data",
    ];
    let with = |more: &[&'static str]| -> Vec<&str> { [&sweep[..], more].concat() };
    let (code, cells, err) = finish(start(ws.path(), &with(&["--cells"])));
    assert_eq!(code, 0, "{err}");
    assert!(
        cells.starts_with("4 cells\n") && cells.contains("lr=0.001 seed 43"),
        "{cells}"
    );
    let (code, json, err) = finish(start(ws.path(), &with(&["--json"])));
    assert_eq!(code, 0, "{err}");
    let table: AblationResult = serde_json::from_str(&json).unwrap();
    let rows: Vec<(&str, &str)> = table
        .rows
        .iter()
        .map(|r| (r.variant.as_str(), r.verdict.as_str()))
        .collect();
    assert_eq!(rows[1], ("lr=0.003", "baseline"));
    assert_eq!(rows[0].0, "lr=0.001");
    assert!(table.rows[0].welch.is_some() && table.rows[0].delta.is_some());
    assert_eq!(table.rows[0].accuracy.n, 2);
    let (code, out, err) = finish(start(ws.path(), &sweep));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("4 already done"), "{err}");
    assert!(out.contains("delta vs lr=0.003"), "{out}");

    let (code, _, err) = finish(start(ws.path(), &["sweep", "--lrs", "0.1,0"]));
    assert_eq!(code, 1);
    assert!(err.contains("'sweep.learning_rates'"), "{err}");
    let other = [
        "sweep",
        "--lrs",
        "0.001,0.003",
        "--baseline",
        "lr=9",
        "--cells",
    ];
    let (code, _, err) = finish(start(ws.path(), &other));
    assert_eq!(code, 1);
    assert!(err.contains("'sweep.baseline': no row 'lr=9'"), "{err}");
}

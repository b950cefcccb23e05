//! Tests of the dashboard: `update` on keys and job events, and rendering every tab with
//! ratatui's `TestBackend` at 80x24 and 120x40.

use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::config::Config;
use crate::model::checkpoint::CheckpointMeta;
use crate::model::train::{EpochMetrics, Position, TrainEvent};
use crate::model::ArchSpec;

use super::app::{JobState, Tab, MAX_CURVE_POINTS};
use super::invert_worker::{InvEvent, InvRequest, ModelSpec};
use super::results::ResultView;
use super::testutil::{app_with, key, press, screen, tiny_dataset};
use super::update::{update, Command, Msg};
use crate::inversion::{Frame, StopReason};

fn metrics(epoch: usize) -> EpochMetrics {
    EpochMetrics {
        epoch,
        train_loss: 0.5 / epoch as f64,
        train_accuracy: 0.9 + 0.02 * epoch as f64,
        test_loss: 0.4 / epoch as f64,
        test_accuracy: 0.91 + 0.02 * epoch as f64,
        seconds: 10.0,
        images_per_second: 800.0,
    }
}

fn batch(epoch: usize, batch: usize) -> Msg {
    Msg::Train(TrainEvent::Batch {
        epoch,
        batch,
        batches: 10,
        loss: 1.0 / batch as f64,
        accuracy: 0.5,
        images_per_second: 1234.0,
        elapsed_seconds: 1.0,
        eta_seconds: 95.0,
    })
}

fn started(epochs: usize, from: Position) -> Msg {
    Msg::Train(TrainEvent::Started {
        params: 225_034,
        epochs,
        batches_per_epoch: 10,
        from,
    })
}

/// A dashboard with data whose training run was started and reported its start.
fn running_app() -> super::app::App {
    let mut app = app_with(Some(tiny_dataset(3)));
    assert!(matches!(
        press(&mut app, "s"),
        Some(Command::StartTraining { .. })
    ));
    update(&mut app, Msg::TrainStarted(PathBuf::from("runs/x-train")));
    update(&mut app, started(3, Position::default()));
    app
}

#[test]
fn tabs_switch_with_tab_shift_tab_and_digits() {
    let mut app = app_with(None);
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.tab, Tab::Ablation);
    update(&mut app, key(KeyCode::BackTab));
    update(&mut app, key(KeyCode::BackTab));
    assert_eq!(app.tab, Tab::Inversion);
    press(&mut app, "3");
    assert_eq!(app.tab, Tab::Baselines);
    press(&mut app, "1");
    assert_eq!(app.tab, Tab::Training);
}

#[test]
fn help_toggles_and_escape_closes_it() {
    let mut app = app_with(None);
    press(&mut app, "?");
    assert!(app.show_help);
    press(&mut app, "?");
    assert!(!app.show_help);
    press(&mut app, "?");
    update(&mut app, key(KeyCode::Esc));
    assert!(!app.show_help);
}

#[test]
fn key_releases_are_ignored() {
    let mut app = app_with(None);
    let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    update(&mut app, Msg::Key(release));
    assert!(!app.quit);
}

#[test]
fn q_quits_at_once_when_idle() {
    let mut app = app_with(None);
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn q_asks_while_a_job_runs() {
    let mut app = running_app();
    press(&mut app, "q");
    assert!(app.confirm_quit && !app.quit);
    press(&mut app, "n");
    assert!(!app.confirm_quit && !app.quit);
    press(&mut app, "qy");
    assert!(app.quit);
}

#[test]
fn ctrl_c_always_quits() {
    let mut app = running_app();
    press(&mut app, "q");
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    update(&mut app, Msg::Key(ctrl_c));
    assert!(app.quit);
}

#[test]
fn terminate_signal_quits() {
    let mut app = running_app();
    update(&mut app, Msg::Terminate);
    assert!(app.quit);
}

#[test]
fn start_needs_data_and_uses_the_edited_recipe() {
    let mut app = app_with(None);
    assert!(press(&mut app, "s").is_none());
    assert!(app.status.contains("loading"), "{}", app.status);
    update(&mut app, Msg::DataLoaded(Ok((tiny_dataset(3), None))));
    press(&mut app, "eelnN");
    let default = Config::default().train;
    match press(&mut app, "s") {
        Some(Command::StartTraining { config, resume, .. }) => {
            assert_eq!(config.epochs, default.epochs + 2);
            assert_eq!(config.learning_rate, default.learning_rate * 2.0);
            assert_eq!(config.seed, default.seed);
            assert!(resume.is_none());
        }
        other => panic!("expected a start, got {other:?}"),
    }
    assert_eq!(app.training.job, JobState::Starting);
    assert!(
        press(&mut app, "s").is_none(),
        "a second start while one runs"
    );
}

#[test]
fn settings_are_locked_while_running() {
    let mut app = running_app();
    let epochs = app.training.config.epochs;
    press(&mut app, "e");
    assert_eq!(app.training.config.epochs, epochs);
    assert!(app.status.contains("stop the run first"));
}

#[test]
fn epochs_and_lr_stay_in_range() {
    let mut app = app_with(None);
    press(&mut app, &"E".repeat(20));
    assert_eq!(app.training.config.epochs, 1);
    press(&mut app, &"l".repeat(40));
    assert_eq!(app.training.config.learning_rate, 1.0);
}

#[test]
fn training_events_fill_progress_curves_and_history() {
    let mut app = running_app();
    assert_eq!(app.training.job, JobState::Running);
    update(&mut app, batch(1, 5));
    let p = app.training.progress.expect("progress");
    assert_eq!((p.epoch, p.epochs, p.batch, p.batches), (1, 3, 5, 10));
    assert_eq!(app.training.loss_curve, vec![(0.5, 0.2)]);
    assert_eq!(app.training.acc_curve, vec![(0.5, 50.0)]);
    update(&mut app, Msg::Train(TrainEvent::Epoch(metrics(1))));
    assert_eq!(app.training.history.len(), 1);
    assert_eq!(app.training.position.epoch, 1);
}

#[test]
fn stop_then_cancelled_then_ended_leaves_a_resumable_run() {
    let mut app = running_app();
    assert!(matches!(press(&mut app, "x"), Some(Command::StopTraining)));
    assert_eq!(app.training.job, JobState::Stopping);
    let at = Position { epoch: 1, batch: 4 };
    update(&mut app, Msg::Train(TrainEvent::Cancelled { at }));
    update(&mut app, Msg::TrainEnded(Ok(())));
    assert_eq!(app.training.job, JobState::Idle);
    assert!(app.status.contains("r resumes"), "{}", app.status);
    match press(&mut app, "r") {
        Some(Command::StartTraining { resume, .. }) => {
            assert_eq!(resume, Some(PathBuf::from("runs/x-train")))
        }
        other => panic!("expected a resume, got {other:?}"),
    }
}

#[test]
fn a_failed_job_is_reported() {
    let mut app = running_app();
    update(&mut app, Msg::TrainEnded(Err("disk full".into())));
    assert_eq!(app.training.job, JobState::Idle);
    assert!(app.status.contains("disk full"));
}

#[test]
fn saved_run_is_shown_and_resumable() {
    let mut app = app_with(Some(tiny_dataset(3)));
    let meta = CheckpointMeta {
        arch: ArchSpec::seed(),
        params: 225_034,
        dataset: crate::data::DatasetKind::Mnist,
        origin: "sample".into(),
        position: Position { epoch: 2, batch: 0 },
        adam_step: 20,
        config: Config::default().train,
        history: vec![metrics(1), metrics(2)],
    };
    let dir = PathBuf::from("runs/20250101-000000-train");
    update(
        &mut app,
        Msg::SavedRun {
            dir: dir.clone(),
            meta: Box::new(meta),
        },
    );
    assert_eq!(app.training.history.len(), 2);
    assert_eq!(app.training.run_dir.as_ref(), Some(&dir));
    let text = screen(&app, 80, 24);
    assert!(text.contains("20250101-000000-train"), "{text}");
    assert!(text.contains("epochs 2/5"), "{text}");
    assert!(matches!(
        press(&mut app, "r"),
        Some(Command::StartTraining {
            resume: Some(_),
            ..
        })
    ));
}

#[test]
fn live_curves_stay_bounded() {
    let mut app = running_app();
    for i in 0..3 * MAX_CURVE_POINTS {
        update(&mut app, batch(1 + i / 10, 1 + i % 10));
    }
    assert!(app.training.loss_curve.len() <= MAX_CURVE_POINTS);
    assert!(app.training.loss_curve.len() >= MAX_CURVE_POINTS / 2);
    let xs: Vec<f64> = app.training.loss_curve.iter().map(|p| p.0).collect();
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "points stay in order");
}

#[test]
fn browsing_test_images_wraps_and_jumps_by_class() {
    let mut app = app_with(Some(tiny_dataset(25)));
    press(&mut app, "5");
    update(&mut app, key(KeyCode::Left));
    assert_eq!(app.inversion.image, 24);
    update(&mut app, key(KeyCode::Right));
    assert_eq!(app.inversion.image, 0);
    press(&mut app, "cc");
    assert_eq!(app.inversion.image, 2);
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("test 3/25") && text.contains("label 2"),
        "{text}"
    );
}

// Rendering.

fn braille(text: &str) -> bool {
    text.chars().any(|c| ('\u{2801}'..='\u{28FF}').contains(&c))
}

#[test]
fn training_tab_renders_curves_gauges_and_recipe() {
    let mut app = running_app();
    for e in 1..=2 {
        for b in 1..=10 {
            update(&mut app, batch(e, b));
        }
        update(&mut app, Msg::Train(TrainEvent::Epoch(metrics(e))));
    }
    update(&mut app, batch(3, 4));
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen(&app, w, h);
        for needle in [
            "1 Training",
            "5 Inversion",
            "Loss",
            "Accuracy",
            "epochs 2/3",
            "batch 4/10",
            "images/s  1234",
            "ETA       1m35s",
            "lr        1.00e-3",
            "x-train",
            "? help",
        ] {
            assert!(text.contains(needle), "{w}x{h}: no {needle:?} in\n{text}");
        }
        assert!(braille(&text), "{w}x{h}: no braille curve in\n{text}");
    }
}

#[test]
fn too_small_terminal_says_the_size_it_needs() {
    let app = app_with(None);
    let text = screen(&app, 60, 20);
    assert!(text.contains("at least 80x24"), "{text}");
    assert!(text.contains("60x20"), "{text}");
}

#[test]
fn result_tabs_show_placeholders_or_saved_results() {
    let mut app = app_with(None);
    for (digit, command) in [
        ("2", "classgen ablate"),
        ("3", "classgen baselines"),
        ("4", "classgen confidence"),
    ] {
        press(&mut app, digit);
        for (w, h) in [(80, 24), (120, 40)] {
            let text = screen(&app, w, h);
            assert!(text.contains(command), "{w}x{h}: no {command:?} in\n{text}");
        }
    }
    update(
        &mut app,
        Msg::SavedResult(
            Tab::Confidence,
            ResultView {
                file: PathBuf::from("runs/r-confidence/result.json"),
                lines: vec!["model  ece".into(), "  cnn  0.0123".into()],
            },
        ),
    );
    let text = screen(&app, 80, 24);
    assert!(text.contains("cnn  0.0123"), "{text}");
    assert!(text.contains("runs/r-confidence/result.json"), "{text}");
}

#[test]
fn inversion_tab_draws_the_source_image() {
    let mut app = app_with(None);
    press(&mut app, "5");
    assert!(screen(&app, 80, 24).contains("waiting for the data set"));
    update(&mut app, Msg::DataLoaded(Ok((tiny_dataset(3), None))));
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen(&app, w, h);
        let blocks = text.chars().filter(|&c| c == '▀').count();
        assert_eq!(
            blocks,
            28 * 14,
            "{w}x{h}: one half block per cell of the image"
        );
        for needle in [
            "Space runs",
            "p(class)",
            "target 0 (t/T)",
            "loss log",
            "ready",
        ] {
            assert!(text.contains(needle), "{w}x{h}: no {needle:?} in\n{text}");
        }
    }
}

/// A dashboard on the Inversion tab with data and a model (the shown training run).
fn inversion_app() -> super::app::App {
    let mut app = app_with(Some(tiny_dataset(25)));
    update(&mut app, Msg::TrainStarted(PathBuf::from("runs/m-train")));
    update(&mut app, Msg::TrainEnded(Ok(())));
    press(&mut app, "5");
    app
}

fn inv_frame(step: usize, p: f32) -> Frame {
    let mut probs = [0.0f32; 10];
    probs[0] = p;
    probs[1] = 1.0 - p;
    Frame {
        step,
        pixels: vec![0.5; crate::data::PIXELS],
        probs,
        p_target: p,
        grad_norm: 2.0,
        l2: 1.5,
        linf: 0.25,
    }
}

#[test]
fn inversion_needs_a_model() {
    let mut app = app_with(Some(tiny_dataset(3)));
    press(&mut app, "5");
    assert!(press(&mut app, " ").is_none());
    assert!(app.status.contains("no trained model"), "{}", app.status);
    assert!(!app.inversion.running);
}

#[test]
fn space_starts_from_the_source_then_pauses() {
    let mut app = inversion_app();
    update(&mut app, key(KeyCode::Right));
    match press(&mut app, " ") {
        Some(Command::Invert(requests)) => {
            assert_eq!(requests.len(), 2);
            match &requests[0] {
                InvRequest::Reset {
                    id,
                    model: ModelSpec::Cnn { model_dir, .. },
                    start,
                    options,
                } => {
                    assert_eq!(*id, 1);
                    assert_eq!(model_dir, &PathBuf::from("runs/m-train"));
                    // Image 1 of the tiny set is filled with grey level 1.
                    assert!(start.iter().all(|&p| (p - 1.0 / 255.0).abs() < 1e-6));
                    assert_eq!(options.target, 0);
                }
                other => panic!("expected a reset, got {other:?}"),
            }
            assert_eq!(requests[1], InvRequest::Run);
        }
        other => panic!("expected inversion requests, got {other:?}"),
    }
    assert!(app.inversion.running && app.job_running());
    assert!(matches!(
        press(&mut app, " "),
        Some(Command::Invert(r)) if r == vec![InvRequest::Pause]
    ));
    assert!(!app.inversion.running);
    // Active: a single step goes on without a reset.
    assert!(matches!(
        press(&mut app, "."),
        Some(Command::Invert(r)) if r == vec![InvRequest::Step]
    ));
}

#[test]
fn frames_of_the_current_inversion_are_shown_and_stale_ones_ignored() {
    let mut app = inversion_app();
    press(&mut app, " ");
    let id = app.inversion.id;
    update(
        &mut app,
        Msg::Inversion {
            id: id - 1,
            event: InvEvent::Frame(inv_frame(9, 0.9)),
        },
    );
    assert!(app.inversion.frame.is_none());
    for step in 0..3 {
        update(
            &mut app,
            Msg::Inversion {
                id,
                event: InvEvent::Frame(inv_frame(step, 0.2 + 0.2 * step as f32)),
            },
        );
    }
    assert_eq!(app.inversion.p_target.len(), 3);
    assert_eq!(app.inversion.grad_norm, vec![2.0; 3]);
    update(
        &mut app,
        Msg::Inversion {
            id,
            event: InvEvent::Stopped(StopReason::Reached),
        },
    );
    assert!(!app.inversion.running);
    assert!(
        app.status.contains("step 2") && app.status.contains("reached"),
        "{}",
        app.status
    );
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen(&app, w, h);
        let blocks = text.chars().filter(|&c| c == '▀').count();
        assert_eq!(blocks, 2 * 28 * 14, "{w}x{h}: source and inverted image");
        for needle in [
            "step 2  p(target) 0.600",
            "L2 1.50",
            "0.60",
            "0.40",
            "reached the threshold",
        ] {
            assert!(text.contains(needle), "{w}x{h}: no {needle:?} in\n{text}");
        }
        assert!(text.contains('█'), "{w}x{h}: no probability bar in\n{text}");
    }
}

#[test]
fn settings_reach_a_live_inversion_and_source_changes_reset_it() {
    let mut app = inversion_app();
    assert!(press(&mut app, "t").is_none(), "nothing live yet");
    assert_eq!(app.inversion.options.target, 1);
    press(&mut app, " ");
    match press(&mut app, "o") {
        Some(Command::Invert(r)) => match &r[..] {
            [InvRequest::SetOptions(o)] => {
                assert_eq!(o.objective, crate::inversion::Objective::Logit);
                assert_eq!(o.target, 1);
            }
            other => panic!("expected new options, got {other:?}"),
        },
        other => panic!("expected new options, got {other:?}"),
    }
    press(&mut app, "TT");
    assert_eq!(app.inversion.options.target, 9);
    let id = app.inversion.id;
    update(
        &mut app,
        Msg::Inversion {
            id,
            event: InvEvent::Frame(inv_frame(0, 0.5)),
        },
    );
    assert!(matches!(
        press(&mut app, "c"),
        Some(Command::Invert(r)) if r == vec![InvRequest::Pause]
    ));
    assert!(!app.inversion.active && app.inversion.frame.is_none());
    assert_eq!(app.inversion.image, 1);
}

#[test]
fn snapshot_asks_the_worker_and_reports_the_paths() {
    let mut app = inversion_app();
    assert!(press(&mut app, "s").is_none());
    press(&mut app, " ");
    let id = app.inversion.id;
    update(
        &mut app,
        Msg::Inversion {
            id,
            event: InvEvent::Frame(inv_frame(4, 0.5)),
        },
    );
    match press(&mut app, "s") {
        Some(Command::Invert(r)) => match &r[..] {
            [InvRequest::Snapshot { dir, name, .. }] => {
                assert_eq!(dir, &PathBuf::from("snapshots"));
                assert_eq!(name, "cnn_test-0_to0_log-normalized_step4");
            }
            other => panic!("expected a snapshot, got {other:?}"),
        },
        other => panic!("expected a snapshot, got {other:?}"),
    }
    let paths = vec![
        PathBuf::from("snapshots/a.png"),
        PathBuf::from("snapshots/b.png"),
    ];
    update(
        &mut app,
        Msg::Inversion {
            id,
            event: InvEvent::Snapshot(Ok(paths)),
        },
    );
    assert!(
        app.status.contains("snapshots/a.png, snapshots/b.png"),
        "{}",
        app.status
    );
}

#[test]
fn help_shows_every_binding_of_the_tab() {
    let mut app = app_with(None);
    for tab in ["1", "2", "5"] {
        press(&mut app, tab);
        press(&mut app, "?");
        let text = screen(&app, 80, 24);
        for (keys_label, help) in app.keys.help_rows(app.tab) {
            assert!(text.contains(help), "no {help:?} in\n{text}");
            assert!(text.contains(&keys_label), "no {keys_label:?} in\n{text}");
        }
        press(&mut app, "?");
    }
}

#[test]
fn quit_question_is_drawn() {
    let mut app = running_app();
    press(&mut app, "q");
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("Quit anyway?") && text.contains("y: quit"),
        "{text}"
    );
}

// Ablation, data set and architecture choice, inversion model and source.

fn run_result(variant: &str, seed: u64, accuracy: f64) -> crate::ablation::RunResult {
    crate::ablation::RunResult {
        variant: variant.into(),
        seed,
        params: 1000,
        test_accuracy: accuracy,
        seconds_per_epoch: 2.0,
        inference_images_per_second: 5000.0,
        history: Vec::new(),
    }
}

#[test]
fn ablation_starts_with_the_configured_plan_and_fills_its_table() {
    use crate::jobs::ablate::AblationEvent;
    let mut app = app_with(Some(tiny_dataset(3)));
    press(&mut app, "2");
    let config = Config::default();
    match press(&mut app, "s") {
        Some(Command::StartAblation {
            variants,
            seeds,
            recipe,
            ..
        }) => {
            let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(names, config.ablation.variants);
            assert_eq!(seeds, vec![42, 43, 44]);
            assert_eq!(recipe.epochs, config.ablation.epochs);
        }
        other => panic!("expected a study, got {other:?}"),
    }
    assert!(app.job_running());
    assert!(
        press(&mut app, "1s").is_none(),
        "no training beside a study"
    );
    press(&mut app, "2");
    let ev = |app: &mut super::app::App, e| update(app, Msg::Ablation(e));
    ev(
        &mut app,
        AblationEvent::Planned {
            dir: PathBuf::from("runs/ablate-mnist-1234"),
            runs: 18,
            done: 1,
        },
    );
    ev(
        &mut app,
        AblationEvent::Reused(run_result("seed", 42, 0.98)),
    );
    ev(
        &mut app,
        AblationEvent::RunStarted {
            variant: "seed".into(),
            seed: 43,
        },
    );
    ev(
        &mut app,
        AblationEvent::Train {
            variant: "seed".into(),
            seed: 43,
            progress: TrainEvent::Batch {
                epoch: 2,
                batch: 5,
                batches: 10,
                loss: 0.1,
                accuracy: 0.9,
                images_per_second: 700.0,
                elapsed_seconds: 1.0,
                eta_seconds: 30.0,
            },
        },
    );
    let run = app.ablation.run.as_ref().unwrap();
    assert_eq!((run.finished, run.total), (1, 18));
    let (_, seed, p) = run.current.as_ref().unwrap();
    assert_eq!((*seed, p.epoch, p.batch), (43, 2, 5));
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen(&app, w, h);
        for needle in [
            "runs/ablate-mnist-1234",
            "runs 1/18",
            "training seed seed 43: epoch 2/",
            "98.00 ± 0.00",
            "1/3 *",
            "no-conv2",
        ] {
            assert!(text.contains(needle), "{w}x{h}: no {needle:?} in\n{text}");
        }
    }
    for (v, s, a) in [
        ("seed", 43, 0.981),
        ("seed", 44, 0.979),
        ("no-pool1", 42, 0.95),
        ("no-pool1", 43, 0.951),
        ("no-pool1", 44, 0.949),
    ] {
        ev(&mut app, AblationEvent::RunFinished(run_result(v, s, a)));
    }
    let run = app.ablation.run.as_ref().unwrap();
    assert_eq!(run.rows.len(), 2);
    assert_eq!(run.rows[1].verdict, "significant");
    let text = screen(&app, 120, 40);
    assert!(text.contains("significant"), "{text}");
    assert!(matches!(
        press(&mut app, "x"),
        Some(Command::CancelAblation)
    ));
    ev(&mut app, AblationEvent::Cancelled);
    update(&mut app, Msg::AblationEnded(Ok(())));
    assert!(!app.job_running());
    assert!(app.status.contains("6/18"), "{}", app.status);
    assert!(screen(&app, 80, 24).contains("stopped"));
}

#[test]
fn best_and_significant_rows_are_highlighted() {
    use crate::jobs::ablate::AblationEvent;
    use ratatui::style::Color;
    let mut app = app_with(Some(tiny_dataset(3)));
    press(&mut app, "2s");
    for (v, s, a) in [
        ("seed", 42, 0.98),
        ("seed", 43, 0.981),
        ("no-pool1", 42, 0.95),
        ("no-pool1", 43, 0.951),
    ] {
        update(
            &mut app,
            Msg::Ablation(AblationEvent::RunFinished(run_result(v, s, a))),
        );
    }
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| super::view::render(f, &app)).unwrap();
    let buffer = terminal.backend().buffer();
    let colour_of = |word: &str| {
        (0..40u16)
            .find_map(|y| {
                let line: String = (0..120u16).map(|x| buffer[(x, y)].symbol()).collect();
                line.find(word).filter(|_| line.contains('±')).map(|x| {
                    let x = line[..x].chars().count() as u16;
                    buffer[(x, y)].fg
                })
            })
            .unwrap_or_else(|| panic!("no row {word}"))
    };
    assert_eq!(colour_of("seed "), Color::Green);
    assert_eq!(colour_of("no-pool1"), Color::Yellow);
}

#[test]
fn data_set_and_architecture_are_chosen_before_a_start() {
    let mut app = app_with(Some(tiny_dataset(3)));
    assert!(matches!(
        press(&mut app, "d"),
        Some(Command::LoadData(crate::data::DatasetKind::Fashion))
    ));
    assert!(matches!(app.data, super::app::DataState::Loading));
    assert!(screen(&app, 80, 24).contains("fashion (loading)"));
    assert!(press(&mut app, "s").is_none(), "no start while loading");
    press(&mut app, "a");
    assert_eq!(app.training.config.arch, "no-conv2");
    let n = app.training.archs.len();
    press(&mut app, &"a".repeat(n));
    assert_eq!(app.training.config.arch, "no-conv2", "cycles round");
    let mut app = running_app();
    assert!(press(&mut app, "d").is_none());
    assert!(app.status.contains("cannot change"), "{}", app.status);
}

#[test]
fn inversion_model_source_and_regularisers_switch() {
    use super::app::{InvModel, SourceKind};
    let mut app = inversion_app();
    press(&mut app, "f");
    assert_eq!(app.inversion.source, SourceKind::Noise);
    let noise = app.source_pixels().unwrap();
    assert!(noise.iter().any(|&p| p > 0.0));
    update(&mut app, key(KeyCode::Right));
    assert_ne!(app.source_pixels().unwrap(), noise, "another seed");
    let text = screen(&app, 80, 24);
    assert!(text.contains("noise, seed 1"), "{text}");
    press(&mut app, "f");
    assert_eq!(app.source_pixels().unwrap(), vec![0.0; crate::data::PIXELS]);
    press(&mut app, "R");
    assert!(app.inversion.options.reg.any());
    press(&mut app, "R");
    assert!(!app.inversion.options.reg.any());
    press(&mut app, "m");
    assert_eq!(app.inversion.model, InvModel::Knn);
    match press(&mut app, " ") {
        Some(Command::Invert(r)) => match &r[0] {
            InvRequest::Reset {
                model: ModelSpec::Knn { k, .. },
                start,
                ..
            } => {
                assert_eq!(*k, 3);
                assert!(start.iter().all(|&p| p == 0.0), "blank start");
            }
            other => panic!("expected a k-NN reset, got {other:?}"),
        },
        other => panic!("expected inversion requests, got {other:?}"),
    }
    assert!(app.status.contains("building the index"), "{}", app.status);
    // k-NN takes its settings at the start: a new target stops the live one.
    assert!(matches!(
        press(&mut app, "t"),
        Some(Command::Invert(r)) if r == vec![InvRequest::Pause]
    ));
    assert!(!app.inversion.active);
    let text = screen(&app, 120, 40);
    assert!(text.contains("model k-NN k=3"), "{text}");
}

#[test]
fn rebound_keys_drive_the_dashboard_and_its_help() {
    let mut config = Config::default();
    config.keys.insert("train_start".into(), "g".into());
    let mut app = super::app::App::new(&config, super::widgets::halfblock::ColorMode::TrueColor);
    update(&mut app, Msg::DataLoaded(Ok((tiny_dataset(3), None))));
    assert!(press(&mut app, "s").is_none());
    assert!(matches!(
        press(&mut app, "g"),
        Some(Command::StartTraining { .. })
    ));
    assert!(screen(&app, 80, 24).contains("g start"));
}

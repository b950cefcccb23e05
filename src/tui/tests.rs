//! The dashboard's state and views: `update` on keys, the mouse and job events (pure, no
//! threads), and every tab drawn in known states at 80x24 and 120x40, compared with reviewed
//! snapshots in `src/tui/snapshots/`.

use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::app::{App, Overlay, Tab};
use super::msg::{Command, JobKind, Msg};
use super::tabs::{ablation::Study, JobState};
use super::testutil::{app_with, key, press, screen, tiny_dataset};
use super::update::update;
use crate::ablation::RunResult;
use crate::analysis::confidence::report;
use crate::analysis::robustness::{AttackKind, AttackResult};
use crate::baselines::BaselineKind;
use crate::config::Config;
use crate::inversion::Frame;
use crate::jobs::ablate::{AblationEvent, StudyPlan};
use crate::jobs::baselines::{BaselinesEvent, BaselinesResult, Row};
use crate::jobs::confidence::{ConfidenceEvent, ConfidenceResult, ModelConfidence, ModelName};
use crate::jobs::invert::{InvEvent, InvRequest, Source};
use crate::jobs::robustness::{NoiseRow, RobustnessEvent, RobustnessResult};
use crate::model::train::{EpochMetrics, Position, TrainEvent};
use crate::runs::{CnnSummary, DataIdentity, RunInfo, RunKind, RunRecord, RunState};

/// Three days ago, so ages read the same whenever the tests run.
fn long_ago() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        - 3 * 86_400
        - 100
}

/// A finished training run `name` on `data` with accuracy `acc`.
fn train_run(name: &str, data: DataIdentity, acc: f64) -> RunInfo {
    RunInfo {
        dir: PathBuf::from("runs").join(name),
        name: name.into(),
        record: RunRecord {
            kind: RunKind::Train,
            created: long_ago(),
            classgen: "0.1.0".into(),
            data,
            model: None,
            cnn: Some(CnnSummary {
                arch: "seed".into(),
                params: 225_034,
                seed: 42,
                epochs: 2,
                epochs_planned: 2,
                test_accuracy: Some(acc),
            }),
            state: RunState::Finished,
        },
        live: false,
    }
}

/// A dashboard on the tiny data set with an active CNN run.
fn ready_app() -> App {
    let data = tiny_dataset(30);
    let mut app = app_with(Some(data.clone()));
    let run = train_run("20261201-101500-train", DataIdentity::of(&data), 0.9871);
    update(&mut app, Msg::Runs(vec![run]));
    app
}

fn epoch(e: usize, acc: f64) -> EpochMetrics {
    EpochMetrics {
        epoch: e,
        train_loss: 1.0 / e as f64,
        train_accuracy: acc - 0.01,
        test_loss: 1.2 / e as f64,
        test_accuracy: acc,
        seconds: 10.0,
        images_per_second: 6000.0,
        eval_seconds: 0.5,
    }
}

fn frame(step: usize, p: f32) -> Frame {
    let mut probs = [0.02f32; 10];
    probs[3] = p;
    Frame {
        step,
        pixels: (0..784).map(|i| (i % 28) as f32 / 28.0).collect(),
        probs,
        p_target: p,
        grad_norm: 0.5,
        l2: 1.5,
        linf: 0.4,
    }
}

#[test]
fn the_newest_finished_cnn_on_the_data_becomes_active_and_other_sets_cannot() {
    let data = tiny_dataset(30);
    let mut app = app_with(Some(data.clone()));
    let id = DataIdentity::of(&data);
    let fashion = DataIdentity {
        dataset: crate::data::DatasetKind::Fashion,
        ..id.clone()
    };
    let mut stopped = train_run("20261201-120000-train", id.clone(), 0.5);
    stopped.record.state = RunState::Stopped { at: None };
    let runs = vec![
        train_run("20261201-130000-train", fashion, 0.9),
        stopped,
        train_run("20261201-110000-train", id, 0.98),
    ];
    let commands = update(&mut app, Msg::Runs(runs));
    let active = app.active.clone().expect("a CNN was made active");
    assert_eq!(active.name, "20261201-110000-train");
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::LoadHistory(_))));
    // On the Runs tab, Enter on the Fashion run is refused, naming both data sets.
    press(&mut app, "2");
    assert_eq!(app.tab, Tab::Runs);
    // The cursor starts on the active run; two up is the Fashion run at the top.
    assert_eq!(app.runs.cursor, 2);
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        app.active.as_ref().map(|r| r.name.as_str()),
        Some("20261201-110000-train")
    );
    let said = &app.messages.latest().unwrap().text;
    assert!(said.contains("fashion") && said.contains("mnist"), "{said}");
    // Space marks a run to compare and asks for its history.
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    let commands = press(&mut app, " ");
    assert!(
        matches!(commands.as_slice(), [Command::LoadHistory(_)]),
        "{commands:?}"
    );
    assert_eq!(app.runs.marked.len(), 1);
}

#[test]
fn training_from_the_keyboard_folds_its_events_and_a_finished_run_becomes_active() {
    let mut app = ready_app();
    press(&mut app, "EEEE");
    assert_eq!(app.training.recipe.epochs, 1);
    let commands = press(&mut app, "s");
    assert!(
        matches!(commands.as_slice(), [Command::StartTraining(_)]),
        "{commands:?}"
    );
    assert_eq!(app.training.job, JobState::Starting);
    update(
        &mut app,
        Msg::Train(TrainEvent::Started {
            params: 1,
            epochs: 1,
            batches_per_epoch: 4,
            from: Position::default(),
        }),
    );
    assert_eq!(app.training.job, JobState::Running);
    for batch in 1..=4 {
        update(
            &mut app,
            Msg::Train(TrainEvent::Batch {
                epoch: 1,
                batch,
                batches: 4,
                loss: 1.0,
                accuracy: 0.5,
                batch_loss: 0.0,
                batch_accuracy: 0.0,
                images_per_second: 100.0,
                elapsed_seconds: 1.0,
                eta_seconds: 1.0,
            }),
        );
    }
    assert_eq!(app.training.loss_curve.len(), 4);
    update(&mut app, Msg::Train(TrainEvent::Epoch(epoch(1, 0.91))));
    assert_eq!(app.training.history.len(), 1);
    // While it trains, other heavy jobs wait.
    press(&mut app, "4");
    assert!(press(&mut app, "s").is_empty());
    assert!(app
        .messages
        .latest()
        .unwrap()
        .text
        .contains("a job is running"));
}

#[test]
fn behind_the_too_small_screen_only_the_quit_keys_act() {
    let mut app = ready_app();
    update(&mut app, Msg::Resize(60, 20));
    assert!(press(&mut app, "s").is_empty());
    assert_eq!(app.training.job, JobState::Idle);
    press(&mut app, "4");
    assert_eq!(app.tab, Tab::Training);
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn baselines_are_chosen_run_and_fill_in_row_by_row() {
    let mut app = ready_app();
    press(&mut app, "4");
    // Cursor on tree (third), toggle it off; knn stays on.
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    press(&mut app, " ");
    let commands = press(&mut app, "s");
    let [Command::StartBaselines { models, cnn, carry }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(
        models,
        &vec![
            BaselineKind::Logreg,
            BaselineKind::Knn,
            BaselineKind::Forest
        ]
    );
    assert!(cnn.is_some() && carry.is_none());
    let run = train_run("20261201-110000-baselines", app.identity().unwrap(), 0.0);
    update(&mut app, Msg::Started(JobKind::Baselines, run));
    update(
        &mut app,
        Msg::Baselines(BaselinesEvent::Fitting {
            model: "logreg".into(),
            train_images: 30,
        }),
    );
    update(
        &mut app,
        Msg::Baselines(BaselinesEvent::Scored(row("logreg", 0.9257))),
    );
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("92.57 %"), "{shown}");
    assert!(shown.contains("queued"), "{shown}");
    // Refitting one model keeps the other rows (carried over from the run shown).
    update(
        &mut app,
        Msg::BaselinesEnded(Ok(result(vec![row("logreg", 0.9257)]))),
    );
    update(&mut app, key(KeyCode::Up));
    let commands = press(&mut app, "r");
    let [Command::StartBaselines { models, carry, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(models, &vec![BaselineKind::Knn]);
    assert!(carry.is_some());
}

fn row(model: &str, accuracy: f64) -> Row {
    Row {
        model: model.into(),
        accuracy,
        fit_seconds: Some(1.25),
        predict_seconds: 0.5,
        size_bytes: 31_400,
        note: String::new(),
    }
}

fn result(rows: Vec<Row>) -> BaselinesResult {
    BaselinesResult {
        data: DataIdentity::of(&tiny_dataset(30)),
        cnn: None,
        settings: Config::default().baselines,
        k: 3,
        rows,
        complete: true,
    }
}

/// A confidence analysis of `label` on 30 images: image `i` right with m(x) from 0.5 up, the
/// last four wrong.
fn analysis(model: ModelName, label: &str) -> ModelConfidence {
    let n = 30;
    let mut probs = vec![0.0f32; n * 10];
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for i in 0..n {
        let m = 0.5 + 0.5 * i as f32 / n as f32;
        let predicted = if i >= n - 4 {
            (labels[i] + 1) % 10
        } else {
            labels[i]
        };
        probs[i * 10 + predicted as usize] = m;
        probs[i * 10 + (predicted as usize + 5) % 10] = 1.0 - m;
    }
    let mut mistakes: Vec<crate::jobs::confidence::Mistake> = (n - 4..n)
        .map(|i| crate::jobs::confidence::Mistake {
            index: i,
            label: labels[i],
            predicted: (labels[i] + 1) % 10,
            confidence: 0.5 + 0.5 * i as f32 / n as f32,
        })
        .collect();
    mistakes.reverse();
    let mut confusion = vec![vec![0; 10]; 10];
    for i in 0..n {
        let p = if i >= n - 4 {
            (labels[i] + 1) % 10
        } else {
            labels[i]
        };
        confusion[labels[i] as usize][p as usize] += 1;
    }
    ModelConfidence {
        model,
        label: label.into(),
        source: "computed".into(),
        report: report(&probs, &labels, 20, 15),
        confusion,
        mistakes,
    }
}

fn confidence_result(models: Vec<ModelConfidence>) -> ConfidenceResult {
    ConfidenceResult {
        data: DataIdentity::of(&tiny_dataset(30)),
        cnn: None,
        bins: 20,
        ece_bins: 15,
        models,
        complete: true,
    }
}

#[test]
fn confidence_fills_in_live_and_a_mistake_opens_in_the_explain_and_inversion_tabs() {
    let mut app = ready_app();
    press(&mut app, "5");
    let commands = press(&mut app, "s");
    assert!(matches!(
        commands.as_slice(),
        [Command::StartConfidence { .. }]
    ));
    let run = train_run("20261201-110000-confidence", app.identity().unwrap(), 0.0);
    update(&mut app, Msg::Started(JobKind::Confidence, run));
    assert!(screen(&app, 80, 24).contains("Analysing"));
    update(
        &mut app,
        Msg::Confidence(ConfidenceEvent::Analysed(Box::new(analysis(
            ModelName::Cnn,
            "cnn",
        )))),
    );
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("m(x) of 30 test images"), "{shown}");
    assert!(shown.contains('⣿'), "a histogram is drawn:\n{shown}");
    // The mistakes view, then Enter: the most confident mistake in the Explain tab, its maps
    // asked of the model that made it, for its prediction.
    press(&mut app, "vv");
    assert!(screen(&app, 120, 40).contains("4 mistakes"));
    let commands = update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.tab, Tab::Explain);
    let [Command::Explain(crate::jobs::explain_session::ExplainRequest::Maps(r))] =
        commands.as_slice()
    else {
        panic!("{commands:?}")
    };
    assert_eq!(r.tag, "test-29");
    assert_eq!(r.target, crate::explain::Target::Pred);
    assert_eq!(r.model.choice, crate::jobs::explain::ModelChoice::Cnn);
    // `i` on it: towards its true label in the Inversion tab.
    press(&mut app, "5");
    let commands = press(&mut app, "i");
    assert_eq!(app.tab, Tab::Inversion);
    assert_eq!(app.inversion.image, 29);
    assert_eq!(app.inversion.options.target, 9);
    let [Command::Invert(requests)] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert!(matches!(
        &requests[0],
        InvRequest::Reset {
            source: Source::Start(crate::inversion::Start::Test(29)),
            target: 9,
            ..
        }
    ));
}

#[test]
fn the_inversion_shows_the_source_probabilities_then_each_step() {
    let mut app = ready_app();
    press(&mut app, "7");
    let commands = press(&mut app, "r");
    assert!(matches!(commands.as_slice(), [Command::Invert(_)]));
    let id = app.inversion.id;
    let mut probs = [0.0f32; 10];
    probs[4] = 0.97;
    update(
        &mut app,
        Msg::Inversion(InvEvent::Started {
            id,
            source: "test-0".into(),
            label: Some(0),
            probs,
        }),
    );
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("p(class) of the source"), "{shown}");
    assert!(shown.contains("0.97"), "{shown}");
    assert!(
        shown.contains("test:0 of 30"),
        "0-based like --from test:IDX:\n{shown}"
    );
    for step in 0..5 {
        update(
            &mut app,
            Msg::Inversion(InvEvent::Frame {
                id,
                frame: frame(step, 0.2),
            }),
        );
    }
    // Frames of an older inversion are ignored.
    update(
        &mut app,
        Msg::Inversion(InvEvent::Frame {
            id: id - 1,
            frame: frame(99, 0.9),
        }),
    );
    assert_eq!(app.inversion.frame.as_ref().map(|f| f.step), Some(4));
    assert_eq!(app.inversion.history.len(), 5);
    press(&mut app, "p");
    assert!(screen(&app, 120, 40).contains("all ten probabilities"));
}

#[test]
fn drawing_with_the_mouse_and_keys_asks_for_probabilities_after_each_stroke() {
    let mut app = ready_app();
    press(&mut app, "8");
    assert_eq!(app.tab, Tab::Draw);
    update(&mut app, Msg::Resize(120, 40));
    // The canvas starts at the body's top left (row 2), inside its border.
    let mouse = |kind, column, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let first = update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Left), 21, 10),
    );
    let [Command::ClassifyCanvas { id: 1, .. }] = first.as_slice() else {
        panic!("{first:?}")
    };
    // A drag while the first is unanswered waits, then goes once the answer comes.
    assert!(update(
        &mut app,
        mouse(MouseEventKind::Drag(MouseButton::Left), 21, 14)
    )
    .is_empty());
    let ink: f32 = app.draw.canvas.iter().sum();
    assert!(ink > 2.0, "{ink}");
    let mut probs = [0.0f32; 10];
    probs[1] = 0.9;
    let next = update(
        &mut app,
        Msg::Inversion(InvEvent::Classified {
            id: 1,
            probs: Ok(probs),
        }),
    );
    assert!(matches!(
        next.as_slice(),
        [Command::ClassifyCanvas { id: 2, .. }]
    ));
    assert_eq!(app.draw.probs, Some(probs));
    // A right drag erases; Up and Space paint from the keyboard.
    update(
        &mut app,
        Msg::Inversion(InvEvent::Classified {
            id: 2,
            probs: Ok(probs),
        }),
    );
    update(
        &mut app,
        mouse(MouseEventKind::Down(MouseButton::Right), 21, 10),
    );
    assert!(app.draw.canvas.iter().sum::<f32>() < ink);
    update(
        &mut app,
        Msg::Inversion(InvEvent::Classified {
            id: 3,
            probs: Ok(probs),
        }),
    );
    update(&mut app, key(KeyCode::Up));
    assert!(!press(&mut app, " ").is_empty());
    // A release does nothing; Enter inverts the drawing.
    assert!(update(
        &mut app,
        mouse(MouseEventKind::Up(MouseButton::Left), 21, 10)
    )
    .is_empty());
    press(&mut app, "t");
    let commands = update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.tab, Tab::Inversion);
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::Invert(r) if matches!(&r[0], InvRequest::Reset { source: Source::Image(img), target: 1, .. } if img.tag == "drawing")
    )));
}

#[test]
fn runs_side_by_side_each_move_their_own_progress_line() {
    let mut app = ready_app();
    press(&mut app, "3");
    let commands = press(&mut app, "s");
    assert!(
        matches!(commands.as_slice(), [Command::StartAblation(plan)] if plan.runs_at_once == 2),
        "{commands:?}"
    );
    let event = |app: &mut App, e| update(app, Msg::Ablation(e));
    event(
        &mut app,
        AblationEvent::Planned(StudyPlan {
            dir: PathBuf::from("runs/ablate-mnist-0123abcd"),
            runs: 12,
            done: 0,
            at_once: 2,
            threads_per_run: 1,
        }),
    );
    let said = &app.messages.latest().unwrap().text;
    assert!(
        said.ends_with("12 runs, 0 already done; 2 at a time, 1 thread each"),
        "{said}"
    );
    for seed in [42, 43] {
        event(
            &mut app,
            AblationEvent::RunStarted {
                variant: "seed".into(),
                seed,
            },
        );
    }
    let batch = |seed, batch| AblationEvent::Train {
        variant: "seed".into(),
        seed,
        progress: TrainEvent::Batch {
            epoch: 1,
            batch,
            batches: 10,
            loss: 1.0,
            accuracy: 0.5,
            batch_loss: 0.0,
            batch_accuracy: 0.0,
            images_per_second: 100.0 * batch as f64,
            elapsed_seconds: 1.0,
            eta_seconds: 9.0,
        },
    };
    event(&mut app, batch(43, 7));
    event(&mut app, batch(42, 3));
    let progress = |app: &App| -> Vec<(u64, usize)> {
        let study = app.ablation.study.as_ref().unwrap();
        study
            .in_flight
            .iter()
            .map(|(_, s, p)| (*s, p.batch))
            .collect()
    };
    assert_eq!(progress(&app), [(42, 3), (43, 7)]);
    let shown = screen(&app, 80, 24);
    assert!(
        shown.contains("seed seed 42: epoch 1/0  300 img/s"),
        "{shown}"
    );
    assert!(
        shown.contains("seed seed 43: epoch 1/0  700 img/s"),
        "{shown}"
    );
    event(
        &mut app,
        AblationEvent::RunFinished(RunResult {
            variant: "seed".into(),
            seed: 42,
            params: 225_034,
            test_accuracy: 0.98,
            seconds_per_epoch: 1.0,
            inference_images_per_second: 1000.0,
            history: Vec::new(),
            threads: 1,
            runs_at_once: 2,
        }),
    );
    assert_eq!(progress(&app), [(43, 7)]);
    assert_eq!(app.ablation.study.as_ref().unwrap().finished, 1);
}

#[test]
fn messages_are_kept_whole_and_the_log_opens_with_a_key() {
    let mut app = ready_app();
    let long = format!("a long message {}", "that goes on ".repeat(20));
    update(&mut app, Msg::Notice(long.clone()));
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("(! all)"), "{shown}");
    press(&mut app, "!");
    assert_eq!(app.overlay, Overlay::Messages { scroll: 0 });
    assert_eq!(app.messages.latest().unwrap().text, long.trim_end());
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn an_image_file_is_asked_for_in_a_prompt() {
    let mut app = ready_app();
    press(&mut app, "7F");
    assert!(matches!(app.overlay, Overlay::Prompt(_)));
    press(&mut app, "x.png");
    let commands = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(commands.as_slice(), [Command::ImportFile(p)] if p == &PathBuf::from("x.png"))
    );
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn robustness_fills_its_chart_and_table() {
    let mut app = ready_app();
    press(&mut app, "6");
    press(&mut app, "+");
    assert_eq!(app.robustness.attack_images, 2000);
    let commands = press(&mut app, "s");
    assert!(matches!(
        commands.as_slice(),
        [Command::StartRobustness {
            attack_images: 2000,
            ..
        }]
    ));
    let run = train_run("20261201-110000-robustness", app.identity().unwrap(), 0.0);
    update(&mut app, Msg::Started(JobKind::Robustness, run));
    for (sigma, acc) in [(0.0, 0.99), (0.25, 0.8), (0.5, 0.3)] {
        update(
            &mut app,
            Msg::Robustness(RobustnessEvent::Noise(NoiseRow {
                model: "cnn".into(),
                sigma,
                accuracy: acc,
            })),
        );
    }
    update(&mut app, Msg::Robustness(RobustnessEvent::Attack(attack())));
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("accuracy under Gaussian noise"), "{shown}");
    assert!(
        shown.contains("fgsm") && shown.contains("untargeted"),
        "{shown}"
    );
}

fn attack() -> AttackResult {
    AttackResult {
        attack: AttackKind::Fgsm,
        targeted: false,
        epsilon: 0.1,
        images: 100,
        clean_accuracy: 0.99,
        accuracy: 0.6,
        success_rate: 0.39,
        mean_l2: 2.1,
        mean_linf: 0.1,
    }
}

// ---- Snapshots of every tab: empty, running, finished; at 80x24 and 120x40. ----

/// Each tab in its three states.
fn states() -> Vec<(&'static str, App)> {
    let mut out = Vec::new();
    let empty = || {
        let mut app = app_with(Some(tiny_dataset(30)));
        update(&mut app, Msg::Runs(Vec::new()));
        app
    };
    for (tab, key_char) in [
        ("training", '1'),
        ("runs", '2'),
        ("ablation", '3'),
        ("baselines", '4'),
        ("confidence", '5'),
        ("robustness", '6'),
        ("inversion", '7'),
        ("draw", '8'),
        ("explain", '9'),
    ] {
        let mut app = empty();
        press(&mut app, &key_char.to_string());
        out.push((leak(format!("{tab}_empty")), app));
        let mut running = ready_app();
        press(&mut running, &key_char.to_string());
        make_running(&mut running);
        out.push((leak(format!("{tab}_running")), running));
        let mut done = ready_app();
        press(&mut done, &key_char.to_string());
        make_finished(&mut done);
        out.push((leak(format!("{tab}_finished")), done));
    }
    // The Inversion tab's sweep: the default 5 x 5 part way, and a finished 2 x 2 with tiles.
    let mut running = ready_app();
    press(&mut running, "7S");
    sweep_events(&mut running, &[0.01, 0.03, 0.1, 0.3, 1.0], 5, 7);
    out.push(("inversion_sweep_running", running));
    let mut finished = ready_app();
    press(&mut finished, "7S");
    sweep_events(&mut finished, &[0.1, 1.0], 2, 4);
    let result = sweep_result(&finished);
    update(&mut finished, Msg::SweepEnded(Ok(result)));
    out.push(("inversion_sweep_finished", finished));
    out
}

/// The p(target) curve of sweep cell `i` at rate `lr`: quicker at higher rates, the third
/// cell falling back after its rise.
fn sweep_curve(i: usize, lr: f32) -> Vec<f32> {
    let steps = (12.0 / lr.sqrt()) as usize;
    (0..=steps)
        .map(|s| {
            let p = 0.05 + 0.95 * (s as f32 / steps as f32).powf(1.0 + 0.3 * (i % 5) as f32);
            if i % 5 == 2 && s > steps / 2 && s < steps * 3 / 4 {
                p - 0.2
            } else {
                p
            }
        })
        .collect()
}

/// The sweep job's events for `lrs` x `starts` noise starts to target 3: `cells` cells with
/// curves, all but the last of them finished.
fn sweep_events(app: &mut App, lrs: &[f32], starts: u64, cells: usize) {
    use crate::inversion::sweep::SweepCell;
    use crate::jobs::invert_sweep::SweepEvent;
    let names: Vec<String> = (1..=starts).map(|s| format!("noise:{s}")).collect();
    update(
        app,
        Msg::Sweep(SweepEvent::Planned {
            target: 3,
            lrs: lrs.to_vec(),
            starts: names.clone(),
            threshold: 0.99,
            max_steps: 500,
        }),
    );
    let total = lrs.len() * names.len();
    for i in 0..cells.min(total) {
        let lr = lrs[i / names.len()];
        let mut curve = sweep_curve(i, lr);
        let finished = i + 1 < cells || cells == total;
        if !finished {
            curve.truncate(curve.len() / 2);
        }
        for (k, chunk) in curve.chunks(10).enumerate() {
            update(
                app,
                Msg::Sweep(SweepEvent::Curve {
                    cell: i,
                    from: k * 10,
                    p: chunk.to_vec(),
                    max_steps: 500,
                }),
            );
        }
        if finished {
            let frames: Vec<Frame> = curve
                .iter()
                .enumerate()
                .map(|(s, &p)| Frame {
                    l2: s as f32 * 0.05,
                    ..frame(s, p)
                })
                .collect();
            update(
                app,
                Msg::Sweep(SweepEvent::CellDone {
                    cell: i,
                    summary: SweepCell::of(lr, names[i % names.len()].clone(), &frames, 0.99),
                    steps: curve.len() - 1,
                    image: (0..784)
                        .map(|k| (((k % 28) as f32 - 14.0).abs() < 3.0 + i as f32) as u8 as f32)
                        .collect(),
                }),
            );
        }
    }
}

/// The result the sweep job ends with for the view's cells.
fn sweep_result(app: &App) -> crate::jobs::invert_sweep::SweepResult {
    let sweep = &app.inversion.sweep;
    crate::jobs::invert_sweep::SweepResult {
        model: "cnn-20261201-101500-train".into(),
        model_run: None,
        target: sweep.target,
        threshold: sweep.threshold,
        max_steps: sweep.max_steps,
        oscillation_drop: 0.1,
        lrs: sweep.lrs.clone(),
        starts: sweep.starts.clone(),
        cells: sweep
            .cells
            .iter()
            .flatten()
            .map(|(c, _)| c.clone())
            .collect(),
        spread: Vec::new(),
        grid: Some(PathBuf::from("snapshots/invert-sweep_cnn_to3_0123abcd.png")),
        seconds: 2.5,
        complete: true,
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The maps the session would send for the Explain tab's request: a pattern per method.
fn explain_maps(app: &mut App) -> Vec<Command> {
    use crate::explain::{ImageMaps, Method};
    use crate::jobs::explain_session::SessionEvent;
    let mut probs = vec![0.01f32; 10];
    probs[3] = 0.91;
    let maps = Method::ALL
        .iter()
        .enumerate()
        .map(|(k, &m)| {
            let map = (0..784)
                .map(|i| {
                    let (x, y) = ((i % 28) as f32 - 14.0, (i / 28) as f32 - 14.0);
                    (x * (k as f32 + 1.0) / 7.0 + y).sin() * (1.0 - (x * x + y * y) / 400.0)
                })
                .collect();
            (m, map)
        })
        .collect();
    let id = app.explain.id;
    update(
        app,
        Msg::ExplainSession(SessionEvent::Maps {
            id,
            model: "cnn".into(),
            maps: ImageMaps {
                probs,
                target: 3,
                maps,
                ig_delta: Some(0.0012),
            },
            skipped: Vec::new(),
            seconds: 0.0042,
            layers: Some(explain_layers()),
            nearest: Some(crate::jobs::explain_session::Nearest {
                features: neighbours(0.5),
                pixels: neighbours(2.0),
            }),
        }),
    )
}

/// What the session says of the CNN's layers: two layers of channels, strongest first.
fn explain_layers() -> crate::jobs::explain_session::Layers {
    use crate::explain::layers::{ChannelMap, LayerMaps};
    let layer = |name: &str, channels: usize, side: usize| LayerMaps {
        layer: name.into(),
        maps: (0..channels)
            .map(|c| {
                let strength = 1.0 - c as f32 / channels as f32;
                ChannelMap {
                    channel: (c * 7) % channels,
                    side,
                    values: (0..side * side)
                        .map(|i| strength * ((i % side + c) % 5) as f32 / 4.0)
                        .collect(),
                    mean: strength / 2.0,
                }
            })
            .collect(),
    };
    crate::jobs::explain_session::Layers {
        filters: (0..32)
            .map(|f| (0..9).map(|i| ((i + f) % 3) as f32 - 1.0).collect())
            .collect(),
        maps: vec![layer("conv1", 32, 26), layer("conv2", 64, 11)],
    }
}

/// Look-alikes at distances from `d` up, every third with another label.
fn neighbours(d: f32) -> Vec<crate::explain::lookalike::Neighbour> {
    (0..8)
        .map(|i| crate::explain::lookalike::Neighbour {
            index: (i * 3) % 30,
            label: if i % 3 == 2 { 5 } else { 3 },
            distance: d + 0.25 * i as f32,
        })
        .collect()
}

/// The explain run's tables, as the job ends them.
fn explain_tables(app: &App) -> crate::jobs::explain::ExplainResult {
    use crate::explain::faithfulness::{FaithRow, Faithfulness};
    use crate::explain::sanity::{Sanity, SanityRow};
    use crate::explain::{Method, Settings, Target};
    let methods = ["saliency", "ig", "occlusion", "random"];
    crate::jobs::explain::ExplainResult {
        data: app.identity().unwrap(),
        cnn: None,
        model: "cnn".into(),
        target: Target::Pred,
        settings: Settings::default(),
        methods: Method::ALL.to_vec(),
        images: Vec::new(),
        seconds: Vec::new(),
        png: None,
        faithfulness: Some(Faithfulness {
            images: 100,
            rows: methods
                .iter()
                .enumerate()
                .map(|(i, m)| FaithRow {
                    method: m.to_string(),
                    deletion: vec![0.5; 21],
                    insertion: vec![0.5; 21],
                    deletion_auc: 0.1 + 0.1 * i as f64,
                    insertion_auc: 0.9 - 0.1 * i as f64,
                    seconds_per_image: 0.001 * i as f64,
                })
                .collect(),
        }),
        sanity: Some(Sanity {
            images: 1,
            steps: [
                "out",
                "out+dense",
                "out+dense+conv2",
                "out+dense+conv2+conv1",
            ]
            .map(String::from)
            .to_vec(),
            rows: methods[..3]
                .iter()
                .enumerate()
                .map(|(i, m)| SanityRow {
                    method: m.to_string(),
                    correlations: vec![0.9, 0.5, 0.2 * i as f64, 0.3 * i as f64],
                    explains: i < 2,
                })
                .collect(),
        }),
        layers: None,
        lookalikes: None,
        complete: true,
    }
}

fn make_running(app: &mut App) {
    match app.tab {
        Tab::Explain => {
            // The request sent on entering the tab is being answered; the tables are measured.
            press(app, "s");
            let run = train_run("20261201-120000-explain", app.identity().unwrap(), 0.0);
            update(app, Msg::Started(JobKind::Explain, run));
            update(
                app,
                Msg::Explain(crate::jobs::explain::ExplainEvent::Stage {
                    name: "faithfulness".into(),
                    images: 100,
                }),
            );
        }
        Tab::Training => {
            app.training.job = JobState::Running;
            update(
                app,
                Msg::Train(TrainEvent::Started {
                    params: 225_034,
                    epochs: 3,
                    batches_per_epoch: 10,
                    from: Position::default(),
                }),
            );
            for b in 1..=10 {
                update(
                    app,
                    Msg::Train(TrainEvent::Batch {
                        epoch: 1,
                        batch: b,
                        batches: 10,
                        loss: 2.0 / b as f64,
                        accuracy: 0.1 * b as f64,
                        batch_loss: 0.0,
                        batch_accuracy: 0.0,
                        images_per_second: 5000.0,
                        elapsed_seconds: b as f64,
                        eta_seconds: 20.0,
                    }),
                );
            }
            update(app, Msg::Train(TrainEvent::Epoch(epoch(1, 0.95))));
        }
        Tab::Runs => {
            let id = app.identity().unwrap();
            let mut live = train_run("20261201-120000-train", id.clone(), 0.9);
            live.record.state = RunState::Running;
            live.live = true;
            let name = "20261130-090000-train";
            update(
                app,
                Msg::DamagedRuns(vec![crate::runs::DamagedRun {
                    name: name.into(),
                    dir: PathBuf::from("runs").join(name),
                    file: PathBuf::from("runs").join(name).join("run.json"),
                    cause: "EOF while parsing a value at line 1 column 0".into(),
                }]),
            );
            update(
                app,
                Msg::Runs(vec![live, train_run("20261201-101500-train", id, 0.9871)]),
            );
            press(app, " ");
        }
        Tab::Ablation => {
            app.ablation.job = JobState::Running;
            app.ablation.study = Some(study(3));
        }
        Tab::Baselines => {
            press(app, "s");
            let run = train_run("20261201-110000-baselines", app.identity().unwrap(), 0.0);
            update(app, Msg::Started(JobKind::Baselines, run));
            update(
                app,
                Msg::Baselines(BaselinesEvent::Scored(row("logreg", 0.9257))),
            );
        }
        Tab::Confidence => {
            press(app, "s");
            let run = train_run("20261201-110000-confidence", app.identity().unwrap(), 0.0);
            update(app, Msg::Started(JobKind::Confidence, run));
            update(
                app,
                Msg::Confidence(ConfidenceEvent::Computing {
                    model: ModelName::Knn,
                }),
            );
        }
        Tab::Robustness => {
            press(app, "s");
            let run = train_run("20261201-110000-robustness", app.identity().unwrap(), 0.0);
            update(app, Msg::Started(JobKind::Robustness, run));
            update(
                app,
                Msg::Robustness(RobustnessEvent::Noise(NoiseRow {
                    model: "cnn".into(),
                    sigma: 0.0,
                    accuracy: 0.99,
                })),
            );
        }
        Tab::Inversion => {
            app.inversion.options.target = 3;
            press(app, "r");
            let id = app.inversion.id;
            app.inversion.running = true;
            for step in 0..20 {
                update(
                    app,
                    Msg::Inversion(InvEvent::Frame {
                        id,
                        frame: frame(step, step as f32 / 25.0),
                    }),
                );
            }
        }
        Tab::Draw => {
            for _ in 0..6 {
                update(app, key(KeyCode::Down));
                press(app, " ");
            }
        }
    }
}

fn study(done: usize) -> Study {
    let order: Vec<String> = ["seed", "narrow", "no-dense"].map(String::from).to_vec();
    let results: Vec<RunResult> = order
        .iter()
        .enumerate()
        .flat_map(|(v, name)| {
            (0..2u64).map(move |seed| RunResult {
                variant: name.clone(),
                seed,
                params: 225_034 - 50_000 * v,
                test_accuracy: 0.98 - 0.01 * v as f64 + 0.001 * seed as f64,
                seconds_per_epoch: 10.0,
                inference_images_per_second: 9000.0,
                history: Vec::new(),
                threads: 1,
                runs_at_once: 2,
            })
        })
        .take(done)
        .collect();
    Study {
        dir: Some(PathBuf::from("runs/ablate-mnist-0123abcd")),
        total: 6,
        finished: results.len(),
        rows: crate::ablation::table(&results, &order, "seed"),
        elsewhere: 0,
        seeds: 2,
        at_once: 2,
        // The next two runs of the plan train side by side.
        in_flight: (done..6.min(done + 2))
            .map(|i| {
                (
                    order[i / 2].clone(),
                    (i % 2) as u64,
                    super::tabs::training::Progress {
                        epoch: 1,
                        epochs: 2,
                        batch: 5 + 3 * (i - done),
                        batches: 10,
                        images_per_second: 4000.0,
                        eta_seconds: 40.0,
                    },
                )
            })
            .collect(),
        order,
        results,
    }
}

fn make_finished(app: &mut App) {
    match app.tab {
        Tab::Explain => {
            explain_maps(app);
            let tables = explain_tables(app);
            update(app, Msg::ExplainEnded(Ok(tables)));
        }
        Tab::Training => {
            let dir = app.active.as_ref().unwrap().dir.clone();
            update(
                app,
                Msg::History(dir, vec![epoch(1, 0.95), epoch(2, 0.9871)]),
            );
        }
        Tab::Runs => {}
        Tab::Ablation => app.ablation.study = Some(study(6)),
        Tab::Baselines => {
            update(
                app,
                Msg::BaselinesEnded(Ok(result(vec![
                    row("logreg", 0.9257),
                    row("knn", 0.9705),
                    Row {
                        note: "20261201-101500-train, 2 epochs".into(),
                        ..row("cnn", 0.9871)
                    },
                ]))),
            );
        }
        Tab::Confidence => {
            update(
                app,
                Msg::ConfidenceEnded(Ok(confidence_result(vec![
                    analysis(ModelName::Cnn, "cnn"),
                    analysis(ModelName::Knn, "knn k=3"),
                ]))),
            );
        }
        Tab::Robustness => {
            let rows = [(0.0, 0.99, 0.97), (0.25, 0.9, 0.95), (0.5, 0.4, 0.9)];
            let noise = rows
                .iter()
                .flat_map(|&(sigma, cnn, knn)| {
                    [("cnn", cnn), ("knn", knn)].map(|(model, accuracy)| NoiseRow {
                        model: model.into(),
                        sigma,
                        accuracy,
                    })
                })
                .collect();
            update(
                app,
                Msg::RobustnessEnded(Ok(RobustnessResult {
                    data: app.identity().unwrap(),
                    cnn: None,
                    sigmas: vec![0.0, 0.25, 0.5],
                    noise_images: 30,
                    noise_seed: 0,
                    noise,
                    attack_images: 30,
                    pgd_steps: 40,
                    pgd_step_size: 0.01,
                    attacks: vec![attack()],
                    complete: true,
                })),
            );
        }
        Tab::Inversion => {
            app.inversion.options.target = 3;
            press(app, "r");
            let id = app.inversion.id;
            for step in 0..40 {
                update(
                    app,
                    Msg::Inversion(InvEvent::Frame {
                        id,
                        frame: frame(step, step as f32 / 40.0),
                    }),
                );
            }
            update(
                app,
                Msg::Inversion(InvEvent::Stopped {
                    id,
                    reason: crate::inversion::StopReason::Reached,
                }),
            );
        }
        Tab::Draw => {
            make_running(app);
            let mut probs = [0.01f32; 10];
            probs[1] = 0.91;
            update(
                app,
                Msg::Inversion(InvEvent::Classified {
                    id: 1,
                    probs: Ok(probs),
                }),
            );
            app.draw.sent = 1;
            update(
                app,
                Msg::Inversion(InvEvent::Classified {
                    id: 1,
                    probs: Ok(probs),
                }),
            );
        }
    }
}

#[test]
fn sweep_events_fill_the_sweep_view_and_x_cancels_it() {
    use crate::text::charts::Kind;
    let mut app = ready_app();
    press(&mut app, "7");
    app.inversion.options.target = 5;
    let commands = press(&mut app, "S");
    let [Command::StartSweep {
        lrs,
        starts,
        options,
        ..
    }] = commands.as_slice()
    else {
        panic!("{commands:?}");
    };
    assert_eq!((lrs.len(), starts.len(), options.target), (5, 5, 5));
    assert!(app.inversion.sweep.shown && app.inversion.sweep.busy());
    assert!(screen(&app, 80, 24).contains("7 Invert*"));
    // Two rates x two starts: three cells with curves, two of them finished.
    sweep_events(&mut app, &[0.1, 1.0], 2, 3);
    let spec = super::tabs::sweep::chart_spec(&app);
    assert_eq!(spec.series.len(), 4, "a line per cell");
    assert!(spec.series.iter().all(|s| s.kind == Kind::Line));
    let drawn: Vec<usize> = spec.series.iter().map(|s| s.points.len()).collect();
    assert!(
        drawn[..3].iter().all(|&n| n > 1) && drawn[3] == 0,
        "{drawn:?}"
    );
    let legend: Vec<&str> = spec.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(legend, ["lr 0.1", "", "lr 1", ""], "a legend of lrs");
    assert_eq!(spec.series[0].color, spec.series[1].color);
    assert_ne!(spec.series[1].color, spec.series[2].color);
    assert_eq!(app.inversion.sweep.progress(), (2, 4));
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("2/4 inversions, running"), "{shown}");
    let rows = |text: &str| shown.lines().filter(|l| l.contains(text)).count();
    assert_eq!(rows("noise:"), 4, "a row per cell:\n{shown}");
    assert_eq!(rows("1.0000"), 2, "finished cells read out:\n{shown}");
    assert_eq!(rows("step 5 "), 1, "the running cell's step:\n{shown}");
    assert_eq!(
        press(&mut app, "x")
            .iter()
            .filter(|c| matches!(c, Command::Cancel(JobKind::InvertSweep)))
            .count(),
        1
    );
    assert_eq!(app.inversion.sweep.job, JobState::Stopping);
    let mut result = sweep_result(&app);
    result.complete = false;
    result.grid = None;
    update(&mut app, Msg::SweepEnded(Ok(result)));
    assert!(!app.inversion.sweep.busy());
    assert!(app
        .messages
        .latest()
        .is_some_and(|m| m.text.contains("stopped after 2 of 4")));
    // v goes back to the single inversion, and again to the sweep.
    press(&mut app, "v");
    assert!(!app.inversion.sweep.shown);
    press(&mut app, "v");
    assert!(app.inversion.sweep.shown);
}

#[test]
fn every_tab_matches_its_reviewed_snapshot() {
    for (name, app) in states() {
        for (w, h) in [(80, 24), (120, 40)] {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&app, w, h));
        }
    }
}

#[test]
fn the_help_fits_and_names_the_tab_s_keys() {
    let mut app = ready_app();
    press(&mut app, "7?");
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("Keys: Inversion"), "{shown}");
    assert!(shown.contains("export PNG snapshots"), "{shown}");
    assert!(shown.contains("quit now"), "{shown}");
}

#[test]
fn the_help_at_80x24_lists_every_tab_key_and_no_text_runs_into_the_next_column() {
    for tab in "12345678".chars() {
        let mut app = ready_app();
        press(&mut app, &format!("{tab}?"));
        let shown = screen(&app, 80, 24);
        assert!(shown.contains("1 2 3 4 5 6 7 8"), "{shown}");
        // Every help text of the tab is printed whole, or cut with an ellipsis, and each row
        // starts with its key at a column start: a text never runs on into its neighbour.
        for (k, h) in app.keys.help_rows(app.tab) {
            let whole = shown.contains(h);
            let cut = h
                .char_indices()
                .nth(8)
                .is_some_and(|(i, _)| shown.contains(&h[..i]));
            assert!(whole || cut, "{k}: {h} missing on tab {tab}:\n{shown}");
        }
        let lines: Vec<&str> = shown.lines().collect();
        for l in &lines {
            assert!(!l.contains("  go to that tab1"), "{l}");
        }
    }
}

#[test]
fn the_export_key_sends_the_charts_the_screen_draws() {
    let (_, mut app) = states()
        .into_iter()
        .find(|(name, _)| *name == "training_finished")
        .unwrap();
    let commands = press(&mut app, "P");
    let [Command::ExportCharts(charts)] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    let stems: Vec<&str> = charts.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(stems, ["training-loss", "training-accuracy"]);
    let (loss, _) = super::tabs::training::charts_of(&app);
    assert_eq!(charts[0].0.title, loss.title);
    assert_eq!(charts[0].0.series.len(), loss.series.len());
    // Nothing to draw yet: said, nothing sent.
    let mut empty = ready_app();
    assert!(press(&mut empty, "7P")
        .iter()
        .all(|c| !matches!(c, Command::ExportCharts(_))));
}

#[test]
fn the_mouse_opens_tabs_scrolls_lists_and_selects_rows() {
    let mut app = ready_app();
    update(&mut app, Msg::Resize(120, 40));
    let mouse = |kind, column, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let click = |column, row| mouse(MouseEventKind::Down(MouseButton::Left), column, row);
    // Each tab's title, clicked in its middle, opens it.
    let bar = screen(&app, 120, 40)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    for tab in Tab::ALL {
        let title = format!("{} {}", tab.index() + 1, tab.title());
        let at = bar.find(&title).expect("title on the bar");
        let column = bar[..at].chars().count() + title.len() / 2;
        update(&mut app, click(column as u16, 0));
        assert_eq!(app.tab, tab, "{title} at {column}");
    }
    // The wheel moves through the Baselines list; a click on a box chooses the model.
    press(&mut app, "4");
    let before = app.baselines.cursor;
    update(&mut app, mouse(MouseEventKind::ScrollDown, 40, 10));
    assert_eq!(app.baselines.cursor, before + 1);
    let chosen = app.baselines.chosen.len();
    // The list's first row is the body's second (under the border): y = 2 + 1; svm is fifth.
    update(&mut app, click(2, 3 + 4));
    assert_eq!(app.baselines.cursor, 4);
    assert_ne!(app.baselines.chosen.len(), chosen);
}

#[test]
fn stopping_a_training_asks_for_a_cancel_and_quitting_during_a_job_asks_first() {
    let mut app = ready_app();
    press(&mut app, "s");
    update(
        &mut app,
        Msg::Train(TrainEvent::Started {
            params: 1,
            epochs: 1,
            batches_per_epoch: 4,
            from: Position::default(),
        }),
    );
    press(&mut app, "q");
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    press(&mut app, "n");
    assert!(!app.quit);
    let commands = press(&mut app, "x");
    assert!(matches!(
        commands.as_slice(),
        [Command::Cancel(JobKind::Train)]
    ));
    assert_eq!(app.training.job, JobState::Stopping);
}

#[test]
fn the_readme_shows_the_baselines_and_training_tabs_as_they_are_drawn() {
    let readme = include_str!("../../README.md");
    for state in ["baselines_finished", "training_finished"] {
        let (_, app) = states()
            .into_iter()
            .find(|(name, _)| *name == state)
            .unwrap();
        let shown = screen(&app, 80, 24);
        assert!(
            readme.contains(&shown),
            "README.md's screen differs from {state} at 80x24:\n{shown}"
        );
    }
}

#[test]
fn the_ablation_tab_follows_a_study_that_other_processes_write() {
    let mut app = ready_app();
    let commands = update(&mut app, Msg::Reload);
    assert!(
        matches!(
            commands.as_slice(),
            [Command::RefreshRuns, Command::ReloadStudy]
        ),
        "{commands:?}"
    );
    let cell = |seed, acc| RunResult {
        variant: "tiny".into(),
        seed,
        params: 14_410,
        test_accuracy: acc,
        seconds_per_epoch: 1.0,
        inference_images_per_second: 1000.0,
        history: Vec::new(),
        threads: 1,
        runs_at_once: 1,
    };
    let identity = app.identity().unwrap();
    let study = |runs: Vec<RunResult>| {
        let mut run = train_run("ablate-mnist-0123abcd", identity.clone(), 0.0);
        run.record.kind = RunKind::Ablate;
        let result = crate::jobs::ablate::AblationResult {
            data: identity.clone(),
            recipe: crate::config::TrainConfig::default(),
            seeds: vec![42, 43, 44, 45],
            rows: crate::ablation::table(&runs, &["tiny".to_string()], "tiny"),
            cells: 4,
            missing: vec![],
            runs,
        };
        Msg::StudyReloaded(Some(Box::new((run, result, 2))))
    };
    update(&mut app, study(vec![cell(42, 0.9)]));
    let shown = app.ablation.study.as_ref().unwrap();
    assert_eq!((shown.finished, shown.total), (1, 4));
    // Cells that other processes hold are said to be training there, not "stopped".
    press(&mut app, "3");
    let screen = screen(&app, 120, 40);
    assert!(
        screen.contains("Ablation study: 2 cells training in other processes"),
        "{screen}"
    );
    // A cell finishes in another process: the next reload shows it, no restart.
    update(&mut app, study(vec![cell(42, 0.9), cell(43, 0.8)]));
    let shown = app.ablation.study.as_ref().unwrap();
    assert_eq!((shown.finished, shown.total), (2, 4));
    assert_eq!(shown.rows[0].accuracy.n, 2);
}

/// The Explain tab asks for every method's maps of its image, notes a change while an answer
/// is on its way and asks again once it comes; its views show every method, then the tables.
#[test]
fn the_explain_tab_asks_for_the_newest_image_and_shows_every_method_and_the_tables() {
    use crate::explain::{Method, Target};
    use crate::jobs::explain_session::ExplainRequest;
    let asked = |commands: &[Command]| -> Vec<(String, Target)> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Explain(ExplainRequest::Maps(r)) => {
                    assert_eq!(r.methods, Method::ALL.to_vec());
                    Some((r.tag.clone(), r.target))
                }
                _ => None,
            })
            .collect()
    };
    let mut app = ready_app();
    let first = press(&mut app, "9");
    assert_eq!(asked(&first), [("test-0".to_string(), Target::Pred)]);
    // Two changes while the answer is on its way: no request now, one for the newest after.
    assert!(update(&mut app, key(KeyCode::Right)).is_empty());
    assert!(press(&mut app, "t").is_empty());
    let again = explain_maps(&mut app);
    assert_eq!(asked(&again), [("test-1".to_string(), Target::True)]);
    // The answer to the first request is not taken for the second one's.
    assert!(app.explain.shown.is_some());
    assert_eq!(app.explain.shown.as_ref().unwrap().asked.tag, "test-0");
    explain_maps(&mut app);
    assert_eq!(app.explain.shown.as_ref().unwrap().asked.tag, "test-1");
    // The method keys change the map shown without asking again.
    assert!(update(&mut app, key(KeyCode::Down)).is_empty());
    assert!(screen(&app, 120, 40).contains("grad map"));
    // Every method side by side, the chosen one marked.
    press(&mut app, "v");
    let all = screen(&app, 120, 40);
    for m in Method::ALL {
        assert!(
            all.contains(&format!(" {m} ")) || all.contains(&format!("[{m}]")),
            "{m}:\n{all}"
        );
    }
    assert!(all.contains("[grad]"), "{all}");
    assert!(
        screen(&app, 80, 24).contains("gradcam"),
        "half-size tiles fit 80x24"
    );
    // The layers: each convolution's strongest channels, then conv1's filters.
    press(&mut app, "v");
    for (w, h) in [(80, 24), (120, 40)] {
        let shown = screen(&app, w, h);
        assert!(shown.contains("conv1: the"), "{shown}");
        assert!(shown.contains("conv2: the"), "{shown}");
        assert!(shown.contains("conv1's filters"), "{shown}");
    }
    // The look-alikes were shown with the maps: no new request; labels and distances.
    assert!(press(&mut app, "v").is_empty());
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("nearest to test-1 in the CNN's"), "{shown}");
    assert!(shown.contains("nearest in pixels"), "{shown}");
    assert!(
        shown.contains("3 0.50") && shown.contains("5 1.00"),
        "{shown}"
    );
    // The tables, stacked on a narrow screen.
    press(&mut app, "v");
    let tables = explain_tables(&app);
    update(&mut app, Msg::ExplainEnded(Ok(tables)));
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("deletion"), "{shown}");
    assert!(shown.contains("NOT explaining"), "{shown}");
    assert!(shown.contains("+conv1"), "{shown}");
}

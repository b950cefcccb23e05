//! Time to draw one dashboard frame at 120x40 with ratatui's TestBackend: the Training tab with
//! full live curves (the busiest) and the Inversion tab mid-run. Target: at most 5 ms.
//! Prints the median of 200 draws of each.

use std::path::PathBuf;
use std::sync::Arc;

use std::time::Instant;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use classgen::config::Config;
use classgen::inversion::Frame;
use classgen::jobs::invert::InvEvent;
use classgen::model::train::{EpochMetrics, Position, TrainEvent};
use classgen::tui::app::App;
use classgen::tui::keys::Keymap;
use classgen::tui::msg::Msg;
use classgen::tui::tabs::ablation::Study;
use classgen::tui::tabs::training::{Progress, MAX_CURVE_POINTS};
use classgen::tui::tabs::JobState;
use classgen::tui::update::update;
use classgen::tui::view;
use classgen::tui::widgets::halfblock::ColorMode;

const DRAWS: usize = 200;

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// A dashboard mid-training: 20 epochs of history, full live curves, and an inversion running.
fn busy_app() -> App {
    let mut app = App::new(&Config::default(), Keymap::default(), ColorMode::TrueColor);
    let data = classgen::data::source::load_sample().expect("the bundled sample");
    update(&mut app, Msg::DataLoaded(Ok((Arc::new(data), None))));
    app.training.job = JobState::Running;
    let batches = 469;
    update(
        &mut app,
        Msg::Train(TrainEvent::Started {
            params: 225_034,
            epochs: 30,
            batches_per_epoch: batches,
            from: Position::default(),
        }),
    );
    let mut sent = 0;
    'epochs: for epoch in 1..=30 {
        for batch in 1..=batches {
            update(
                &mut app,
                Msg::Train(TrainEvent::Batch {
                    epoch,
                    batch,
                    batches,
                    loss: 2.0 / (epoch as f64 + batch as f64 / 50.0),
                    accuracy: 1.0 - 0.5 / (epoch as f64 + batch as f64 / 50.0),
                    batch_loss: 0.0,
                    batch_accuracy: 0.0,
                    images_per_second: 4000.0,
                    elapsed_seconds: 1.0,
                    eta_seconds: 300.0,
                }),
            );
            sent += 1;
            if epoch > 20 && sent > 2 * MAX_CURVE_POINTS {
                break 'epochs;
            }
        }
        update(
            &mut app,
            Msg::Train(TrainEvent::Epoch(EpochMetrics {
                epoch,
                train_loss: 1.0 / epoch as f64,
                train_accuracy: 1.0 - 0.1 / epoch as f64,
                test_loss: 1.1 / epoch as f64,
                test_accuracy: 1.0 - 0.12 / epoch as f64,
                seconds: 10.0,
                images_per_second: 4000.0,
                eval_seconds: 0.5,
            })),
        );
    }
    // An inversion in flight (its session is not needed to draw it).
    app.inversion.active = true;
    app.inversion.running = true;
    let id = app.inversion.id;
    for step in 0..500 {
        let mut probs = [0.05f32; 10];
        probs[3] = 0.55;
        let frame = Frame {
            step,
            pixels: (0..784).map(|i| (i % 28) as f32 / 28.0).collect(),
            probs,
            p_target: step as f32 / 500.0,
            grad_norm: 1.0 / (1.0 + step as f32),
            l2: 3.0,
            linf: 0.9,
        };
        update(&mut app, Msg::Inversion(InvEvent::Frame { id, frame }));
    }
    app
}

fn median_ms(app: &App) -> f64 {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    let mut times: Vec<f64> = (0..DRAWS)
        .map(|_| {
            let t = Instant::now();
            terminal
                .draw(|f| view::render(f, app))
                .expect("drawing on a test backend");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[DRAWS / 2]
}

/// A live ablation study: 6 variants x 3 seeds, 14 runs done, two in flight.
fn with_study(app: &mut App) {
    let order = Config::default().ablation.variants;
    let results: Vec<classgen::ablation::RunResult> = order
        .iter()
        .enumerate()
        .flat_map(|(v, name)| {
            (0..3u64).map(move |seed| classgen::ablation::RunResult {
                variant: name.clone(),
                seed,
                params: 100_000 + v * 1000,
                test_accuracy: 0.97 + 0.002 * v as f64 + 0.001 * seed as f64,
                seconds_per_epoch: 10.0,
                inference_images_per_second: 9000.0,
                history: Vec::new(),
                threads: 1,
                runs_at_once: 2,
            })
        })
        .take(14)
        .collect();
    app.ablation.job = JobState::Running;
    app.ablation.study = Some(Study {
        dir: Some(PathBuf::from("runs/ablate-mnist-0123abcd")),
        total: 18,
        finished: results.len(),
        rows: classgen::ablation::table(&results, &order, "seed"),
        seeds: 3,
        at_once: 2,
        elsewhere: 0,
        in_flight: [(4, 2), (5, 0)]
            .map(|(v, seed)| {
                (
                    order[v].clone(),
                    seed,
                    Progress {
                        epoch: 2,
                        epochs: 3,
                        batch: 100,
                        batches: 469,
                        images_per_second: 4000.0,
                        eta_seconds: 40.0,
                    },
                )
            })
            .to_vec(),
        order,
        results,
    });
}

fn main() {
    let mut app = busy_app();
    with_study(&mut app);
    for c in ['1', '3', '7'] {
        update(&mut app, key(c));
        println!(
            "frame_render: {} tab at 120x40, median of {DRAWS} draws: {:.3} ms (target <= 5 ms)",
            app.tab.title(),
            median_ms(&app)
        );
    }
}

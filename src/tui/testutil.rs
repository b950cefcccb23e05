//! Helpers for the dashboard's tests: a tiny hand-built data set, key events, rendering to text.

use std::sync::Arc;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use crate::config::Config;
use crate::data::{Dataset, DatasetKind, Origin, Split, PIXELS};

use super::app::App;
use super::keys::Keymap;
use super::msg::{Command, Msg};
use super::update::update;
use super::view;
use super::widgets::halfblock::ColorMode;

/// A data set of `n` test images labelled `i % 10`, image `i` filled with grey level `i`.
pub fn tiny_dataset(n: usize) -> Arc<Dataset> {
    let split = Split {
        images: (0..n).flat_map(|i| vec![i as u8; PIXELS]).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    };
    Arc::new(Dataset {
        kind: DatasetKind::Mnist,
        origin: Origin::Sample,
        train: split.clone(),
        test: split,
    })
}

/// A dashboard with `config` (runs under `runs`); with `data` loaded if given.
pub fn app_in(config: Config, data: Option<Arc<Dataset>>) -> App {
    let mut app = App::new(&config, Keymap::default(), ColorMode::TrueColor);
    if let Some(d) = data {
        update(&mut app, Msg::DataLoaded(Ok((d, None))));
    }
    app
}

/// A dashboard with default config; with `data` loaded if given.
pub fn app_with(data: Option<Arc<Dataset>>) -> App {
    app_in(Config::default(), data)
}

/// A key press.
pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Presses the character keys of `keys` in order; returns every command they asked for.
pub fn press(app: &mut App, keys: &str) -> Vec<Command> {
    keys.chars()
        .flat_map(|c| update(app, key(KeyCode::Char(c))))
        .collect()
}

/// Draws `app` on a `width` x `height` test terminal and returns the screen as text lines.
pub fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|f| view::render(f, app))
        .expect("drawing on a test backend");
    crate::text::buffer_lines(terminal.backend().buffer()).join("\n")
}

//! The Runs tab: every run under the runs directory with its kind, data, model, seed, epochs,
//! accuracy, state and age. Enter makes a training run the active model of every tab; Space
//! marks runs whose curves the Training tab overlays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{block, key, placeholder, step_cursor};
use crate::model::train::EpochMetrics;
use crate::runs::{RunInfo, RunKind};
use crate::text::format;
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::Command;

/// Most runs compared at once (the charts' legend has room for a few).
pub const MAX_COMPARED: usize = 5;

/// The Runs tab's state.
#[derive(Debug, Clone, Default)]
pub struct RunsTab {
    /// Every run, newest first.
    pub list: Vec<RunInfo>,
    pub cursor: usize,
    /// Training runs whose curves the Training tab overlays.
    pub marked: Vec<PathBuf>,
    /// Per-epoch histories read so far.
    histories: HashMap<PathBuf, Vec<EpochMetrics>>,
    /// Whether the user moved the cursor (until then it follows the active run).
    pub moved: bool,
}

impl RunsTab {
    /// The saved history of the training run in `dir`, once read.
    pub fn history(&self, dir: &Path) -> Option<&[EpochMetrics]> {
        self.histories.get(dir).map(Vec::as_slice)
    }

    /// Keeps a history read from disk.
    pub fn set_history(&mut self, dir: PathBuf, history: Vec<EpochMetrics>) {
        self.histories.insert(dir, history);
    }

    /// The marked runs with their histories (those read so far).
    pub fn compared(&self) -> Vec<(&RunInfo, &[EpochMetrics])> {
        self.marked
            .iter()
            .filter_map(|dir| {
                let run = self.list.iter().find(|r| &r.dir == dir)?;
                Some((run, self.history(dir)?))
            })
            .collect()
    }

    /// Puts the cursor on the run in `dir`, unless the user has moved it.
    pub fn follow(&mut self, dir: &Path) {
        if !self.moved {
            if let Some(i) = self.list.iter().position(|r| r.dir == dir) {
                self.cursor = i;
            }
        }
    }

    /// A new listing; the cursor stays on the same run where it can.
    pub fn set_list(&mut self, list: Vec<RunInfo>) {
        let at = self.list.get(self.cursor).map(|r| r.dir.clone());
        self.list = list;
        self.cursor = at
            .and_then(|d| self.list.iter().position(|r| r.dir == d))
            .unwrap_or(0)
            .min(self.list.len().saturating_sub(1));
        let present: Vec<PathBuf> = self.list.iter().map(|r| r.dir.clone()).collect();
        self.marked.retain(|d| present.contains(d));
    }
}

/// Makes training run `run` the active model of every tab (its history is read for the
/// Training tab; saved results of the data are looked up again).
pub fn activate(app: &mut App, run: RunInfo) -> Vec<Command> {
    if let Err(e) = app.can_activate(&run) {
        app.messages.error(e);
        return Vec::new();
    }
    let dir = run.dir.clone();
    // The Training tab shows (and r resumes) the active model unless it is training another.
    if !app.training.busy() {
        app.training.run = Some(run.clone());
        app.training.clear_live();
    }
    app.runs.follow(&dir);
    app.active = Some(run);
    // A new model: the inversion starts again from its source.
    app.inversion.clear();
    vec![Command::LoadHistory(dir), Command::LoadSaved]
}

/// Handles a key on the Runs tab.
pub fn on_action(app: &mut App, action: Action) -> Vec<Command> {
    let tab = &mut app.runs;
    let len = tab.list.len();
    match action {
        Action::Up | Action::Down => {
            let delta = if action == Action::Up { -1 } else { 1 };
            let next = step_cursor(tab.cursor, delta, len);
            tab.moved = true;
            if len > 1 && delta < 0 && next > tab.cursor {
                app.messages
                    .info("wrapped to the oldest run (the end of the list)");
            } else if len > 1 && delta > 0 && next < tab.cursor {
                app.messages
                    .info("wrapped to the newest run (the top of the list)");
            }
            app.runs.cursor = next;
        }
        Action::ResumeTraining => {
            let Some(run) = tab.list.get(tab.cursor).cloned() else {
                return Vec::new();
            };
            if app.training.busy() {
                app.messages
                    .info("a training run is going on: stop it (x on the Training tab) first");
                return Vec::new();
            }
            let commands = super::training::resume(app, Some(run));
            if commands
                .iter()
                .any(|c| matches!(c, Command::StartTraining(_)))
            {
                app.tab = Tab::Training;
            }
            return commands;
        }
        Action::Choose => {
            if let Some(run) = tab.list.get(tab.cursor).cloned() {
                if app.heavy_job_running() {
                    app.messages
                        .info("a job is running with the active model: wait for it to end");
                    return Vec::new();
                }
                let name = run.name.clone();
                let commands = activate(app, run);
                if !commands.is_empty() {
                    app.messages.info(format!("{name} is now the active model"));
                }
                return commands;
            }
        }
        Action::Toggle => {
            let Some(run) = tab.list.get(tab.cursor) else {
                return Vec::new();
            };
            if run.record.kind != RunKind::Train {
                app.messages
                    .info("only training runs have curves to compare");
                return Vec::new();
            }
            let dir = run.dir.clone();
            if let Some(i) = tab.marked.iter().position(|d| *d == dir) {
                tab.marked.remove(i);
            } else if tab.marked.len() >= MAX_COMPARED {
                app.messages.info(format!(
                    "at most {MAX_COMPARED} runs at once: unmark one (Space) or clear (c)"
                ));
            } else {
                tab.marked.push(dir.clone());
                if tab.history(&dir).is_none() {
                    return vec![Command::LoadHistory(dir)];
                }
            }
        }
        Action::ClearMarks => tab.marked.clear(),
        _ => {}
    }
    Vec::new()
}

/// A click at screen row `y` on the Runs tab (whose body is `body`): selects the run drawn there.
pub fn click(app: &mut App, body: Rect, y: u16) {
    let tab = &mut app.runs;
    // The table's border and header come first; ratatui scrolls just enough to show the cursor.
    let first = body.y + 2;
    let visible = body.height.saturating_sub(4) as usize;
    if y < first || visible == 0 {
        return;
    }
    let offset = tab.cursor.saturating_sub(visible - 1);
    let index = offset + (y - first) as usize;
    if index < tab.list.len() && ((y - first) as usize) < visible {
        tab.cursor = index;
        tab.moved = true;
    }
}

/// Draws the Runs tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.runs;
    let k = |a| key(app, Tab::Runs, a);
    let [table_area, hint] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    if tab.list.is_empty() {
        frame.render_widget(
            placeholder(
                "Runs",
                format!(
                    "No runs under {} yet. Train one on the Training tab (1, then s), or run a job from another tab.",
                    app.settings.store.root().display()
                ),
            ),
            table_area,
        );
        return;
    }
    let now = crate::runs::now();
    let wide = area.width >= 110;
    // Every cell's text first, so that each column is as wide as its widest number: numbers
    // are never cut; the data and state columns give way when the screen is narrow.
    let texts: Vec<Vec<String>> = tab
        .list
        .iter()
        .map(|r| {
            let rec = &r.record;
            let active = app.active.as_ref().is_some_and(|a| a.dir == r.dir);
            let marked = tab.marked.contains(&r.dir);
            let flag = match (active, marked) {
                (true, true) => "●+",
                (true, false) => "● ",
                (false, true) => " +",
                (false, false) => "  ",
            };
            let (arch, seed, epochs, accuracy) = match (&rec.cnn, &rec.model) {
                (Some(c), _) => (
                    c.arch.clone(),
                    c.seed.to_string(),
                    format!("{}/{}", c.epochs, c.epochs_planned),
                    c.test_accuracy,
                ),
                (None, Some(m)) => (
                    m.arch.clone(),
                    m.seed.to_string(),
                    m.epochs.to_string(),
                    m.test_accuracy,
                ),
                (None, None) => ("-".into(), "-".into(), "-".into(), None),
            };
            let mut cells = vec![flag.to_string(), r.name.clone(), rec.kind.to_string()];
            if wide {
                cells.push(format!(
                    "{} {} {}/{}",
                    rec.data.dataset, rec.data.source, rec.data.train_images, rec.data.test_images
                ));
            }
            cells.extend([
                arch,
                seed,
                epochs,
                accuracy.map_or("-".into(), |a| format!("{:.2}", 100.0 * a)),
                match r.state() {
                    // Short, so that the position is never what gets cut.
                    crate::runs::RunState::Stopped { at: Some(p) } => {
                        format!("stopped e{} b{}", p.epoch + 1, p.batch)
                    }
                    state => state.to_string(),
                },
                format::age(now.saturating_sub(rec.created)),
            ]);
            cells
        })
        .collect();
    let mut header = vec!["", "run", "kind"];
    if wide {
        header.push("data");
    }
    header.extend(["model", "seed", "epochs", "acc %", "state", "age"]);
    let data_col = wide.then_some(3);
    let state_col = header.len() - 2;
    let widths: Vec<Constraint> = (0..header.len())
        .map(|c| {
            let widest = texts
                .iter()
                .map(|row| row[c].chars().count())
                .chain(std::iter::once(header[c].chars().count()))
                .max()
                .unwrap_or(1) as u16;
            if c == state_col {
                Constraint::Min(widest.min(8))
            } else if Some(c) == data_col {
                Constraint::Min(widest.min(20))
            } else {
                Constraint::Length(widest)
            }
        })
        .collect();
    let rows = tab.list.iter().zip(texts).map(|(r, cells)| {
        let style = if r.record.data.dataset != app.dataset_kind {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        };
        let cells: Vec<Cell> = cells
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                if i == 0 {
                    Cell::from(t).style(Style::default().fg(Color::Yellow))
                } else {
                    Cell::from(t)
                }
            })
            .collect();
        Row::new(cells).style(style)
    });
    let header = Row::new(header).style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .block(block(&format!(
            "Runs ({}; ● active, + compared on Training)",
            tab.list.len()
        )));
    let mut state = TableState::default().with_selected(Some(tab.cursor));
    frame.render_stateful_widget(table, table_area, &mut state);
    let text = format!(
        "{} make active   {} mark to compare   {} clear marks   {} resume   grey: another data set",
        k(Action::Choose),
        k(Action::Toggle),
        k(Action::ClearMarks),
        k(Action::ResumeTraining)
    );
    frame.render_widget(Paragraph::new(Line::from(text).dim()), hint);
}

//! The Inversion tab's sweep view: one gradient inversion of the active CNN per (learning rate,
//! start) to the tab's target, run by the sweep job. It shows p(target) over the steps, one line
//! per cell coloured by its lr, filling in live; a table of the cells as they finish (steps to
//! the threshold or never, final p, L2 from the start, oscillation); and the final images as
//! half-block tiles, rows of lrs by columns of starts, where there is room.

use std::path::PathBuf;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, key, JobState};
use crate::data::SIDE;
use crate::inversion::sweep::SweepCell;
use crate::jobs::invert_sweep::{self, SweepEvent, SweepResult, DEFAULT_LRS, DEFAULT_STARTS};
use crate::runs::RunInfo;
use crate::snapshot::to_byte;
use crate::text::charts::{AxisSpec, ChartSpec, Series, PALETTE};
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};
use crate::tui::widgets::halfblock::HalfBlockImage;

/// The sweep the tab shows: its shape, each cell's curve so far, the finished cells.
#[derive(Debug, Clone, Default)]
pub struct SweepView {
    pub job: JobState,
    /// The view replaces the single inversion's panels.
    pub shown: bool,
    pub run: Option<RunInfo>,
    pub target: usize,
    pub lrs: Vec<f32>,
    pub starts: Vec<String>,
    pub threshold: f32,
    pub max_steps: usize,
    /// p(target) of every cell so far, row by row (rows: lrs, columns: starts).
    pub curves: Vec<Vec<f32>>,
    /// Each finished cell's summary and final image.
    pub cells: Vec<Option<(SweepCell, Vec<f32>)>>,
    pub grid: Option<PathBuf>,
}

impl SweepView {
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// Cells finished, and cells in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.cells.iter().flatten().count(), self.cells.len())
    }

    /// Starts over with this shape, every cell empty.
    fn plan(&mut self, target: usize, lrs: Vec<f32>, starts: Vec<String>) {
        let n = lrs.len() * starts.len();
        self.target = target;
        self.lrs = lrs;
        self.starts = starts;
        self.curves = vec![Vec::new(); n];
        self.cells = vec![None; n];
        self.grid = None;
    }
}

/// Starts a sweep of the active CNN to the tab's target with the tab's settings (the CLI's
/// default rates and starts), and shows it.
fn start(app: &mut App) -> Option<Command> {
    if app.inversion.sweep.busy() {
        let k = key(app, Tab::Inversion, Action::Cancel);
        app.messages
            .info(format!("a sweep is running: {k} cancels it"));
        return None;
    }
    if app.heavy_job_running() {
        app.messages
            .info("a job is running: wait for it or cancel it (x on its tab)");
        return None;
    }
    let Some(cnn) = app.active.clone() else {
        app.messages
            .info("no active CNN: train one (1, then s) or pick one on the Runs tab (2)");
        return None;
    };
    if app.dataset().is_none() {
        app.messages.info("the data set is still loading");
        return None;
    }
    let starts = match invert_sweep::parse_starts(DEFAULT_STARTS) {
        Ok(s) => s,
        Err(e) => {
            app.messages.error(format!("{e:#}"));
            return None;
        }
    };
    let config = &app.settings.config;
    let confidence = config.invert.confidence;
    let inv = &mut app.inversion;
    let options = inv.options.clone();
    let sweep = &mut inv.sweep;
    sweep.plan(
        options.target,
        DEFAULT_LRS.to_vec(),
        starts.iter().map(ToString::to_string).collect(),
    );
    sweep.threshold = options.threshold;
    sweep.max_steps = options.max_steps;
    sweep.run = None;
    sweep.job = JobState::Starting;
    sweep.shown = true;
    app.messages.move_on();
    Some(Command::StartSweep {
        cnn,
        lrs: DEFAULT_LRS.to_vec(),
        starts,
        options,
        confidence,
        snapshots: inv.snapshots.clone(),
    })
}

/// The sweep's keys: start, cancel, and the view shown.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let (busy, planned) = (
        app.inversion.sweep.busy(),
        !app.inversion.sweep.cells.is_empty(),
    );
    match action {
        Action::Start => start(app),
        Action::Cancel if busy => {
            app.inversion.sweep.job = JobState::Stopping;
            Some(Command::Cancel(JobKind::InvertSweep))
        }
        Action::Cancel => {
            app.messages.info("no sweep is running");
            None
        }
        Action::CycleView if !planned => {
            let k = key(app, Tab::Inversion, Action::Start);
            app.messages.info(format!("no sweep yet: {k} runs one"));
            None
        }
        Action::CycleView => {
            app.inversion.sweep.shown = !app.inversion.sweep.shown;
            None
        }
        _ => None,
    }
}

/// The sweep job started writing `run`.
pub fn on_started(app: &mut App, run: RunInfo) {
    app.inversion.sweep.run = Some(run);
}

/// Folds a sweep event into the view.
pub fn on_event(app: &mut App, event: SweepEvent) {
    let sweep = &mut app.inversion.sweep;
    if sweep.job == JobState::Starting {
        sweep.job = JobState::Running;
    }
    match event {
        SweepEvent::Planned {
            target,
            lrs,
            starts,
            threshold,
            max_steps,
        } => {
            sweep.plan(target, lrs, starts);
            sweep.threshold = threshold;
            sweep.max_steps = max_steps;
        }
        SweepEvent::Curve { cell, from, p, .. } => {
            if let Some(curve) = sweep.curves.get_mut(cell) {
                curve.truncate(from);
                curve.extend(p);
            }
        }
        SweepEvent::CellDone {
            cell,
            summary,
            image,
            ..
        } => {
            if let (Some(curve), Some(slot)) =
                (sweep.curves.get_mut(cell), sweep.cells.get_mut(cell))
            {
                curve.clone_from(&summary.curve);
                *slot = Some((summary, image));
            }
        }
        SweepEvent::Grid { path } => sweep.grid = Some(path),
        SweepEvent::Notice { message } => app.messages.info(message),
    }
}

/// The sweep job ended: a message names the grid (or says where it stopped, or why it failed).
pub fn on_ended(app: &mut App, result: Result<SweepResult, String>) -> Vec<Command> {
    let sweep = &mut app.inversion.sweep;
    sweep.job = JobState::Idle;
    match result {
        Ok(r) => match &r.grid {
            Some(grid) if r.complete => app.messages.info(format!(
                "sweep grid: {} (rows: lrs, columns: starts); {} inversions in {:.1} s",
                grid.display(),
                r.cells.len(),
                r.seconds
            )),
            _ => app.messages.info(format!(
                "sweep stopped after {} of {} inversions",
                r.cells.len(),
                r.lrs.len() * r.starts.len()
            )),
        },
        Err(e) => app.messages.error(format!("sweep failed: {e}")),
    }
    vec![Command::RefreshRuns]
}

/// The colour of lr number `row`.
fn lr_color(row: usize) -> Color {
    PALETTE[row % PALETTE.len()]
}

/// The chart of p(target) over the steps: a line per cell in its lr's colour, a legend of lrs.
pub fn chart_spec(app: &App) -> ChartSpec<'static> {
    let sweep = &app.inversion.sweep;
    let columns = sweep.starts.len().max(1);
    let series: Vec<Series> = sweep
        .curves
        .iter()
        .enumerate()
        .map(|(i, curve)| {
            let (row, column) = (i / columns, i % columns);
            let name = match (column, sweep.lrs.get(row)) {
                (0, Some(lr)) => format!("lr {lr}"),
                _ => String::new(),
            };
            let points: Vec<(f64, f64)> = curve
                .iter()
                .enumerate()
                .map(|(s, &p)| (s as f64, f64::from(p)))
                .collect();
            Series::line(name, points, lr_color(row))
        })
        .collect();
    let longest = sweep.curves.iter().map(Vec::len).max().unwrap_or(0);
    let steps = longest.saturating_sub(1).clamp(1, sweep.max_steps.max(1)) as f64;
    ChartSpec::new(
        "p(target) over the steps, a line per (lr, start)",
        AxisSpec::new("step", [0.0, steps]).integer(),
        AxisSpec::new("p", [0.0, 1.0]),
        series,
    )
}

/// The view's title: target, progress, state and keys.
fn title(app: &App) -> Line<'static> {
    let sweep = &app.inversion.sweep;
    let (done, total) = sweep.progress();
    let k = |a| key(app, Tab::Inversion, a);
    let target = sweep.target.min(crate::data::CLASSES - 1);
    let name = match app.class_names()[target] {
        n if n == target.to_string() => String::new(),
        n => format!(" ({n})"),
    };
    let state = match sweep.job {
        JobState::Idle if done == total => "done".to_string(),
        JobState::Idle => "stopped".to_string(),
        j => j.label().to_string(),
    };
    let again = if sweep.busy() {
        format!("{} cancels", k(Action::Cancel))
    } else {
        format!("{} again", k(Action::Start))
    };
    Line::from(vec![
        Span::styled(
            format!(
                " Sweep to {}{name}: {done}/{total} inversions, {state} ",
                sweep.target
            ),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" {again}, {} single view", k(Action::CycleView))).dim(),
    ])
}

/// Draws the sweep view into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(title(app)), head);
    let sweep = &app.inversion.sweep;
    // The chart takes about half; the tiles may take more, leaving the chart its least.
    let least = Rect {
        height: body.height.saturating_sub(MIN_CHART_ROWS),
        ..body
    };
    let side = tile_side(sweep, least);
    let mut bottom_rows = body
        .height
        .saturating_sub((body.height * 9 / 20).max(MIN_CHART_ROWS));
    if let Some(side) = side {
        bottom_rows = bottom_rows.max(tiles_rows(sweep, side));
    }
    let [chart, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(bottom_rows)]).areas(body);
    frame.render_widget(&chart_spec(app), chart);
    match side {
        Some(side) => {
            let width = tiles_width(sweep, side);
            let [table_area, tiles_area] =
                Layout::horizontal([Constraint::Min(0), Constraint::Length(width)]).areas(bottom);
            table(frame, table_area, app);
            tiles(frame, tiles_area, app, side);
        }
        None => table(frame, bottom, app),
    }
}

/// The fewest rows the chart keeps.
const MIN_CHART_ROWS: u16 = 8;

/// Columns the table needs.
const TABLE_WIDTH: u16 = 56;

/// The tiles' side in pixels (28, or 14 at half size) that fits beside the table, if any.
fn tile_side(sweep: &SweepView, area: Rect) -> Option<usize> {
    [SIDE, SIDE / 2].into_iter().find(|&side| {
        tiles_rows(sweep, side) <= area.height
            && tiles_width(sweep, side) + TABLE_WIDTH <= area.width
    })
}

/// Rows the tiles take: the border, the header, and a tile per lr with a row between.
fn tiles_rows(sweep: &SweepView, side: usize) -> u16 {
    sweep.lrs.len() as u16 * ((side as u16).div_ceil(2) + 1) + 2
}

/// Columns the tiles take: a label column, then a tile and a gap per start, and the border.
fn tiles_width(sweep: &SweepView, side: usize) -> u16 {
    4 + sweep.starts.len() as u16 * (side as u16 + 1) + 1
}

/// The table of cells, following the newest: lr, start, steps to the threshold, final p, L2,
/// oscillated; a running cell shows its p(target) so far.
fn table(frame: &mut Frame, area: Rect, app: &App) {
    let sweep = &app.inversion.sweep;
    let columns = sweep.starts.len().max(1);
    let visible = area.height.saturating_sub(3) as usize;
    let newest = sweep
        .curves
        .iter()
        .rposition(|c| !c.is_empty())
        .map_or(0, |i| i + 1);
    let first = newest.saturating_sub(visible);
    let last = (first + visible).min(sweep.curves.len());
    let rows: Vec<Row> = (first..last)
        .map(|i| {
            let row = i / columns;
            let lr = sweep.lrs.get(row).map_or(String::new(), |l| l.to_string());
            let start = sweep.starts.get(i % columns).cloned().unwrap_or_default();
            let lr_style = Style::default().fg(lr_color(row));
            match (&sweep.cells[i], sweep.curves[i].last()) {
                (Some((c, _)), _) => Row::new([
                    Span::styled(lr, lr_style),
                    Span::raw(start),
                    Span::raw(
                        c.steps_to_threshold
                            .map_or("never".into(), |s| s.to_string()),
                    ),
                    Span::raw(format!("{:.4}", c.final_p)),
                    Span::raw(format!("{:.3}", c.l2)),
                    Span::raw(if c.oscillated { "yes" } else { "no" }),
                ]),
                (None, Some(p)) => Row::new([
                    Span::styled(lr, lr_style),
                    Span::raw(start),
                    Span::raw(format!("step {}", sweep.curves[i].len() - 1)),
                    Span::raw(format!("{p:.4}")),
                    Span::raw("-"),
                    Span::raw("-"),
                ])
                .italic(),
                (None, None) => Row::new([
                    Span::styled(lr, lr_style),
                    Span::raw(start),
                    Span::raw(""),
                    Span::raw(""),
                    Span::raw(""),
                    Span::raw(""),
                ])
                .dim(),
            }
        })
        .collect();
    let header = Row::new(["lr", "start", "steps", "final p", "L2", "oscill."])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let shown = if last > first {
        format!(
            "{}-{} of {}, steps to p >= {}",
            first + 1,
            last,
            sweep.curves.len(),
            sweep.threshold
        )
    } else {
        "none yet".into()
    };
    let widget = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
        ],
    )
    .header(header)
    .block(block(&format!("Inversions {shown}")));
    frame.render_widget(widget, area);
}

/// The final images, rows of lrs (numbered as in the grid PNG) by columns of starts.
fn tiles(frame: &mut Frame, area: Rect, app: &App, side: usize) {
    let sweep = &app.inversion.sweep;
    let panel = block("Final images");
    let inner = panel.inner(area);
    frame.render_widget(panel, area);
    let tile_rows = (side as u16).div_ceil(2);
    let header: String = (0..sweep.starts.len())
        .map(|c| format!("{:<w$}", c, w = side + 1))
        .collect();
    frame.render_widget(
        Paragraph::new(format!("lr  {header}")).dim(),
        Rect { height: 1, ..inner },
    );
    let columns = sweep.starts.len().max(1);
    for (i, cell) in sweep.cells.iter().enumerate() {
        let (row, column) = (i / columns, i % columns);
        let y = inner.y + 1 + row as u16 * (tile_rows + 1);
        if y + tile_rows > inner.y + inner.height {
            break;
        }
        if column == 0 {
            frame.render_widget(
                Paragraph::new(row.to_string()).fg(lr_color(row)),
                Rect::new(inner.x, y, 3, 1),
            );
        }
        let Some((_, image)) = cell else { continue };
        let bytes: Vec<u8> = shrink(image, SIDE / side)
            .iter()
            .map(|&p| to_byte(p))
            .collect();
        let x = inner.x + 4 + column as u16 * (side as u16 + 1);
        let tile = HalfBlockImage {
            width: side,
            height: side,
            ..HalfBlockImage::new(&bytes, app.color)
        };
        frame.render_widget(tile, Rect::new(x, y, side as u16, tile_rows));
    }
}

/// A 28x28 image averaged down by `factor` in each direction.
fn shrink(pixels: &[f32], factor: usize) -> Vec<f32> {
    let factor = factor.max(1);
    let side = SIDE / factor;
    let mut out = vec![0f32; side * side];
    for (i, &p) in pixels.iter().enumerate().take(SIDE * SIDE) {
        let (x, y) = (i % SIDE / factor, i / SIDE / factor);
        if x < side && y < side {
            out[y * side + x] += p / (factor * factor) as f32;
        }
    }
    out
}

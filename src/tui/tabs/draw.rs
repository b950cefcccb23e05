//! The Draw tab: a 28x28 canvas drawn with the mouse (left drag paints a soft brush, right drag
//! erases) or the keyboard (arrows move a cursor, Space paints, x erases, c clears), shown in
//! half blocks at two or three cells per pixel where the terminal has room (half a cell at
//! 80x24). The active CNN's ten probabilities follow every stroke; Enter inverts the drawing
//! towards the target; s saves it as a PNG. The drawing goes through the same MNIST-style
//! preprocessing as an image file.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Stylize};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::inversion::{open_image, SourceKind};
use super::{block, key};
use crate::data::{preprocess, PreprocessError, CLASSES, PIXELS, SIDE};
use crate::inversion::StartImage;
use crate::snapshot::to_byte;
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::Command;
use crate::tui::widgets::halfblock::HalfBlockImage;
use crate::tui::widgets::probabilities::ProbabilityBars;

/// The Draw tab's state.
#[derive(Debug, Clone)]
pub struct DrawTab {
    /// Ink in [0,1], row-major.
    pub canvas: Vec<f32>,
    /// The keyboard cursor (column, row).
    pub cursor: (usize, usize),
    pub target: usize,
    /// Id of the newest drawing sent to be classified, and of the one last answered.
    pub sent: u64,
    pub answered: u64,
    /// A stroke came while a classification was in flight: send again when it is answered.
    pub pending: bool,
    /// The probabilities of the drawing as last classified (`None`: nothing drawn).
    pub probs: Option<[f32; CLASSES]>,
}

impl Default for DrawTab {
    fn default() -> Self {
        Self {
            canvas: vec![0.0; PIXELS],
            cursor: (SIDE / 2, SIDE / 2),
            target: 0,
            sent: 0,
            answered: 0,
            pending: false,
            probs: None,
        }
    }
}

/// The soft brush: ink at the centre and less around it.
const BRUSH: [(isize, isize, f32); 9] = [
    (0, 0, 1.0),
    (-1, 0, 0.5),
    (1, 0, 0.5),
    (0, -1, 0.5),
    (0, 1, 0.5),
    (-1, -1, 0.2),
    (1, -1, 0.2),
    (-1, 1, 0.2),
    (1, 1, 0.2),
];

impl DrawTab {
    /// Paints (or erases) the brush at pixel (x, y).
    pub fn stroke(&mut self, x: usize, y: usize, erase: bool) {
        for (dx, dy, ink) in BRUSH {
            let (px, py) = (x as isize + dx, y as isize + dy);
            if !(0..SIDE as isize).contains(&px) || !(0..SIDE as isize).contains(&py) {
                continue;
            }
            let v = &mut self.canvas[py as usize * SIDE + px as usize];
            *v = if erase {
                if ink >= 0.5 {
                    0.0
                } else {
                    *v
                }
            } else {
                v.max(ink)
            };
        }
    }

    /// The drawing as the model sees it: preprocessed like an image file (`None`: no ink).
    pub fn digit(&self) -> Option<Vec<f32>> {
        match preprocess(SIDE, SIDE, &self.canvas) {
            Ok(d) => Some(d.pixels.to_vec()),
            Err(PreprocessError::NoInk | PreprocessError::Size { .. }) => None,
        }
    }
}

/// The canvas's place in the tab's `area`, and its scale: columns per pixel, each pixel
/// square (3 and 2 where the terminal has room, else 1: half a cell per pixel, at 80x24).
pub fn canvas_rect(area: Rect) -> (Rect, usize) {
    let fits =
        |s: u16| area.width >= SIDE as u16 * s + 24 && area.height >= SIDE as u16 * s / 2 + 2;
    let scale = (1..=3).rev().find(|&s| fits(s)).unwrap_or(1) as usize;
    let w = (SIDE * scale) as u16 + 2;
    let h = ((SIDE * scale) / 2) as u16 + 2;
    (
        Rect::new(area.x, area.y, w.min(area.width), h.min(area.height)),
        scale,
    )
}

/// The canvas pixel under terminal cell (column, row), if any.
fn pixel_at(area: Rect, column: u16, row: u16) -> Option<(usize, usize)> {
    let (rect, scale) = canvas_rect(area);
    let (x0, y0) = (rect.x + 1, rect.y + 1);
    if column < x0 || row < y0 {
        return None;
    }
    let x = (column - x0) as usize / scale;
    // A cell holds two pixel rows: the mouse cannot tell them apart, so take the upper.
    let y = (row - y0) as usize * 2 / scale;
    (x < SIDE && y < SIDE).then_some((x, y))
}

/// Asks for the probabilities of the drawing (once one is in flight, again when it returns).
fn classify(app: &mut App) -> Option<Command> {
    let tab = &mut app.draw;
    let Some(pixels) = tab.digit() else {
        tab.probs = None;
        return None;
    };
    if tab.sent > tab.answered {
        tab.pending = true;
        return None;
    }
    let run = app.active.clone()?;
    tab.sent += 1;
    tab.pending = false;
    Some(Command::ClassifyCanvas {
        id: tab.sent,
        run,
        pixels,
    })
}

/// Handles a key on the Draw tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let tab = &mut app.draw;
    let (x, y) = tab.cursor;
    let last = SIDE - 1;
    match action {
        Action::Up => tab.cursor.1 = y.saturating_sub(1),
        Action::Down => tab.cursor.1 = (y + 1).min(last),
        Action::Left => tab.cursor.0 = x.saturating_sub(1),
        Action::Right => tab.cursor.0 = (x + 1).min(last),
        Action::Paint => {
            tab.stroke(x, y, false);
            return classify(app);
        }
        Action::Erase => {
            tab.stroke(x, y, true);
            return classify(app);
        }
        Action::ClearCanvas => {
            tab.canvas = vec![0.0; PIXELS];
            tab.probs = None;
        }
        Action::TargetUp => tab.target = (tab.target + 1) % CLASSES,
        Action::TargetDown => tab.target = (tab.target + CLASSES - 1) % CLASSES,
        Action::Choose => {
            let Some(pixels) = tab.digit() else {
                let first = format!("draw {} first", thing(app));
                app.messages.info(first);
                return None;
            };
            let target = tab.target;
            app.inversion.options.target = target;
            app.inversion.model = super::inversion::InvModel::Cnn;
            app.messages.info(format!(
                "inverting the drawing towards {target} (Space runs)"
            ));
            let image = StartImage {
                pixels,
                tag: "drawing".into(),
                label: None,
            };
            return open_image(app, image, SourceKind::Drawing);
        }
        Action::SaveDrawing => {
            if tab.canvas.iter().all(|&v| v == 0.0) {
                app.messages.info("the canvas is empty");
                return None;
            }
            return Some(Command::SaveDrawing(tab.canvas.clone()));
        }
        _ => {}
    }
    None
}

/// Handles the mouse over the tab's `area`: a left press or drag paints, a right one erases.
pub fn on_mouse(app: &mut App, area: Rect, event: MouseEvent) -> Option<Command> {
    let erase = match event.kind {
        MouseEventKind::Down(MouseButton::Left) | MouseEventKind::Drag(MouseButton::Left) => false,
        MouseEventKind::Down(MouseButton::Right) | MouseEventKind::Drag(MouseButton::Right) => true,
        _ => return None,
    };
    let (x, y) = pixel_at(area, event.column, event.row)?;
    let tab = &mut app.draw;
    tab.cursor = (x, y);
    tab.stroke(x, y, erase);
    classify(app)
}

/// The probabilities of drawing `id` arrived.
pub fn on_probs(app: &mut App, id: u64, probs: Result<[f32; CLASSES], String>) -> Option<Command> {
    let tab = &mut app.draw;
    tab.answered = tab.answered.max(id);
    match probs {
        Ok(p) if id == tab.sent => tab.probs = Some(p),
        Ok(_) => {}
        Err(e) => app.messages.error(format!("classifying the drawing: {e}")),
    }
    if app.draw.pending {
        return classify(app);
    }
    None
}

/// Draws the Draw tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.draw;
    let (rect, scale) = canvas_rect(area);
    let bytes: Vec<u8> = tab.canvas.iter().map(|&p| to_byte(p)).collect();
    let panel = block("Canvas");
    let inner = panel.inner(rect);
    frame.render_widget(panel, rect);
    frame.render_widget(HalfBlockImage::new(&bytes, app.color).scaled(scale), inner);
    // The keyboard cursor: a marked cell over its pixel.
    let (cx, cy) = tab.cursor;
    let cell = (
        inner.x + (cx * scale) as u16,
        inner.y + (cy * scale / 2) as u16,
    );
    if let Some(c) = frame.buffer_mut().cell_mut(cell) {
        c.set_symbol("┼").set_fg(Color::Yellow);
    }
    let right = Rect::new(
        rect.right(),
        area.y,
        area.width.saturating_sub(rect.width),
        area.height,
    );
    let [probs_area, help] =
        Layout::vertical([Constraint::Length(CLASSES as u16 + 2), Constraint::Min(0)]).areas(right);
    let names = app.class_names();
    let probs = tab.probs.unwrap_or([0.0; CLASSES]);
    let title = match (&app.active, tab.probs) {
        (None, _) => " p(class): no active CNN (Runs tab) ".to_string(),
        (Some(_), None) => format!(" p(class): draw {} ", thing(app)),
        (Some(_), Some(p)) => {
            let best = (0..CLASSES)
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(0);
            format!(" the CNN says {} ({:.2}) ", names[best], p[best])
        }
    };
    frame.render_widget(
        ProbabilityBars {
            probs,
            names,
            target: tab.target,
            title,
        },
        probs_area,
    );
    let k = |a| key(app, Tab::Draw, a);
    let lines = vec![
        Line::raw("mouse: left drag paints, right drag erases"),
        Line::raw(format!(
            "arrows move, {} paint, {} erase, {} clear",
            k(Action::Paint),
            k(Action::Erase),
            k(Action::ClearCanvas)
        )),
        Line::raw(format!(
            "target {} ({}/{}); {} inverts it, {} saves a PNG",
            names[tab.target],
            k(Action::TargetUp),
            k(Action::TargetDown),
            k(Action::Choose),
            k(Action::SaveDrawing)
        )),
        Line::raw(format!(
            "the model sees it cropped, scaled to 20x20 and centred, as {} was",
            app.dataset_kind
        ))
        .dim(),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block("Draw")),
        help,
    );
}

/// What the canvas is for on the data in use: "a digit" on MNIST, "a garment" on Fashion-MNIST.
fn thing(app: &App) -> &'static str {
    match app.dataset_kind {
        crate::data::DatasetKind::Mnist => "a digit",
        crate::data::DatasetKind::Fashion => "a garment (T-shirt, shoe, bag...)",
    }
}

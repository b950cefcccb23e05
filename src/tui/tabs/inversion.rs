//! The Inversion tab: the source image (a test image, noise, blank, a file or a drawing), the
//! image the model is stepping and their difference, drawn with half blocks (larger when the
//! terminal has room); the ten class probabilities (of the source before the first step); p(target)
//! or all ten probabilities over the steps as a braille chart; the settings and their keys. The
//! sweep view (`tabs::sweep`) takes the tab's place while shown.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::sweep::{self, SweepView};
use super::{block, key, step_cursor};
use crate::config::{Config, KnnInvertConfig};
use crate::data::{CLASSES, PIXELS, SIDE};
use crate::inversion::{
    Frame as InvFrame, GradientOptions, Objective, Regularisers, Start, StartImage, StepKind,
    StopReason,
};
use crate::jobs::invert::{knn_method, InvEvent, InvRequest, ModelSpec, SnapshotSettings, Source};
use crate::snapshot::to_byte;
use crate::text::charts::{AxisSpec, ChartSpec, Series, PALETTE};
use crate::tui::app::{App, Overlay, Prompt, PromptPurpose, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::Command;
use crate::tui::widgets::halfblock::HalfBlockImage;
use crate::tui::widgets::probabilities::ProbabilityBars;

/// Most steps kept in the probability histories.
pub const MAX_HISTORY: usize = 4000;

/// The classifier the tab inverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvModel {
    /// The active CNN (gradient inversion).
    Cnn,
    /// k-NN over the training split (pseudo-gradient inversion).
    Knn,
}

/// Where an inversion starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The test image `InversionTab::image` (0-based, as `--from test:IDX`).
    Test,
    /// Uniform noise seeded with `InversionTab::noise_seed`.
    Noise,
    /// All zeros.
    Blank,
    /// An image file, imported as MNIST was made.
    File,
    /// The Draw tab's canvas.
    Drawing,
}

/// Regularisers the `R` key turns on when config.toml sets none.
pub const DEFAULT_REGULARISERS: Regularisers = Regularisers {
    tv: 0.05,
    l2: 0.01,
    blur: 0.5,
    blur_every: 4,
    jitter: 1,
};

/// The Inversion tab's state.
#[derive(Debug, Clone)]
pub struct InversionTab {
    pub model: InvModel,
    pub source: SourceKind,
    /// Index of the source image in the test split, from 0.
    pub image: usize,
    pub noise_seed: u64,
    /// The imported file and the drawing, when there are.
    pub file: Option<StartImage>,
    pub drawing: Option<StartImage>,
    /// Regularisers applied when on (`options.reg` is these or none).
    pub reg_preset: Regularisers,
    pub knn: KnnInvertConfig,
    /// Target, loss, step kind, lr and stop rules.
    pub options: GradientOptions,
    /// Id of the inversion the session holds; events of older ones are ignored.
    pub id: u64,
    /// The session holds an inversion of the current source.
    pub active: bool,
    pub running: bool,
    /// The start image's tag, label, and the probabilities before any step.
    pub start: Option<(String, Option<usize>, [f32; CLASSES])>,
    /// The latest frame of the current inversion.
    pub frame: Option<InvFrame>,
    /// The probabilities at every step (p(target) is `probs[target]`).
    pub history: Vec<[f32; CLASSES]>,
    pub stopped: Option<StopReason>,
    /// The chart shows all ten probabilities, not only the target's.
    pub all_probs: bool,
    /// The step the chart's cursor reads, if shown.
    pub cursor: Option<f64>,
    pub snapshots: SnapshotSettings,
    /// The learning-rate x start sweep and its view.
    pub sweep: SweepView,
}

impl InversionTab {
    /// The tab with `[invert]`'s settings.
    pub fn new(config: &Config) -> Self {
        Self {
            model: InvModel::Cnn,
            source: SourceKind::Test,
            image: 0,
            noise_seed: config.invert.seed,
            file: None,
            drawing: None,
            reg_preset: if config.invert.reg.any() {
                config.invert.reg
            } else {
                DEFAULT_REGULARISERS
            },
            knn: config.invert.knn.clone(),
            options: config.invert.options(0),
            id: 0,
            active: false,
            running: false,
            start: None,
            frame: None,
            history: Vec::new(),
            stopped: None,
            all_probs: false,
            cursor: None,
            snapshots: SnapshotSettings {
                dir: config.paths.snapshots.clone(),
                scale: config.invert.scale,
                strip: config.invert.strip,
                gif_frames: config.invert.gif_frames,
            },
            sweep: SweepView::default(),
        }
    }

    /// Forgets the current inversion (the next reset starts over).
    pub fn clear(&mut self) {
        self.active = false;
        self.running = false;
        self.start = None;
        self.frame = None;
        self.history.clear();
        self.stopped = None;
    }

    /// The source for the screen: `test:17`, `noise:3`, `blank`, `file seven.png`.
    fn source_label(&self) -> String {
        match self.source {
            SourceKind::Test => format!("test:{}", self.image),
            SourceKind::Noise => format!("noise:{}", self.noise_seed),
            SourceKind::Blank => "blank".into(),
            SourceKind::File => self
                .file
                .as_ref()
                .map_or("file (F opens one)".into(), |f| f.tag.clone()),
            SourceKind::Drawing => "the drawing (Draw tab)".into(),
        }
    }
}

/// The requests that start the inversion again from the source (paused), or why it cannot.
fn reset(app: &mut App) -> Result<Vec<InvRequest>, String> {
    let data = app.dataset().cloned();
    let inv = &app.inversion;
    let source = match inv.source {
        SourceKind::Test => Source::Start(Start::Test(inv.image)),
        SourceKind::Noise => Source::Start(Start::Noise(inv.noise_seed)),
        SourceKind::Blank => Source::Start(Start::Blank),
        SourceKind::File => Source::Image(inv.file.clone().ok_or("no file yet: F opens one")?),
        SourceKind::Drawing => Source::Image(
            inv.drawing
                .clone()
                .ok_or("nothing drawn yet: draw on the Draw tab (8), then Enter")?,
        ),
    };
    if inv.source == SourceKind::Test && data.is_none() {
        return Err("the data set is still loading".into());
    }
    let config = &app.settings.config;
    let (model, method) = match inv.model {
        InvModel::Cnn => {
            let run = app
                .active
                .clone()
                .ok_or("no active CNN: train one (1, then s) or pick one on the Runs tab (2)")?;
            let spec = ModelSpec::Cnn {
                run: Box::new(run),
                device: config.train.device.clone(),
            };
            (
                spec,
                crate::jobs::invert::Method::Gradient(inv.options.clone()),
            )
        }
        InvModel::Knn => {
            let mut invert = config.invert.clone();
            invert.knn = inv.knn.clone();
            invert.seed = inv.options.seed;
            app.messages.info(format!(
                "k-NN: building the index over {} training images (once per data set)...",
                data.as_ref().map_or(0, |d| d.train.len())
            ));
            let spec = ModelSpec::Knn {
                settings: config.baselines.clone(),
            };
            (spec, knn_method(&invert, config.baselines.k))
        }
    };
    let inv = &mut app.inversion;
    inv.clear();
    inv.id += 1;
    inv.active = true;
    Ok(vec![InvRequest::Reset {
        id: inv.id,
        model,
        data,
        source,
        method,
        target: inv.options.target,
        confidence: config.invert.confidence,
    }])
}

/// Starts over from the source (paused); a message if it cannot.
pub fn restart(app: &mut App) -> Option<Command> {
    let was_running = app.inversion.running;
    match reset(app) {
        Ok(requests) => {
            // What the last inversion said (where it stopped) no longer holds.
            app.messages.move_on();
            Some(Command::Invert(requests))
        }
        Err(e) => {
            app.inversion.clear();
            app.messages.info(e);
            was_running.then(|| Command::Invert(vec![InvRequest::Pause]))
        }
    }
}

/// Opens test image `index` as the source with `target`, on the Inversion tab.
pub fn open_test_image(app: &mut App, index: usize, target: usize) -> Option<Command> {
    let inv = &mut app.inversion;
    inv.model = InvModel::Cnn;
    inv.source = SourceKind::Test;
    inv.image = index;
    inv.options.target = target;
    app.tab = Tab::Inversion;
    restart(app)
}

/// Opens `image` (a file or the drawing) as the source, on the Inversion tab.
pub fn open_image(app: &mut App, image: StartImage, kind: SourceKind) -> Option<Command> {
    let inv = &mut app.inversion;
    match kind {
        SourceKind::Drawing => inv.drawing = Some(image),
        _ => inv.file = Some(image),
    }
    inv.source = kind;
    app.tab = Tab::Inversion;
    restart(app)
}

/// Applies a settings change; a live gradient inversion takes it on from its current image.
fn set_options(app: &mut App, f: impl Fn(&mut GradientOptions)) -> Option<Command> {
    let inv = &mut app.inversion;
    f(&mut inv.options);
    if inv.model == InvModel::Knn || !inv.active {
        // The k-NN inverter takes its settings at the start: begin again with them.
        return restart(app);
    }
    inv.stopped = None;
    Some(Command::Invert(vec![InvRequest::SetOptions(
        inv.options.clone(),
    )]))
}

/// Runs `then` on the current inversion, starting one first if there is none.
fn drive(app: &mut App, then: InvRequest) -> Option<Command> {
    let mut requests = Vec::new();
    if !app.inversion.active {
        match reset(app) {
            Ok(r) => requests = r,
            Err(e) => {
                app.messages.info(e);
                return None;
            }
        }
    }
    app.inversion.running = matches!(then, InvRequest::Run);
    requests.push(then);
    Some(Command::Invert(requests))
}

/// Steps through the source: test images, or noise seeds.
fn browse(app: &mut App, delta: isize) -> Option<Command> {
    let inv = &mut app.inversion;
    match inv.source {
        SourceKind::Test => {
            let n = app.dataset()?.test.len();
            if n == 0 {
                return None;
            }
            let inv = &mut app.inversion;
            inv.image = step_cursor(inv.image, delta, n);
        }
        SourceKind::Noise => inv.noise_seed = inv.noise_seed.wrapping_add_signed(delta as i64),
        _ => {
            app.messages
                .info("this source has no neighbours (f switches the source)");
            return None;
        }
    }
    restart(app)
}

/// The files in the current directory that complete `text`, sorted.
pub fn complete(text: &str) -> Vec<String> {
    let (dir, prefix) = match text.rfind('/') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (name.starts_with(prefix) && !name.starts_with('.'))
                .then(|| format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    found.sort();
    found
}

/// Handles a key on the Inversion tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    match action {
        Action::ToggleModel => {
            app.inversion.model = match app.inversion.model {
                InvModel::Cnn => InvModel::Knn,
                InvModel::Knn => InvModel::Cnn,
            };
            restart(app)
        }
        Action::CycleSource => {
            let inv = &mut app.inversion;
            inv.source = match inv.source {
                SourceKind::Test => SourceKind::Noise,
                SourceKind::Noise => SourceKind::Blank,
                SourceKind::Blank if inv.file.is_some() => SourceKind::File,
                SourceKind::Blank | SourceKind::File if inv.drawing.is_some() => {
                    SourceKind::Drawing
                }
                _ => SourceKind::Test,
            };
            restart(app)
        }
        Action::OpenFile => {
            let completions = complete("");
            app.overlay = Overlay::Prompt(Prompt {
                title:
                    "image file to invert (PNG or JPEG; Tab completes, Enter opens, Esc cancels)"
                        .into(),
                text: String::new(),
                completions,
                purpose: PromptPurpose::ImageFile,
            });
            None
        }
        Action::ToggleRegularisers => {
            let preset = app.inversion.reg_preset;
            if app.inversion.model == InvModel::Knn {
                app.messages
                    .info("regularisers apply to the CNN's gradient inversion (m switches)");
            }
            set_options(app, move |o| {
                o.reg = if o.reg.any() {
                    Regularisers::default()
                } else {
                    preset
                }
            })
        }
        Action::Left => browse(app, -1),
        Action::Right => browse(app, 1),
        Action::NextClass => {
            app.inversion.source = SourceKind::Test;
            let data = app.dataset()?.clone();
            let test = &data.test;
            let n = test.len();
            let current = app.inversion.image.min(n.saturating_sub(1));
            let wanted = (*test.labels.get(current)? + 1) % CLASSES as u8;
            app.inversion.image = (1..=n)
                .map(|d| (current + d) % n)
                .find(|&i| test.labels[i] == wanted)
                .unwrap_or(current);
            restart(app)
        }
        Action::TargetUp => set_options(app, |o| o.target = (o.target + 1) % CLASSES),
        Action::TargetDown => set_options(app, |o| o.target = (o.target + CLASSES - 1) % CLASSES),
        Action::CycleLoss => set_options(app, |o| {
            o.objective = match o.objective {
                Objective::Naive => Objective::Log,
                Objective::Log => Objective::Logit,
                Objective::Logit => Objective::Naive,
            }
        }),
        Action::ToggleStepKind => set_options(app, |o| {
            o.step = match o.step {
                StepKind::Raw => StepKind::Normalized,
                StepKind::Normalized => StepKind::Raw,
            }
        }),
        Action::InvLrUp => set_options(app, |o| o.lr = (o.lr * 2.0).min(100.0)),
        Action::InvLrDown => set_options(app, |o| o.lr = (o.lr / 2.0).max(1e-5)),
        Action::RunPause if app.inversion.running => {
            app.inversion.running = false;
            Some(Command::Invert(vec![InvRequest::Pause]))
        }
        Action::RunPause => drive(app, InvRequest::Run),
        Action::SingleStep => drive(app, InvRequest::Step),
        Action::ResetInversion => restart(app),
        Action::AllProbabilities => {
            app.inversion.all_probs = !app.inversion.all_probs;
            None
        }
        Action::CursorLeft | Action::CursorRight => {
            let inv = &mut app.inversion;
            let steps = inv.history.len().saturating_sub(1) as f64;
            let stride = (steps / 40.0).ceil().max(1.0);
            let delta = if action == Action::CursorLeft {
                -stride
            } else {
                stride
            };
            inv.cursor = match inv.cursor {
                None if delta > 0.0 => Some(0.0),
                None => Some(steps),
                Some(x) if x + delta < 0.0 || x + delta > steps => None,
                Some(x) => Some(x + delta),
            };
            None
        }
        Action::Snapshot => {
            if app.inversion.frame.is_none() {
                app.messages
                    .info("nothing to export yet: Space runs the inversion");
                return None;
            }
            Some(Command::Invert(vec![InvRequest::Snapshot {
                settings: app.inversion.snapshots.clone(),
                store: app.settings.store.clone(),
            }]))
        }
        Action::Start | Action::Cancel | Action::CycleView => sweep::on_action(app, action),
        _ => None,
    }
}

/// Folds a session event into the tab.
pub fn on_event(app: &mut App, event: InvEvent) {
    let inv = &mut app.inversion;
    match event {
        InvEvent::Snapshot { result, .. } => match result {
            Ok((dir, r)) => {
                let names: Vec<String> = r
                    .snapshots
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                app.messages.info(format!(
                    "snapshot: {} (run {})",
                    names.join(", "),
                    dir.display()
                ));
            }
            Err(e) => app.messages.error(format!("snapshot failed: {e}")),
        },
        InvEvent::Classified { .. } => {}
        InvEvent::Notice { message, .. } => app.messages.info(message),
        InvEvent::Started { id, .. }
        | InvEvent::Frame { id, .. }
        | InvEvent::Stopped { id, .. }
        | InvEvent::Failed { id, .. }
            if id != inv.id || !inv.active => {}
        InvEvent::Started {
            source,
            label,
            probs,
            ..
        } => inv.start = Some((source, label, probs)),
        InvEvent::Frame { frame, .. } => {
            inv.history.push(frame.probs);
            if inv.history.len() > MAX_HISTORY {
                inv.history.drain(..inv.history.len() - MAX_HISTORY);
            }
            inv.frame = Some(frame);
        }
        InvEvent::Stopped { reason, .. } => {
            inv.running = false;
            inv.stopped = Some(reason);
            let step = inv.frame.as_ref().map_or(0, |f| f.step);
            app.messages.info(format!(
                "inversion stopped at step {step}: {}",
                reason.describe()
            ));
        }
        InvEvent::Failed { message, .. } => {
            inv.clear();
            app.messages.error(format!("inversion: {message}"));
        }
    }
}

/// Below this height the tab packs its settings beside the probabilities.
const COMPACT_BELOW: u16 = 30;

/// The pixel scale (cells per pixel) and whether the difference map fits in `area`.
fn layout_scale(area: Rect) -> (usize, bool) {
    for scale in (2..=3).rev() {
        let image_w = (SIDE * scale) as u16 + 2;
        let image_h = (SIDE * scale / 2) as u16 + 5;
        if image_h + 10 <= area.height && 3 * image_w + 24 <= area.width {
            return (scale, true);
        }
    }
    (1, 3 * (SIDE as u16 + 2) + 24 <= area.width)
}

/// Draws the Inversion tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if app.inversion.sweep.shown {
        sweep::render(frame, area, app);
        return;
    }
    let compact = area.height < COMPACT_BELOW;
    let (scale, diff) = layout_scale(area);
    let image_w = (SIDE * scale) as u16 + 2;
    let captions = if compact { 1 } else { 3 };
    let image_h = (SIDE * scale / 2) as u16 + 2 + captions;
    let [top, bottom] =
        Layout::vertical([Constraint::Length(image_h), Constraint::Min(0)]).areas(area);
    let mut columns = vec![Constraint::Length(image_w), Constraint::Length(image_w)];
    if diff {
        columns.push(Constraint::Length(image_w));
    }
    columns.push(Constraint::Min(0));
    let cells = Layout::horizontal(columns).split(top);
    let source = source_pixels(app);
    source_panel(frame, cells[0], app, source.as_deref(), scale, compact);
    current_panel(frame, cells[1], app, scale);
    if diff {
        difference_panel(frame, cells[2], app, source.as_deref(), scale);
    }
    let right = cells[cells.len() - 1];
    if compact {
        let [probs, settings] =
            Layout::vertical([Constraint::Length(12), Constraint::Min(0)]).areas(right);
        probabilities(frame, probs, app);
        frame.render_widget(
            Paragraph::new(compact_settings(app)).block(block("Settings (? keys)")),
            settings,
        );
        history_chart(frame, bottom, app);
    } else {
        probabilities(frame, right, app);
        settings_and_chart(frame, bottom, app);
    }
}

/// The settings in a few short lines, for small terminals.
fn compact_settings(app: &App) -> Vec<Line<'static>> {
    let inv = &app.inversion;
    let o = &inv.options;
    let model = match inv.model {
        InvModel::Cnn => "CNN",
        InvModel::Knn => "k-NN",
    };
    let state = if inv.running {
        "running"
    } else if inv.stopped.is_some() {
        "stopped"
    } else if inv.active {
        "paused"
    } else {
        "ready"
    };
    vec![
        Line::raw(format!(
            "to {} {} {}",
            o.target,
            o.objective.name(),
            o.step.name()
        )),
        Line::raw(format!("lr {} {model}", o.lr)),
        Line::raw(format!("reg {}", if o.reg.any() { "on" } else { "off" })),
        Line::raw(state),
    ]
}

/// The source's pixels in [0,1], when they are known here.
fn source_pixels(app: &App) -> Option<Vec<f32>> {
    let inv = &app.inversion;
    match inv.source {
        SourceKind::Test => {
            let d = app.dataset()?;
            (inv.image < d.test.len()).then(|| {
                d.test
                    .image(inv.image)
                    .iter()
                    .map(|&p| f32::from(p) / 255.0)
                    .collect()
            })
        }
        SourceKind::Noise => Start::Noise(inv.noise_seed)
            .resolve(
                &crate::data::Split {
                    images: Vec::new(),
                    labels: Vec::new(),
                },
                &|_: &[u8]| Ok(Vec::new()),
                1.0,
            )
            .ok()
            .map(|s| s.pixels),
        SourceKind::Blank => Some(vec![0.0; PIXELS]),
        SourceKind::File => inv.file.as_ref().map(|f| f.pixels.clone()),
        SourceKind::Drawing => inv.drawing.as_ref().map(|f| f.pixels.clone()),
    }
}

fn image_panel(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    image: HalfBlockImage,
    caption: Vec<Line>,
) {
    let panel = block(title);
    let inner = panel.inner(area);
    frame.render_widget(panel, area);
    let (_, rows) = image.size();
    let [pic, text] = Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(inner);
    frame.render_widget(image, pic);
    frame.render_widget(Paragraph::new(caption), text);
}

fn source_panel(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    pixels: Option<&[f32]>,
    scale: usize,
    compact: bool,
) {
    let inv = &app.inversion;
    let k = |a| key(app, Tab::Inversion, a);
    let Some(pixels) = pixels else {
        let text = match inv.source {
            SourceKind::Test => "waiting for the data set...".to_string(),
            _ => inv.source_label(),
        };
        frame.render_widget(Paragraph::new(text).block(block("Source")), area);
        return;
    };
    let bytes: Vec<u8> = pixels.iter().map(|&p| to_byte(p)).collect();
    let mut caption = vec![Line::raw(inv.source_label())];
    if inv.source == SourceKind::Test {
        if let Some(d) = app.dataset() {
            let label = d.test.labels.get(inv.image).map_or(0, |&l| usize::from(l));
            let name = d.class_names().get(label).copied().unwrap_or("?");
            caption[0] = Line::raw(format!(
                "test:{} of {}, label {name}",
                inv.image,
                d.test.len()
            ));
            if compact {
                caption[0] = Line::raw(format!("test:{}", inv.image));
                caption.push(Line::raw(name.to_string()));
            }
        }
    }
    if !compact {
        caption.push(
            Line::raw(format!(
                "{}/{} {} {} F",
                k(Action::Left),
                k(Action::Right),
                k(Action::NextClass),
                k(Action::CycleSource)
            ))
            .dim(),
        );
    }
    image_panel(
        frame,
        area,
        "Source",
        HalfBlockImage::new(&bytes, app.color).scaled(scale),
        caption,
    );
}

fn current_panel(frame: &mut Frame, area: Rect, app: &App, scale: usize) {
    let inv = &app.inversion;
    match &inv.frame {
        Some(f) if f.pixels.len() == PIXELS => {
            let bytes: Vec<u8> = f.pixels.iter().map(|&p| to_byte(p)).collect();
            let caption = vec![
                Line::raw(format!("step {}  p(target) {:.3}", f.step, f.p_target)),
                Line::raw(format!("L2 {:.2}  L∞ {:.2}", f.l2, f.linf)),
            ];
            image_panel(
                frame,
                area,
                "Inverted",
                HalfBlockImage::new(&bytes, app.color).scaled(scale),
                caption,
            );
        }
        _ => {
            let model = match inv.model {
                InvModel::Cnn => format!("model: the active CNN\n{}", app.active_label()),
                InvModel::Knn => "model: k-NN over the training split".to_string(),
            };
            frame.render_widget(
                Paragraph::new(format!(
                    "{} runs the inversion,\n{} takes one step.\n\n{model}",
                    key(app, Tab::Inversion, Action::RunPause),
                    key(app, Tab::Inversion, Action::SingleStep)
                ))
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block("Inverted")),
                area,
            );
        }
    }
}

fn difference_panel(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    source: Option<&[f32]>,
    scale: usize,
) {
    let current = app.inversion.frame.as_ref().map(|f| f.pixels.as_slice());
    let diff: Vec<f32> = match (source, current) {
        (Some(s), Some(c)) if s.len() == PIXELS && c.len() == PIXELS => {
            c.iter().zip(s).map(|(c, s)| c - s).collect()
        }
        _ => vec![0.0; PIXELS],
    };
    let caption = vec![Line::from(vec![
        "red".red(),
        " ink added, ".into(),
        "blue".blue(),
        " removed".into(),
    ])];
    image_panel(
        frame,
        area,
        "Inverted - source",
        HalfBlockImage::signed(&diff, app.color).scaled(scale),
        caption,
    );
}

fn probabilities(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    let names = app
        .dataset()
        .map(|d| d.class_names())
        .unwrap_or(app.dataset_kind.class_names());
    let (probs, title) = match (&inv.frame, &inv.start) {
        (Some(f), _) => (f.probs, " p(class) ".to_string()),
        (None, Some((_, _, p))) => (*p, " p(class) of the source ".to_string()),
        (None, None) => ([0.0; CLASSES], " p(class) ".to_string()),
    };
    frame.render_widget(
        ProbabilityBars {
            probs,
            names,
            target: inv.options.target,
            title,
        },
        area,
    );
}

fn settings_and_chart(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    let o = &inv.options;
    let k = |a| key(app, Tab::Inversion, a);
    let state = if inv.running {
        "running".to_string()
    } else if let Some(reason) = inv.stopped {
        reason.describe().to_string()
    } else if inv.active {
        "paused".into()
    } else {
        "ready".into()
    };
    let model = match inv.model {
        InvModel::Cnn => "CNN (gradient)".to_string(),
        InvModel::Knn => format!(
            "k-NN k={} (pseudo-gradient)",
            app.settings.config.baselines.k
        ),
    };
    // Gradient settings apply to the CNN only; the k-NN inverter takes `[invert.knn]`'s.
    let mut lines = vec![Line::raw(format!(
        "target {} ({}/{})",
        app.class_names()[o.target],
        k(Action::TargetUp),
        k(Action::TargetDown)
    ))];
    match inv.model {
        InvModel::Cnn => {
            lines.push(Line::raw(format!(
                "loss   {} ({})",
                o.objective.name(),
                k(Action::CycleLoss)
            )));
            lines.push(Line::raw(format!(
                "step   {} ({})",
                o.step.name(),
                k(Action::ToggleStepKind)
            )));
            lines.push(Line::raw(format!(
                "lr     {} ({}/{})",
                o.lr,
                k(Action::InvLrUp),
                k(Action::InvLrDown)
            )));
        }
        InvModel::Knn => lines.push(Line::raw(format!(
            "knn    lr {} mask {} stop {} ([invert.knn])",
            inv.knn.lr, inv.knn.mask, inv.knn.threshold
        ))),
    }
    lines.push(Line::raw(format!(
        "model  {model} ({})",
        k(Action::ToggleModel)
    )));
    if inv.model == InvModel::Cnn {
        // Named as in config.toml: `[invert.reg]`'s keys (or the built-in set when it is empty).
        let from = if app.settings.config.invert.reg.any() {
            "[invert.reg]"
        } else {
            "built-in set"
        };
        let r = if o.reg.any() { o.reg } else { inv.reg_preset };
        let state = if o.reg.any() { "on" } else { "off" };
        lines.push(Line::raw(format!(
            "reg    {state}, {from} ({})",
            k(Action::ToggleRegularisers)
        )));
        lines.push(Line::raw(format!("  tv {}  l2 {}  jitter {}", r.tv, r.l2, r.jitter)).dim());
        lines.push(Line::raw(format!("  blur {}  blur_every {}", r.blur, r.blur_every)).dim());
    }
    lines.push(Line::raw(format!("state  {state}")));
    lines.push(
        Line::raw(format!(
            "{} run/pause  {} step  {} reset",
            k(Action::RunPause),
            k(Action::SingleStep),
            k(Action::ResetInversion),
        ))
        .dim(),
    );
    lines.push(Line::raw(format!("{} snapshot  ? all keys", k(Action::Snapshot))).dim());
    let [settings, chart_area] =
        Layout::horizontal([Constraint::Length(36), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(lines).block(block("Settings")), settings);
    history_chart(frame, chart_area, app);
}

fn history_chart(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    if area.height < 8 {
        // Too low for a chart with axes: p(target) as a one-line sparkline.
        let target = inv.options.target;
        let values: Vec<u64> = inv
            .history
            .iter()
            .map(|p| (p[target].clamp(0.0, 1.0) * 1000.0) as u64)
            .collect();
        let inner = area.width.saturating_sub(2) as usize;
        let shown = &values[values.len().saturating_sub(inner)..];
        let last = inv.history.last().map_or(0.0, |p| p[target]);
        frame.render_widget(
            ratatui::widgets::Sparkline::default()
                .data(shown)
                .max(1000)
                .style(Style::default().fg(Color::Yellow))
                .block(block(&format!(
                    "p({target}) over {} steps: {last:.3}",
                    inv.history.len().saturating_sub(1)
                ))),
            area,
        );
        return;
    }
    frame.render_widget(&history_spec(app), area);
}

/// The chart of p(target), or of all ten probabilities, over the steps, each class by name in
/// its own colour (the target in yellow), with the tab's cursor.
pub fn history_spec(app: &App) -> ChartSpec<'static> {
    let inv = &app.inversion;
    let names = app.class_names();
    let steps = inv.history.len().max(2) as f64 - 1.0;
    let classes: Vec<usize> = if inv.all_probs {
        (0..CLASSES).collect()
    } else {
        vec![inv.options.target]
    };
    let series: Vec<Series> = classes
        .iter()
        .map(|&c| {
            let points: Vec<(f64, f64)> = inv
                .history
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, f64::from(p[c])))
                .collect();
            let name = if c == inv.options.target {
                format!("p({}) target", names[c])
            } else {
                format!("p({})", names[c])
            };
            Series::line(name, points, PALETTE[c % PALETTE.len()])
        })
        .collect();
    let title = if inv.all_probs {
        format!(
            "all ten probabilities over the steps ({} toggles)",
            key(app, Tab::Inversion, Action::AllProbabilities)
        )
    } else {
        format!(
            "p(target) over the steps ({}: all ten)",
            key(app, Tab::Inversion, Action::AllProbabilities)
        )
    };
    ChartSpec::new(
        title,
        AxisSpec::new("step", [0.0, steps]).integer(),
        AxisSpec::new("p", [0.0, 1.0]),
        series,
    )
    .cursor(inv.cursor)
}

//! The Explain tab: which pixels a decision rests on. The image (a test image, a mistake opened
//! from the Confidence tab, the imported file, the drawing, or the inversion's current image, so
//! the map changes while a 3 turns into an 8) beside its attribution map, drawn as a signed heat
//! map (red for the target class, blue against) and laid over the image; every method side by
//! side; the faithfulness and sanity tables of the active model. Maps come from the explain
//! session off the UI thread (the newest request wins); the tables from the explain job.

mod learned;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, key, placeholder, JobState};
use crate::baselines::BaselineKind;
use crate::data::{CLASSES, SIDE};
use crate::explain::faithfulness::Faithfulness;
use crate::explain::sanity::Sanity;
use crate::explain::{max_abs, ImageMaps, Method, Of, Settings, Target};
use crate::jobs::confidence::ModelName;
use crate::jobs::explain::{ExplainEvent, ExplainResult, ModelChoice};
use crate::jobs::explain_session::{
    ExplainRequest, Layers, MapsRequest, ModelSpec, Nearest, SessionEvent,
};
use crate::runs::RunInfo;
use crate::snapshot::to_byte;
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};
use crate::tui::widgets::halfblock::HalfBlockImage;

/// Test images the faithfulness table is measured over (`s`).
pub const FAITHFULNESS_IMAGES: usize = 100;

/// The image explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Test image `ExplainTab::image` (0-based).
    Test,
    /// The image file imported on the Inversion tab.
    File,
    /// The Draw tab's canvas.
    Drawing,
    /// The Inversion tab's current image, followed as it changes.
    Inversion,
}

impl SourceKind {
    fn next(self) -> Self {
        match self {
            Self::Test => Self::File,
            Self::File => Self::Drawing,
            Self::Drawing => Self::Inversion,
            Self::Inversion => Self::Test,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Test => "test image",
            Self::File => "file",
            Self::Drawing => "drawing",
            Self::Inversion => "inversion",
        }
    }
}

/// What the tab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The image, one method's map and its overlay.
    #[default]
    Maps,
    /// Every method's map side by side.
    All,
    /// The CNN's activation maps of the image, strongest first, and conv1's filters.
    Layers,
    /// The training images nearest in the CNN's features and in pixels.
    Lookalikes,
    /// The faithfulness and sanity tables.
    Tables,
}

/// What a request asked for: the image and the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub tag: String,
    pub label: Option<usize>,
    pub pixels: Vec<f32>,
    pub model: ModelChoice,
    /// The CNN's run directory (CNN only).
    pub cnn: Option<std::path::PathBuf>,
}

/// Maps that came back, with what they were made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub asked: Asked,
    /// The session's name for the model.
    pub model: String,
    pub maps: ImageMaps,
    pub skipped: Vec<Method>,
    pub seconds: f64,
    pub layers: Option<Layers>,
    pub nearest: Option<Nearest>,
}

/// Look-alike training images asked for.
pub const LOOKALIKES: usize = 8;

/// The Explain tab's state.
#[derive(Debug, Clone)]
pub struct ExplainTab {
    pub source: SourceKind,
    pub image: usize,
    pub model: ModelChoice,
    pub target: Target,
    /// The method of the Maps view.
    pub method: Method,
    pub settings: Settings,
    pub view: View,
    /// The Maps view shows the overlay instead of the heat map (when not both fit).
    pub overlay: bool,
    /// Id of the newest request sent.
    pub id: u64,
    /// A request is being answered; another change asks again when it is.
    pub waiting: bool,
    pub again: bool,
    /// The newest request's image and model.
    pub asked: Option<Asked>,
    pub shown: Option<Shown>,
    /// The baseline being fitted before its first maps.
    pub fitting: Option<String>,
    /// The faithfulness and sanity job.
    pub job: JobState,
    pub stage: Option<String>,
    pub tables: Option<(Option<RunInfo>, Tables)>,
}

/// The tables of an explain run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    pub model: String,
    pub faithfulness: Option<Faithfulness>,
    pub sanity: Option<Sanity>,
}

impl From<&ExplainResult> for Tables {
    fn from(r: &ExplainResult) -> Self {
        Self {
            model: r.model.clone(),
            faithfulness: r.faithfulness.clone(),
            sanity: r.sanity.clone(),
        }
    }
}

impl Default for ExplainTab {
    fn default() -> Self {
        Self {
            source: SourceKind::Test,
            image: 0,
            model: ModelChoice::Cnn,
            target: Target::Pred,
            method: Method::Saliency,
            settings: Settings::default(),
            view: View::Maps,
            overlay: false,
            id: 0,
            waiting: false,
            again: false,
            asked: None,
            shown: None,
            fitting: None,
            job: JobState::Idle,
            stage: None,
            tables: None,
        }
    }
}

impl ExplainTab {
    pub fn busy(&self) -> bool {
        self.job.busy()
    }
}

/// The models, in the order `m` cycles through them.
const MODELS: [ModelChoice; 6] = [
    ModelChoice::Cnn,
    ModelChoice::Baseline(BaselineKind::Logreg),
    ModelChoice::Baseline(BaselineKind::Knn),
    ModelChoice::Baseline(BaselineKind::Tree),
    ModelChoice::Baseline(BaselineKind::Forest),
    ModelChoice::Baseline(BaselineKind::Svm),
];

fn model_name(choice: ModelChoice) -> String {
    match choice {
        ModelChoice::Cnn => "CNN".into(),
        ModelChoice::Baseline(kind) => kind.to_string(),
    }
}

/// The image of the current source: tag, label and pixels, or why there is none.
fn source_image(app: &App) -> Result<(String, Option<usize>, Vec<f32>), String> {
    let tab = &app.explain;
    match tab.source {
        SourceKind::Test => {
            let data = app.dataset().ok_or("the data is not loaded yet")?;
            let test = &data.test;
            if tab.image >= test.len() {
                return Err(format!("the test split has {} images", test.len()));
            }
            let pixels = test
                .image(tab.image)
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect();
            Ok((
                format!("test-{}", tab.image),
                Some(usize::from(test.labels[tab.image])),
                pixels,
            ))
        }
        SourceKind::File => app
            .inversion
            .file
            .as_ref()
            .map(|f| (f.tag.clone(), f.label, f.pixels.clone()))
            .ok_or_else(|| {
                format!(
                    "no file yet: {} on the Inversion tab opens one",
                    key(app, Tab::Inversion, Action::OpenFile)
                )
            }),
        SourceKind::Drawing => {
            if app.draw.canvas.iter().all(|&v| v == 0.0) {
                return Err("the canvas is empty: draw on the Draw tab".into());
            }
            Ok(("drawing".into(), None, app.draw.canvas.clone()))
        }
        SourceKind::Inversion => app
            .inversion
            .frame
            .as_ref()
            .map(|f| (format!("inversion-step-{}", f.step), None, f.pixels.clone()))
            .ok_or_else(|| "no inversion yet: start one on the Inversion tab".into()),
    }
}

/// Asks the session for the current image's maps (every method, so that switching the
/// method or the view needs no new request); while one is answered, notes to ask again.
pub fn request(app: &mut App) -> Option<Command> {
    if app.explain.waiting {
        app.explain.again = true;
        return None;
    }
    let data = app.dataset()?.clone();
    let cnn = app.active.clone();
    if app.explain.model == ModelChoice::Cnn && cnn.is_none() {
        return None;
    }
    let (tag, label, pixels) = match source_image(app) {
        Ok(image) => image,
        Err(e) => {
            app.messages.info(format!("explain: {e}"));
            return None;
        }
    };
    let config = &app.settings.config;
    let model = ModelSpec {
        choice: app.explain.model,
        cnn,
        device: config.train.device.clone(),
        data,
        baselines: config.baselines.clone(),
    };
    let tab = &mut app.explain;
    tab.id += 1;
    tab.waiting = true;
    tab.asked = Some(Asked {
        tag: tag.clone(),
        label,
        pixels: pixels.clone(),
        model: model.choice,
        cnn: model.cnn.as_ref().map(|r| r.dir.clone()),
    });
    Some(Command::Explain(ExplainRequest::Maps(Box::new(
        MapsRequest {
            id: tab.id,
            model,
            tag,
            label,
            pixels,
            target: tab.target,
            methods: Method::ALL.to_vec(),
            settings: tab.settings,
            layers: true,
            lookalikes: (tab.view == View::Lookalikes).then_some(LOOKALIKES),
        },
    ))))
}

/// The session answered.
pub fn on_session(app: &mut App, event: SessionEvent) -> Option<Command> {
    let tab = &mut app.explain;
    match event {
        SessionEvent::Fitting { model, .. } => {
            tab.fitting = Some(model);
            return None;
        }
        SessionEvent::Maps {
            id,
            model,
            maps,
            skipped,
            seconds,
            layers,
            nearest,
        } if id == tab.id => {
            tab.fitting = None;
            let asked = tab.asked.clone()?;
            tab.shown = Some(Shown {
                asked,
                model,
                maps,
                skipped,
                seconds,
                layers,
                nearest,
            });
        }
        SessionEvent::Failed { id, message } if id == tab.id || id == 0 => {
            tab.fitting = None;
            app.messages.error(format!("explain: {message}"));
        }
        _ => {}
    }
    let tab = &mut app.explain;
    tab.waiting = false;
    if std::mem::take(&mut tab.again) {
        return request(app);
    }
    None
}

/// The Inversion tab has a new image: followed when it is the source shown.
pub fn on_inversion_frame(app: &mut App) -> Option<Command> {
    (app.tab == Tab::Explain && app.explain.source == SourceKind::Inversion)
        .then(|| request(app))
        .flatten()
}

/// Entering the tab: maps for what it shows now, unless those shown are of it (the drawing,
/// the inversion, the active model may have changed meanwhile).
pub fn on_enter(app: &mut App) -> Option<Command> {
    let tab = &app.explain;
    let current = source_image(app).ok();
    let cnn = app.active.as_ref().map(|r| r.dir.clone());
    let same = tab.shown.as_ref().is_some_and(|s| {
        let a = &s.asked;
        Some(&a.pixels) == current.as_ref().map(|c| &c.2)
            && a.model == tab.model
            && (a.model != ModelChoice::Cnn || a.cnn == cnn)
    });
    if same {
        return None;
    }
    request(app)
}

/// Opens test image `index` as the model `model` classified it (a Confidence mistake).
pub fn open_mistake(app: &mut App, index: usize, model: ModelName) -> Option<Command> {
    let tab = &mut app.explain;
    tab.source = SourceKind::Test;
    tab.image = index;
    tab.target = Target::Pred;
    tab.model = model
        .baseline()
        .map_or(ModelChoice::Cnn, ModelChoice::Baseline);
    if tab.model != ModelChoice::Cnn && tab.method.needs_gradients() {
        tab.method = Method::Occlusion;
    }
    app.tab = Tab::Explain;
    app.messages.move_on();
    request(app)
}

/// Handles a key on the Explain tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let tab = &mut app.explain;
    match action {
        Action::Left | Action::Right => {
            let n = app.dataset().map_or(0, |d| d.test.len());
            let tab = &mut app.explain;
            if tab.source != SourceKind::Test || n == 0 {
                tab.source = SourceKind::Test;
            } else {
                let delta = if action == Action::Left { -1 } else { 1 };
                tab.image = super::step_cursor(tab.image, delta, n);
            }
        }
        Action::CycleSource => tab.source = tab.source.next(),
        Action::TargetUp | Action::TargetDown => {
            // pred, true, 0, 1, ..., 9 and round.
            let order: Vec<Target> = [Target::Pred, Target::True]
                .into_iter()
                .chain((0..CLASSES).map(Target::Class))
                .collect();
            let at = order.iter().position(|t| *t == tab.target).unwrap_or(0);
            let delta = if action == Action::TargetUp { 1 } else { -1 };
            tab.target = order[super::step_cursor(at, delta, order.len())];
        }
        Action::Up | Action::Down => {
            let at = Method::ALL
                .iter()
                .position(|m| *m == tab.method)
                .unwrap_or(0);
            let delta = if action == Action::Up { -1 } else { 1 };
            tab.method = Method::ALL[super::step_cursor(at, delta, Method::ALL.len())];
            return None;
        }
        Action::ToggleModel => {
            let at = MODELS.iter().position(|m| *m == tab.model).unwrap_or(0);
            tab.model = MODELS[(at + 1) % MODELS.len()];
            match tab.model {
                ModelChoice::Cnn => {}
                ModelChoice::Baseline(BaselineKind::Logreg) => app.messages.info(
                    "explain: logreg, fitted first: its gradients are its weights (no Grad-CAM)",
                ),
                other => app.messages.info(format!(
                    "explain: {}, fitted first: occlusion of the probability only (no gradients)",
                    model_name(other)
                )),
            }
        }
        Action::ToggleScore => {
            tab.settings.of = match tab.settings.of {
                Of::Logit => Of::Prob,
                Of::Prob => Of::Logit,
            };
        }
        Action::CycleView => {
            tab.view = match tab.view {
                View::Maps => View::All,
                View::All => View::Layers,
                View::Layers => View::Lookalikes,
                View::Lookalikes => View::Tables,
                View::Tables => View::Maps,
            };
            // The look-alikes are asked for when first shown.
            let missing = tab.shown.as_ref().is_some_and(|s| s.nearest.is_none());
            if !(tab.view == View::Lookalikes && missing) {
                return None;
            }
        }
        Action::ToggleOverlay => {
            tab.overlay = !tab.overlay;
            return None;
        }
        Action::Start => return start_tables(app),
        Action::Cancel if tab.busy() => {
            tab.job = JobState::Stopping;
            return Some(Command::Cancel(JobKind::Explain));
        }
        _ => return None,
    }
    if app.explain.model == ModelChoice::Cnn && app.active.is_none() {
        app.messages
            .info("explain: no active CNN: train one (1, s) or pick one (2, Enter)");
        return None;
    }
    request(app)
}

/// `s`: the faithfulness table over the first test images and the sanity check of the image
/// shown, for the model chosen, as an explain run.
fn start_tables(app: &mut App) -> Option<Command> {
    if app.heavy_job_running() || app.explain.busy() {
        app.messages
            .info("a job is running: wait for it or cancel it (x on its tab)");
        return None;
    }
    super::training::ready_data(app)?;
    if app.explain.model == ModelChoice::Cnn && app.active.is_none() {
        app.messages
            .info("explain: no active CNN: train one (1, s) or pick one (2, Enter)");
        return None;
    }
    let image = match source_image(app) {
        Ok(image) => image,
        Err(e) => {
            app.messages.info(format!("explain: {e}"));
            return None;
        }
    };
    let tab = &mut app.explain;
    tab.job = JobState::Starting;
    tab.stage = None;
    app.messages.info(format!(
        "explain: faithfulness over {FAITHFULNESS_IMAGES} test images{}...",
        if tab.model == ModelChoice::Cnn {
            " and the sanity check"
        } else {
            ""
        }
    ));
    Some(Command::StartExplain {
        cnn: app.active.clone(),
        model: app.explain.model,
        image,
        target: app.explain.target,
        settings: app.explain.settings,
        images: FAITHFULNESS_IMAGES,
    })
}

/// The job started writing `run`.
pub fn on_started(app: &mut App, run: RunInfo) {
    app.explain.job = JobState::Running;
    let model = model_name(app.explain.model);
    app.explain.tables = Some((
        Some(run),
        Tables {
            model,
            ..Tables::default()
        },
    ));
}

/// An event of the job.
pub fn on_event(app: &mut App, event: ExplainEvent) {
    let tab = &mut app.explain;
    let result = &mut tab.tables.get_or_insert_with(Default::default).1;
    match event {
        ExplainEvent::Stage { name, images } => {
            tab.stage = Some(format!("{name}, {images} images"))
        }
        ExplainEvent::Fitting { model, .. } => tab.stage = Some(format!("fitting {model}")),
        ExplainEvent::Faithfulness(f) => result.faithfulness = Some(f),
        ExplainEvent::Sanity(s) => result.sanity = Some(s),
        ExplainEvent::Png { path } => app
            .messages
            .info(format!("explain: grid saved: {}", path.display())),
        ExplainEvent::Notice { message } => app.messages.info(message),
        _ => {}
    }
}

/// The job ended.
pub fn on_ended(app: &mut App, result: Result<ExplainResult, String>) -> Vec<Command> {
    let tab = &mut app.explain;
    tab.job = JobState::Idle;
    tab.stage = None;
    let result = result.map(|r| (r.complete, Tables::from(&r)));
    let mut shown = tab.tables.take().map(|(run, t)| (run, (true, t)));
    let commands = super::job_ended(
        &mut shown,
        &mut app.messages,
        "explain",
        result,
        |(complete, t)| {
            if *complete {
                format!("explain: the tables of {} are ready", t.model)
            } else {
                "explain: cancelled (what was measured is kept)".into()
            }
        },
    );
    app.explain.tables = shown.map(|(run, (_, t))| (run, t));
    commands
}

/// A map scaled by its largest magnitude into [-1, 1].
fn normalised(map: &[f32]) -> Vec<f32> {
    let m = max_abs(map).max(f32::MIN_POSITIVE);
    map.iter().map(|v| v / m).collect()
}

fn class_name(app: &App, c: usize) -> String {
    let names = app.class_names();
    match names.get(c) {
        Some(n) if *n != c.to_string() => format!("{c} {n}"),
        _ => c.to_string(),
    }
}

fn target_label(target: Target) -> String {
    match target {
        Target::Pred => "the prediction".into(),
        Target::True => "the label".into(),
        Target::Class(_) => "a class chosen with t".into(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.explain;
    let [main, hint] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    frame.render_widget(Paragraph::new(hints(app)).dim(), hint);
    if app.explain.model == ModelChoice::Cnn && app.active.is_none() {
        frame.render_widget(
            placeholder(
                "Explain",
                "No active CNN: train one (1, s) or pick one on the Runs tab (2, Enter); m explains a baseline instead.".into(),
            ),
            main,
        );
        return;
    }
    match tab.view {
        View::Tables => tables(frame, main, app),
        View::All => all_methods(frame, main, app),
        View::Layers => learned::layers(frame, main, app),
        View::Lookalikes => learned::lookalikes(frame, main, app),
        View::Maps => {
            let top_h = 16.min(main.height);
            let [top, rest] =
                Layout::vertical([Constraint::Length(top_h), Constraint::Min(0)]).areas(main);
            maps(frame, top, app);
            if rest.height >= 6 {
                tables(frame, rest, app);
            }
        }
    }
}

fn hints(app: &App) -> Line<'static> {
    let k = |a| key(app, Tab::Explain, a);
    // The first key of an action (arrows rather than their letter twins).
    let first = |a| k(a).split('/').next().unwrap_or_default().to_string();
    Line::from(format!(
        "{}{} image {} source {} target {}{} method {} model {} logit/p {} view {} overlay {} tables",
        first(Action::Left),
        first(Action::Right),
        k(Action::CycleSource),
        k(Action::TargetUp),
        first(Action::Up),
        first(Action::Down),
        k(Action::ToggleModel),
        k(Action::ToggleScore),
        k(Action::CycleView),
        k(Action::ToggleOverlay),
        k(Action::Start),
    ))
}

/// The image, the map of the method chosen and its overlay, and what they are.
fn maps(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.explain;
    let both = area.width >= 3 * 30 + 26;
    let mut widths = vec![Constraint::Length(30), Constraint::Length(30)];
    if both {
        widths.push(Constraint::Length(30));
    }
    widths.push(Constraint::Min(20));
    let panels = Layout::horizontal(widths).split(area);
    let Some(shown) = &tab.shown else {
        let text = if tab.waiting {
            match &tab.fitting {
                Some(m) => format!("fitting {m} on the training split..."),
                None => "computing the maps...".into(),
            }
        } else {
            "no maps yet".into()
        };
        frame.render_widget(placeholder("Explain", text), area);
        return;
    };
    let grey: Vec<u8> = shown.asked.pixels.iter().map(|&v| to_byte(v)).collect();
    let tag = &shown.asked.tag;
    let title = if tag.len() + tab.source.name().len() + 3 <= 26 {
        format!("{tag} ({})", tab.source.name())
    } else {
        tag.clone()
    };
    let image_block = block(&title);
    let inner = image_block.inner(panels[0]);
    frame.render_widget(image_block, panels[0]);
    frame.render_widget(HalfBlockImage::new(&grey, app.color), inner);
    let map = shown.maps.map(tab.method).map(normalised);
    let mut at = 1;
    let heat_title = format!("{} map", tab.method);
    let overlay_title = format!("{} over the image", tab.method);
    let mut panel = |title: &str, overlay: bool, area: Rect| {
        let b = block(title);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        match &map {
            Some(m) if overlay => {
                frame.render_widget(HalfBlockImage::overlay(&grey, m, app.color), inner)
            }
            Some(m) => frame.render_widget(HalfBlockImage::signed(m, app.color), inner),
            None => frame.render_widget(
                Paragraph::new(format!("no {} for {}", tab.method, shown.model))
                    .wrap(ratatui::widgets::Wrap { trim: true })
                    .dim(),
                inner,
            ),
        }
    };
    if both {
        panel(&heat_title, false, panels[1]);
        panel(&overlay_title, true, panels[2]);
        at = 3;
    } else if tab.overlay {
        panel(&overlay_title, true, panels[1]);
        at = 2;
    } else {
        panel(&heat_title, false, panels[1]);
        at += 1;
    }
    info(frame, panels[at], app, shown);
}

/// What the maps shown are of.
fn info(frame: &mut Frame, area: Rect, app: &App, shown: &Shown) {
    let tab = &app.explain;
    let probs = &shown.maps.probs;
    let pred = probs
        .iter()
        .enumerate()
        .fold(0, |best, (c, p)| if *p > probs[best] { c } else { best });
    let t = shown.maps.target;
    let mut lines = vec![
        Line::from(match shown.asked.label {
            Some(l) => format!("label {}", class_name(app, l)),
            None => "no label".into(),
        }),
        Line::from(format!(
            "pred  {} p={:.3}",
            class_name(app, pred),
            probs[pred]
        )),
        Line::from(format!(
            "target {} p={:.3}",
            class_name(app, t),
            probs.get(t).copied().unwrap_or(0.0)
        ))
        .yellow(),
        Line::from(format!("  ({})", target_label(tab.target))).dim(),
        Line::from(format!(
            "of the {}",
            match tab.settings.of {
                Of::Logit => "logit",
                Of::Prob => "probability",
            }
        )),
        Line::from(format!("model {}", shown.model)),
        Line::from(format!("method {}", tab.method)).bold(),
        Line::from(vec!["red +".red(), ", ".into(), "blue −".blue()]),
    ];
    if let Some(m) = shown.maps.map(tab.method) {
        lines.push(Line::from(format!("max |map| {:.3e}", max_abs(m))));
    }
    if let (Method::Ig, Some(d)) = (tab.method, shown.maps.ig_delta) {
        lines.push(Line::from(format!("IG delta {d:.2e}")));
    }
    lines.push(Line::from(format!(
        "{:.1} ms, {} methods",
        1000.0 * shown.seconds,
        shown.maps.maps.len()
    )));
    if !shown.skipped.is_empty() {
        let names: Vec<&str> = shown.skipped.iter().map(|m| m.name()).collect();
        lines.push(Line::from(format!("none: {}", names.join(" "))).dim());
    }
    if tab.waiting {
        lines.push(Line::from("updating...").dim());
    }
    frame.render_widget(Paragraph::new(lines).block(block("explain")), area);
}

/// Every method's map side by side, with the image first: full size when two rows of them fit,
/// else at half size.
fn all_methods(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.explain;
    let Some(shown) = &tab.shown else {
        frame.render_widget(placeholder("Explain", "no maps yet".into()), area);
        return;
    };
    let tiles = 1 + Method::ALL.len();
    let full = {
        let per_row = (area.width / 30).max(1) as usize;
        tiles.div_ceil(per_row) * 16 <= area.height as usize
    };
    let (tile_w, tile_h) = if full { (30, 16) } else { (16, 9) };
    let per_row = (area.width / tile_w).max(1) as usize;
    let prepare = |v: &[f32]| {
        if full {
            v.to_vec()
        } else {
            learned::shrink(v, SIDE).0
        }
    };
    let side = if full { SIDE } else { SIDE / 2 };
    let image = prepare(&shown.asked.pixels);
    let grey: Vec<u8> = image.iter().map(|&v| to_byte(v)).collect();
    for i in 0..tiles {
        let (row, col) = (i / per_row, i % per_row);
        let rect = Rect::new(
            area.x + col as u16 * tile_w,
            area.y + row as u16 * tile_h,
            tile_w,
            tile_h,
        )
        .intersection(area);
        if rect.is_empty() {
            continue;
        }
        if i == 0 {
            let b = block(&shown.asked.tag);
            let inner = b.inner(rect);
            frame.render_widget(b, rect);
            frame.render_widget(HalfBlockImage::new(&grey, app.color).sized(side), inner);
            continue;
        }
        let method = Method::ALL[i - 1];
        let title = if method == tab.method {
            format!("[{method}]")
        } else {
            method.to_string()
        };
        let b = block(&title);
        let inner = b.inner(rect);
        frame.render_widget(b, rect);
        match shown.maps.map(method) {
            Some(m) => {
                let m = prepare(&normalised(m));
                frame.render_widget(HalfBlockImage::signed(&m, app.color).sized(side), inner);
            }
            None => frame.render_widget(Paragraph::new("n/a").dim(), inner),
        }
    }
}

/// The faithfulness and sanity tables of the newest explain run of the active model.
fn tables(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.explain;
    let k = |a| key(app, Tab::Explain, a);
    let shown = tab.tables.as_ref();
    let result = shown.map(|(_, r)| r);
    let mut title = "faithfulness and sanity".to_string();
    if let Some(f) = shown.and_then(|(_, r)| r.faithfulness.as_ref()) {
        title = format!("faithfulness ({} test images) and sanity", f.images);
    }
    if let Some((run, r)) = shown {
        if !r.model.is_empty() {
            title = format!("{title}: {}", r.model);
        }
        if let Some(run) = run {
            title = format!("{title} (run {})", run.name);
        }
    }
    if tab.busy() {
        title = format!(
            "{title} - {}{}",
            tab.job.label(),
            tab.stage
                .as_ref()
                .map_or(String::new(), |s| format!(" {s}"))
        );
    }
    let faith = result.and_then(|r| r.faithfulness.as_ref());
    let sanity = result.and_then(|r| r.sanity.as_ref());
    if faith.is_none() && sanity.is_none() {
        let text = if tab.busy() {
            "measuring: deletion and insertion curves over the test images, then the sanity check..."
                .to_string()
        } else {
            format!(
                "No tables yet. {} measures how far to trust each method: the deletion and insertion AUC over {FAITHFULNESS_IMAGES} test images, and (CNN) the sanity check of Adebayo et al., maps again after randomising the layers from the top.",
                k(Action::Start)
            )
        };
        frame.render_widget(placeholder(&title, text), area);
        return;
    }
    let b = block(&title);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let side = inner.width >= 100;
    let faith_rows = faith.map_or(0, |f| f.rows.len() as u16 + 2);
    let [left, right] = if side {
        Layout::horizontal([Constraint::Length(48), Constraint::Min(0)]).areas(inner)
    } else {
        Layout::vertical([Constraint::Length(faith_rows), Constraint::Min(0)]).areas(inner)
    };
    if let Some(f) = faith {
        let rows = f.rows.iter().map(|r| {
            Row::new([
                Cell::from(r.method.clone()),
                Cell::from(format!("{:>8.3}", r.deletion_auc)),
                Cell::from(format!("{:>9.3}", r.insertion_auc)),
                Cell::from(format!("{:>8.2}", 1000.0 * r.seconds_per_image)),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Length(11),
                Constraint::Length(10),
                Constraint::Length(11),
                Constraint::Length(10),
            ],
        )
        .header(
            Row::new(["method", "deletion", "insertion", "ms/image"])
                .style(Style::default().fg(Color::Cyan)),
        );
        table_with_note(
            frame,
            left,
            table,
            f.rows.len(),
            "AUC: deletion low, insertion high is good",
        );
    }
    if let Some(s) = sanity {
        // Each step randomises one more layer, from the top: named by the layer it adds.
        let mut header = vec!["method".to_string()];
        header.extend(s.steps.iter().map(|step| {
            let layer = step.rsplit('+').next().unwrap_or(step);
            format!("+{layer}")
        }));
        header.push("verdict".into());
        let rows = s.rows.iter().map(|r| {
            let mut cells = vec![Cell::from(r.method.clone())];
            cells.extend(
                r.correlations
                    .iter()
                    .map(|c| Cell::from(format!("{c:>5.2}"))),
            );
            cells.push(if r.explains {
                Cell::from("explains").green()
            } else {
                Cell::from("NOT explaining").red()
            });
            Row::new(cells)
        });
        let mut widths = vec![Constraint::Length(11)];
        widths.extend(s.steps.iter().map(|_| Constraint::Length(7)));
        widths.push(Constraint::Min(8));
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(Style::default().fg(Color::Cyan)));
        table_with_note(
            frame,
            right,
            table,
            s.rows.len(),
            "Spearman with the map, layers randomised from the top",
        );
    } else if faith.is_some() && right.height > 0 {
        frame.render_widget(
            Paragraph::new("sanity check: CNN only (it randomises the network's layers)").dim(),
            right,
        );
    }
}

/// A table of `rows` rows (and its header) with a dim line of explanation right under it.
fn table_with_note(frame: &mut Frame, area: Rect, table: Table, rows: usize, note: &str) {
    let [t, below] =
        Layout::vertical([Constraint::Length(rows as u16 + 1), Constraint::Length(1)]).areas(area);
    frame.render_widget(table, t);
    frame.render_widget(Paragraph::new(note.to_string()).dim(), below);
}

//! `update`: folds one message (a key, the mouse, a job event) into the [`App`] state. Pure: the
//! effects it needs come back as [`Command`]s for the event loop to carry out. Global keys and
//! overlays are handled here; everything else goes to the tab's own module.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};

use super::app::{App, DataState, Overlay, PromptPurpose, Tab};
use super::keys::Action;
use super::msg::{Command, JobKind, Msg, Saved};
use super::tabs::{
    ablation, baselines, confidence, draw, explain, inversion, robustness, runs, sweep, training,
    JobState,
};
use super::view::{body_area, MIN_HEIGHT, MIN_WIDTH};
use crate::data::DatasetKind;
use crate::jobs::invert::InvEvent;
use crate::runs::{RunInfo, RunKind, RunState};

/// Applies `msg` to `app`; returns the effects to run.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(key) => on_key(app, &key),
        Msg::Mouse(event) if app.overlay == Overlay::None => on_mouse(app, event),
        Msg::Mouse(_) => Vec::new(),
        Msg::Resize(w, h) => {
            app.screen = (w, h);
            Vec::new()
        }
        Msg::DataLoaded(Ok((data, notice))) => {
            app.dataset_kind = data.kind;
            match notice {
                Some(n) => app.messages.info(n),
                None => app
                    .messages
                    .info(format!("data: {}", crate::runs::DataIdentity::of(&data))),
            }
            app.data = DataState::Ready(data);
            // The active model must be one of this data set: chosen again from the runs.
            if app
                .active
                .as_ref()
                .is_some_and(|a| a.record.data.dataset != app.dataset_kind)
            {
                app.active = None;
            }
            app.inversion.clear();
            vec![Command::RefreshRuns, Command::LoadSaved]
        }
        Msg::DataLoaded(Err(e)) => {
            app.messages.error(format!("data: {e}"));
            app.data = DataState::Failed(e);
            Vec::new()
        }
        Msg::Runs(list) => on_runs(app, list),
        Msg::DamagedRuns(damaged) => {
            app.runs.damaged = damaged;
            Vec::new()
        }
        Msg::History(dir, history) => {
            app.runs.set_history(dir, history);
            Vec::new()
        }
        Msg::Saved(saved) => {
            on_saved(app, *saved);
            Vec::new()
        }
        Msg::Reload => vec![Command::RefreshRuns, Command::ReloadStudy],
        Msg::StudyReloaded(found) => {
            // A study this dashboard runs is shown from its own events.
            if let (false, Some(found)) = (app.ablation.busy(), found) {
                let (run, result, elsewhere) = *found;
                let mut study = ablation::Study::saved(&run, &result);
                study.elsewhere = elsewhere;
                app.ablation.study = Some(study);
            }
            Vec::new()
        }
        Msg::Started(kind, run) => {
            match kind {
                JobKind::Train => training::on_started(app, run),
                JobKind::Ablate => {}
                JobKind::Baselines => baselines::on_started(app, run),
                JobKind::Confidence => confidence::on_started(app, run),
                JobKind::Robustness => robustness::on_started(app, run),
                JobKind::Explain => explain::on_started(app, run),
                JobKind::InvertSweep => sweep::on_started(app, run),
            }
            Vec::new()
        }
        Msg::Train(event) => {
            training::on_event(app, event);
            Vec::new()
        }
        Msg::TrainEnded(result) => training::on_ended(app, result),
        Msg::Ablation(event) => {
            ablation::on_event(app, event);
            Vec::new()
        }
        Msg::AblationEnded(result) => ablation::on_ended(app, result),
        Msg::Baselines(event) => {
            baselines::on_event(app, event);
            Vec::new()
        }
        Msg::BaselinesEnded(result) => baselines::on_ended(app, result),
        Msg::Confidence(event) => {
            confidence::on_event(app, event);
            Vec::new()
        }
        Msg::ConfidenceEnded(result) => confidence::on_ended(app, result),
        Msg::Robustness(event) => {
            robustness::on_event(app, event);
            Vec::new()
        }
        Msg::RobustnessEnded(result) => robustness::on_ended(app, result),
        Msg::Inversion(InvEvent::Classified { id, probs }) => {
            draw::on_probs(app, id, probs).into_iter().collect()
        }
        Msg::Inversion(event) => {
            let frame = matches!(event, InvEvent::Frame { .. });
            inversion::on_event(app, event);
            // The Explain tab follows the inversion's image.
            frame
                .then(|| explain::on_inversion_frame(app))
                .flatten()
                .into_iter()
                .collect()
        }
        Msg::Sweep(event) => {
            sweep::on_event(app, event);
            Vec::new()
        }
        Msg::SweepEnded(result) => sweep::on_ended(app, result),
        Msg::ExplainSession(event) => explain::on_session(app, event).into_iter().collect(),
        Msg::Explain(event) => {
            explain::on_event(app, event);
            Vec::new()
        }
        Msg::ExplainEnded(result) => explain::on_ended(app, result),
        Msg::Imported(Ok(image)) => {
            app.messages.info(format!("imported {}", image.tag));
            inversion::open_image(app, image, inversion::SourceKind::File)
                .into_iter()
                .collect()
        }
        Msg::Imported(Err(e)) => {
            app.messages.error(e);
            Vec::new()
        }
        Msg::Attached(run) => {
            let t = &mut app.training;
            t.job = JobState::Attached;
            t.history.clear();
            t.loss_curve.clear();
            t.acc_curve.clear();
            t.progress = None;
            app.messages.info(format!(
                "attached to {}: following its events",
                run.dir.display()
            ));
            t.run = Some(run);
            Vec::new()
        }
        Msg::AttachLost(e) => {
            app.messages.error(format!("attach: {e}"));
            Vec::new()
        }
        Msg::StartFailed(kind, e) => {
            match kind {
                JobKind::Train => app.training.job = JobState::Idle,
                JobKind::Ablate => app.ablation.job = JobState::Idle,
                JobKind::Baselines => {
                    app.baselines.job = JobState::Idle;
                    app.baselines.steps.clear();
                }
                JobKind::Confidence => app.confidence.job = JobState::Idle,
                JobKind::Robustness => app.robustness.job = JobState::Idle,
                JobKind::Explain => app.explain.job = JobState::Idle,
                JobKind::InvertSweep => app.inversion.sweep.job = JobState::Idle,
            }
            app.messages.error(e);
            Vec::new()
        }
        Msg::Notice(text) => {
            app.messages.info(text);
            Vec::new()
        }
        Msg::Failure(text) => {
            app.messages.error(text);
            Vec::new()
        }
        Msg::Terminate { reason, status } => {
            app.messages.info(format!("{reason}: saving and quitting"));
            app.quit = true;
            app.signalled.get_or_insert(status);
            Vec::new()
        }
    }
}

/// A new listing of the runs: the active model is kept current, or chosen when there is none.
fn on_runs(app: &mut App, list: Vec<RunInfo>) -> Vec<Command> {
    app.runs.set_list(list);
    let mut commands = Vec::new();
    if let Some(dir) = app.active.as_ref().map(|a| a.dir.clone()) {
        if let Some(fresh) = app.runs.list.iter().find(|r| r.dir == dir) {
            app.active = Some(fresh.clone());
        }
        app.runs.follow(&dir);
        // The shown run's record (state, epochs) is kept current too.
        if let Some(shown) = &app.training.run {
            if let Some(fresh) = app.runs.list.iter().find(|r| r.dir == shown.dir) {
                app.training.run = Some(fresh.clone());
            }
        }
        return commands;
    }
    let Some(identity) = app.identity() else {
        return commands;
    };
    let choice = match app.wanted_run.take() {
        Some(name) => {
            let found = app
                .runs
                .list
                .iter()
                .find(|r| r.name == name || r.dir == std::path::Path::new(&name))
                .cloned();
            if found.is_none() {
                app.messages.error(format!(
                    "--run {name}: no such run under the runs directory"
                ));
            }
            found
        }
        None => app
            .runs
            .list
            .iter()
            .find(|r| {
                r.record.kind == RunKind::Train
                    && r.state() == RunState::Finished
                    && r.record.data.same_data(&identity)
            })
            .cloned(),
    };
    if let Some(run) = choice {
        commands.extend(runs::activate(app, run));
    }
    commands
}

/// Saved results of the data in use: shown where this session has none of its own.
fn on_saved(app: &mut App, saved: Saved) {
    if !app.ablation.busy() {
        if let Some((run, result)) = &saved.ablation {
            app.ablation.study = Some(ablation::Study::saved(run, result));
        }
    }
    if !app.baselines.busy() {
        app.baselines.result = saved.baselines.map(|(run, r)| (Some(run), r));
    }
    if !app.confidence.busy() {
        app.confidence.result = saved.confidence.map(|(run, r)| (Some(run), r));
        app.confidence.selected = 0;
        app.confidence.mistake = 0;
    }
    if !app.robustness.busy() {
        app.robustness.result = saved.robustness.map(|(run, r)| (Some(run), r));
    }
    if !app.explain.busy() {
        app.explain.tables = saved
            .explain
            .map(|(run, r)| (Some(run), explain::Tables::from(&r)));
    }
}

fn on_key(app: &mut App, key: &KeyEvent) -> Vec<Command> {
    if key.kind != KeyEventKind::Press {
        return Vec::new();
    }
    let action = app.keys.action_for(app.tab, key);
    if action == Some(Action::ForceQuit) {
        app.quit = true;
        return Vec::new();
    }
    if action == Some(Action::Suspend) {
        return vec![Command::Suspend];
    }
    let (w, h) = app.screen;
    if w < MIN_WIDTH || h < MIN_HEIGHT {
        // Behind the "too small" screen only the quit keys act.
        if action == Some(Action::Quit) {
            return quit(app);
        }
        return Vec::new();
    }
    match app.overlay.clone() {
        Overlay::ConfirmQuit => {
            app.overlay = Overlay::None;
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('q')) {
                app.quit = true;
            }
            return Vec::new();
        }
        Overlay::Help if matches!(key.code, KeyCode::Esc) || action == Some(Action::ToggleHelp) => {
            app.overlay = Overlay::None;
            return Vec::new();
        }
        Overlay::Help => return Vec::new(),
        Overlay::Messages { scroll } => {
            app.overlay = match key.code {
                KeyCode::Up | KeyCode::Char('k') => Overlay::Messages { scroll: scroll + 1 },
                KeyCode::Down | KeyCode::Char('j') => Overlay::Messages {
                    scroll: scroll.saturating_sub(1),
                },
                KeyCode::PageUp => Overlay::Messages {
                    scroll: scroll + 10,
                },
                KeyCode::PageDown => Overlay::Messages {
                    scroll: scroll.saturating_sub(10),
                },
                _ => Overlay::None,
            };
            return Vec::new();
        }
        Overlay::Prompt(prompt) => return on_prompt_key(app, prompt, key),
        Overlay::None => {}
    }
    let Some(action) = action else {
        return Vec::new();
    };
    on_action(app, action)
}

fn quit(app: &mut App) -> Vec<Command> {
    if app.job_running() {
        app.overlay = Overlay::ConfirmQuit;
    } else {
        app.quit = true;
    }
    Vec::new()
}

fn on_action(app: &mut App, action: Action) -> Vec<Command> {
    match action {
        Action::Quit => quit(app),
        Action::ForceQuit => {
            app.quit = true;
            Vec::new()
        }
        Action::Suspend => vec![Command::Suspend],
        Action::NextTab => go(app, app.tab.shifted(1)),
        Action::PrevTab => go(app, app.tab.shifted(-1)),
        Action::GoTo(tab) => go(app, tab),
        Action::ToggleHelp => {
            app.overlay = Overlay::Help;
            Vec::new()
        }
        Action::ShowMessages => {
            app.overlay = Overlay::Messages { scroll: 0 };
            Vec::new()
        }
        _ => {
            let one = |c: Option<Command>| c.into_iter().collect::<Vec<_>>();
            if action == Action::ExportChart {
                return export_charts(app);
            }
            match app.tab {
                Tab::Training => training::on_action(app, action),
                Tab::Runs => runs::on_action(app, action),
                Tab::Ablation => one(ablation::on_action(app, action)),
                Tab::Baselines => one(baselines::on_action(app, action)),
                Tab::Confidence => one(confidence::on_action(app, action)),
                Tab::Robustness => one(robustness::on_action(app, action)),
                Tab::Inversion => one(inversion::on_action(app, action)),
                Tab::Draw => one(draw::on_action(app, action)),
                Tab::Explain => one(explain::on_action(app, action)),
            }
        }
    }
}

/// The tab's charts as pictures (the export key): the same charts the screen draws.
fn export_charts(app: &mut App) -> Vec<Command> {
    use crate::text::charts::Figure;
    use crate::text::results;
    let charts: Vec<(Figure, String)> = match app.tab {
        Tab::Training => {
            let (loss, accuracy) = training::charts_of(app);
            vec![
                (Figure::from(&loss), "training-loss".into()),
                (Figure::from(&accuracy), "training-accuracy".into()),
            ]
        }
        Tab::Confidence => match app.confidence.model() {
            Some(m) => vec![
                (
                    Figure::from(&results::histogram_chart(
                        m,
                        app.confidence.log,
                        crate::text::charts::PALETTE[0],
                    )),
                    format!("confidence-{}", m.label),
                ),
                (
                    Figure::from(&results::reliability_chart(
                        m,
                        crate::text::charts::PALETTE[0],
                    )),
                    format!("reliability-{}", m.label),
                ),
            ],
            None => Vec::new(),
        },
        Tab::Robustness => match app.robustness.shown() {
            Some((_, r)) => {
                let title = format!(
                    "accuracy under Gaussian noise ({} test images)",
                    r.noise_images
                );
                vec![(
                    Figure::from(&results::noise_chart(r, title)),
                    "robustness".into(),
                )]
            }
            None => Vec::new(),
        },
        Tab::Inversion if !app.inversion.history.is_empty() => {
            vec![(
                Figure::from(&inversion::history_spec(app)),
                "inversion-p".into(),
            )]
        }
        _ => Vec::new(),
    };
    if charts.is_empty() {
        app.messages.info("no chart to save yet");
        return Vec::new();
    }
    app.messages.info("saving the chart as PNG and SVG...");
    vec![Command::ExportCharts(charts)]
}

/// The mouse: a click on a tab's title opens it, the wheel moves through the tab's list, a
/// click on a row of the Runs or Baselines list selects it; the Draw tab paints.
fn on_mouse(app: &mut App, event: MouseEvent) -> Vec<Command> {
    let (w, h) = app.screen;
    let screen = ratatui::layout::Rect::new(0, 0, w, h);
    let body = body_area(screen);
    let click = matches!(event.kind, MouseEventKind::Down(MouseButton::Left));
    if click && event.row == 0 {
        return match super::view::tab_at(app, w, event.column) {
            Some(tab) => go(app, tab),
            None => Vec::new(),
        };
    }
    if app.tab == Tab::Draw {
        return draw::on_mouse(app, body, event).into_iter().collect();
    }
    let scrolls = matches!(
        app.tab,
        Tab::Runs | Tab::Baselines | Tab::Confidence | Tab::Robustness
    );
    match event.kind {
        MouseEventKind::ScrollUp if scrolls => on_action(app, Action::Up),
        MouseEventKind::ScrollDown if scrolls => on_action(app, Action::Down),
        MouseEventKind::Down(MouseButton::Left) => {
            match app.tab {
                Tab::Runs => runs::click(app, body, event.row),
                Tab::Baselines => baselines::click(app, body, event.column, event.row),
                _ => {}
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn go(app: &mut App, tab: Tab) -> Vec<Command> {
    if app.tab != tab {
        // Another tab: the last tab's news leaves the status line (the log keeps it).
        app.messages.move_on();
    }
    app.tab = tab;
    match tab {
        Tab::Runs => vec![Command::RefreshRuns],
        Tab::Explain => explain::on_enter(app).into_iter().collect(),
        // The source's probabilities show at once, not after the first arrow key.
        Tab::Inversion
            if !app.inversion.active
                && app.active.is_some()
                && matches!(app.data, super::app::DataState::Ready(_)) =>
        {
            inversion::restart(app).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// Typing into a prompt: text, Backspace, Tab completes, Enter answers, Esc cancels.
fn on_prompt_key(app: &mut App, mut prompt: super::app::Prompt, key: &KeyEvent) -> Vec<Command> {
    match key.code {
        KeyCode::Esc => {
            app.overlay = Overlay::None;
            return Vec::new();
        }
        KeyCode::Enter => {
            app.overlay = Overlay::None;
            let text = prompt.text.trim().to_string();
            if text.is_empty() {
                return Vec::new();
            }
            return match prompt.purpose {
                PromptPurpose::ImageFile => vec![Command::ImportFile(text.into())],
            };
        }
        KeyCode::Tab => {
            let completions = inversion::complete(&prompt.text);
            match completions.as_slice() {
                [one] => prompt.text = one.clone(),
                [] => {}
                many => prompt.text = common_prefix(many),
            }
            prompt.completions = completions;
        }
        KeyCode::Backspace => {
            prompt.text.pop();
            prompt.completions = inversion::complete(&prompt.text);
        }
        KeyCode::Char(c) => {
            prompt.text.push(c);
            prompt.completions = inversion::complete(&prompt.text);
        }
        _ => {}
    }
    app.overlay = Overlay::Prompt(prompt);
    Vec::new()
}

/// The longest common prefix of `names`.
fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut end = first.len();
    for n in &names[1..] {
        end = first
            .char_indices()
            .zip(n.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(end);
    }
    first[..end].to_string()
}

/// Switches to the next data set (mnist, fashion) when no job uses the current one.
pub fn cycle_dataset(app: &mut App) -> Option<Command> {
    if app.heavy_job_running() || app.training.job == JobState::Attached {
        app.messages
            .info("the data set cannot change while a job uses it");
        return None;
    }
    if app.inversion.running {
        app.messages
            .info("pause the inversion first (Inversion tab)");
        return None;
    }
    let kind = match app.dataset_kind {
        DatasetKind::Mnist => DatasetKind::Fashion,
        DatasetKind::Fashion => DatasetKind::Mnist,
    };
    app.dataset_kind = kind;
    app.data = DataState::Loading;
    app.active = None;
    app.inversion.image = 0;
    app.inversion.clear();
    app.messages.info(format!("loading {kind}..."));
    Some(Command::LoadData(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_takes_the_common_prefix() {
        let names = ["data/seven.png".to_string(), "data/seventy.png".to_string()];
        assert_eq!(common_prefix(&names), "data/seven");
        assert_eq!(common_prefix(&["a".to_string()]), "a");
    }
}

//! One module per tab: its state, how keys and job events change it, and how it is drawn.

pub mod ablation;
pub mod baselines;
pub mod confidence;
pub mod draw;
pub mod explain;
pub mod inversion;
pub mod robustness;
pub mod runs;
pub mod sweep;
pub mod training;

use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::app::{App, Tab};
use super::keys::Action;
use super::messages::Messages;
use super::msg::Command;
use crate::runs::RunInfo;

/// Where a tab's job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobState {
    #[default]
    Idle,
    /// Asked to start; waiting for the job to report.
    Starting,
    Running,
    /// Asked to stop; the job saves what it has before it ends.
    Stopping,
    /// Following the events of a job in another process (`classgen attach`).
    Attached,
}

impl JobState {
    /// Whether a job of this process is running.
    pub fn busy(self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Stopping)
    }

    /// A word for the screen.
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Starting => "starting...",
            Self::Running => "running",
            Self::Stopping => "stopping...",
            Self::Attached => "attached",
        }
    }
}

/// When a tab shows results made with another CNN than the active one (or with none while one
/// is active): a line saying whose they are and which key makes the active model's.
pub fn whose(app: &App, tab: Tab, shown: Option<&RunInfo>) -> Option<ratatui::text::Line<'static>> {
    let run = shown?;
    let used = run.record.model.as_ref().map(|m| m.dir.clone());
    let active = app.active.as_ref();
    if used.as_ref() == active.map(|a| &a.dir) {
        return None;
    }
    let model = used
        .as_ref()
        .and_then(|d| d.file_name())
        .map_or("no CNN".to_string(), |n| n.to_string_lossy().into_owned());
    let text = format!(
        "results of {} (run {}), not of the active model {}: {} makes them",
        model,
        run.name,
        active.map_or("(none)", |a| a.name.as_str()),
        key(app, tab, Action::Start)
    );
    Some(ratatui::text::Line::styled(
        text,
        Style::default().fg(Color::Yellow),
    ))
}

/// How the keys of `action` on `tab` read, for hints.
pub fn key(app: &App, tab: Tab, action: Action) -> String {
    app.keys.label(tab, action)
}

/// A bordered block titled ` title `.
pub fn block(title: &str) -> Block<'static> {
    Block::bordered().title(format!(" {title} "))
}

/// A dim, wrapped line of explanation inside a titled block (an empty state).
pub fn placeholder(title: &str, text: String) -> Paragraph<'static> {
    Paragraph::new(text)
        .style(Style::default().fg(Color::Gray))
        .wrap(Wrap { trim: true })
        .block(block(title))
}

/// `done / total` for a gauge, clamped to [0, 1]; 0 when there is no total yet.
pub fn gauge_ratio(done: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).min(1.0)
    }
}

/// A duration in seconds as `1h02m`, `3m05s` or `12s`.
pub fn fmt_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".into();
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Moves a list cursor by `delta` within `len` items, wrapping around.
pub fn step_cursor(cursor: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (cursor as isize + delta).rem_euclid(len as isize) as usize
    }
}

/// A tab's job ended: its result replaces the one shown (keeping the run it was written in) and
/// `summary` of it goes to the messages, or the failure does as `<name> failed: ...`; the runs
/// are listed again.
pub fn job_ended<R>(
    shown: &mut Option<(Option<RunInfo>, R)>,
    messages: &mut Messages,
    name: &str,
    result: Result<R, String>,
    summary: impl FnOnce(&R) -> String,
) -> Vec<Command> {
    match result {
        Ok(r) => {
            let run = shown.take().and_then(|(run, _)| run);
            messages.info(summary(&r));
            *shown = Some((run, r));
        }
        Err(e) => messages.error(format!("{name} failed: {e}")),
    }
    vec![Command::RefreshRuns]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(5.4), "5s");
        assert_eq!(fmt_duration(185.0), "3m05s");
        assert_eq!(fmt_duration(3720.0), "1h02m");
        assert_eq!(fmt_duration(f64::INFINITY), "-");
    }

    #[test]
    fn cursors_wrap() {
        assert_eq!(step_cursor(0, -1, 3), 2);
        assert_eq!(step_cursor(2, 1, 3), 0);
        assert_eq!(step_cursor(5, 1, 0), 0);
    }
}

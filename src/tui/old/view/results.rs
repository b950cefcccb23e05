//! The Ablation, Baselines and Confidence tabs: the latest saved result of each job, or which
//! command produces one.

use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;

/// Draws the saved-result tab `app.tab` into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let (saved, kind) = match app.tab {
        Tab::Ablation => (&app.results.ablation, "ablate"),
        Tab::Baselines => (&app.results.baselines, "baselines"),
        _ => (&app.results.confidence, "confidence"),
    };
    let title = format!(" {} ", app.tab.title());
    let paragraph = match saved {
        Some(view) => {
            let lines: Vec<Line> = view.lines.iter().map(|l| Line::raw(l.as_str())).collect();
            Paragraph::new(lines).block(
                Block::bordered()
                    .title(title)
                    .title_bottom(format!(" {} ", view.file.display()))
                    .title_bottom(if app.tab == Tab::Ablation {
                        format!(
                            " {} runs the study live ",
                            app.keys.label(Action::StartAblation)
                        )
                    } else {
                        String::new()
                    }),
            )
        }
        None => Paragraph::new(vec![
            Line::raw(format!(
                "No saved {} result under {}/ yet.",
                app.tab.title().to_lowercase(),
                app.runs_dir.display()
            )),
            Line::raw(""),
            Line::from(vec![
                "Produce one with: ".into(),
                format!("classgen {kind}").bold(),
                format!(
                    " (it writes {}/<id>-{kind}/result.json, shown here on the next start).",
                    app.runs_dir.display()
                )
                .into(),
            ]),
            Line::raw(""),
            Line::raw(if app.tab == Tab::Ablation {
                format!(
                    "Or press {} here: the study config.toml's [ablation] describes runs live.",
                    app.keys.label(Action::StartAblation)
                )
            } else {
                String::new()
            }),
        ])
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(title)),
    };
    frame.render_widget(paragraph, area);
}

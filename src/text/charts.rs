//! Braille charts with labelled axes (ratatui's `Chart`), the one way classgen draws charts: the
//! dashboard renders them into its frame, the headless commands into text lines.

use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Widget};

/// One line (or set of bars) of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: Color,
}

/// An axis: its title, range and the labels spread evenly along it.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisSpec {
    pub title: String,
    pub bounds: [f64; 2],
    pub labels: Vec<String>,
}

/// Colours of successive series, readable on dark and light terminals.
pub const PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::LightRed,
    Color::LightBlue,
    Color::White,
    Color::LightYellow,
];

/// A bordered chart titled `title` of `series` drawn as `graph` (lines or bars), with a legend
/// when there is more than one series.
pub fn chart<'a>(
    title: &str,
    series: &'a [Series],
    graph: GraphType,
    x: AxisSpec,
    y: AxisSpec,
) -> Chart<'a> {
    let datasets = series
        .iter()
        .map(|s| {
            Dataset::default()
                .name(s.name.clone())
                .marker(Marker::Braille)
                .graph_type(graph)
                .style(Style::default().fg(s.color))
                .data(&s.points)
        })
        .collect();
    let axis = |a: AxisSpec| {
        Axis::default()
            .title(a.title)
            .bounds(a.bounds)
            .labels(a.labels.into_iter().map(Line::from).collect::<Vec<_>>())
    };
    let legend = (series.len() > 1).then_some(LegendPosition::BottomRight);
    Chart::new(datasets)
        .block(Block::bordered().title(format!(" {title} ")))
        .x_axis(axis(x))
        .y_axis(axis(y))
        .legend_position(legend)
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(60),
            ratatui::layout::Constraint::Percentage(60),
        ))
}

/// Height of a histogram bar: the count, or ln(1 + count) on a log scale.
fn bar_height(count: usize, log: bool) -> f64 {
    if log {
        (count as f64).ln_1p()
    } else {
        count as f64
    }
}

/// Points that draw `counts` (equal bins over [0,1]) as filled bars: `per_bin` vertical lines
/// per bin, a gap before the next.
pub fn histogram_points(counts: &[usize], log: bool, per_bin: usize) -> Vec<(f64, f64)> {
    let bins = counts.len().max(1) as f64;
    let per_bin = per_bin.max(1);
    counts
        .iter()
        .enumerate()
        .flat_map(|(b, &c)| {
            // Leave the last of every `per_bin + 1` columns empty between bars.
            (0..per_bin).map(move |i| {
                let x = (b as f64 + i as f64 / (per_bin + 1) as f64) / bins;
                (x, bar_height(c, log))
            })
        })
        .collect()
}

/// The y axis of a histogram of `counts`: "images" (or ln(1 + images)), labelled with counts.
pub fn histogram_y_axis(counts: &[usize], log: bool) -> AxisSpec {
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let height = bar_height(top, log);
    let at = |share: f64| -> String {
        let h = height * share;
        let count = if log { h.exp() - 1.0 } else { h };
        format!("{}", count.round() as u64)
    };
    AxisSpec {
        title: if log { "images (log)" } else { "images" }.into(),
        bounds: [0.0, height],
        labels: vec![at(0.0), at(0.5), at(1.0)],
    }
}

/// The x axis of an m(x) histogram.
pub fn confidence_x_axis() -> AxisSpec {
    AxisSpec {
        title: "m(x)".into(),
        bounds: [0.0, 1.0],
        labels: ["0", "0.25", "0.5", "0.75", "1"].map(String::from).to_vec(),
    }
}

/// Text lines of `widget` drawn into `width` x `height` cells.
pub fn render(width: u16, height: u16, widget: impl Widget) -> Vec<String> {
    super::render_lines(width, height, |area, buf| widget.render(area, buf))
}

/// How a [`FigureSeries`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// Points joined by straight lines.
    Line,
    /// Points alone.
    Points,
    /// A filled bar from the x of each point to x + `width`, up from the axis.
    Bars { width: f64 },
}

/// An axis of a [`Figure`]: its title, range and scale. Non-empty `categories` name the whole
/// numbers 0, 1, 2, ... along it (one tick each) instead of numeric ticks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FigureAxis {
    pub title: String,
    pub bounds: [f64; 2],
    /// Base-10 logarithmic scale (positive bounds).
    pub log: bool,
    pub categories: Vec<String>,
}

impl FigureAxis {
    /// A linear axis over `bounds`.
    pub fn new(title: impl Into<String>, bounds: [f64; 2]) -> Self {
        Self {
            title: title.into(),
            bounds,
            ..Self::default()
        }
    }

    /// The same axis on a log scale when `on`.
    pub fn log(mut self, on: bool) -> Self {
        self.log = on;
        self
    }
}

/// One series of a [`Figure`]: its points, how they are drawn, an optional ± error per point,
/// and its colour as an index into a ten-colour palette (in pictures `plot::PALETTE`, hues that
/// follow the dashboard's colours, darkened for white paper).
#[derive(Debug, Clone, PartialEq)]
pub struct FigureSeries {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    pub errors: Option<Vec<f64>>,
    pub colour: usize,
}

impl FigureSeries {
    /// `points` drawn as `mark` in colour `colour`, without error bars.
    pub fn new(
        name: impl Into<String>,
        points: Vec<(f64, f64)>,
        mark: Mark,
        colour: usize,
    ) -> Self {
        Self {
            name: name.into(),
            points,
            mark,
            errors: None,
            colour,
        }
    }
}

/// A chart as plain data, free of terminal types: what `--plot` and the dashboard's export key
/// draw as pictures (`text::plot`), from the same numbers the screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub title: String,
    pub x: FigureAxis,
    pub y: FigureAxis,
    pub series: Vec<FigureSeries>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dots(s: &str) -> usize {
        s.chars()
            .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
            .count()
    }

    #[test]
    fn a_histogram_has_bars_axes_and_count_labels() {
        let counts = [0, 5, 0, 100];
        let series = [Series {
            name: "cnn".into(),
            points: histogram_points(&counts, false, 4),
            color: Color::Cyan,
        }];
        let lines = render(
            50,
            14,
            chart(
                "cnn",
                &series,
                GraphType::Bar,
                confidence_x_axis(),
                histogram_y_axis(&counts, false),
            ),
        );
        let text = lines.join("\n");
        assert!(dots(&text) > 20, "no bars:\n{text}");
        for label in ["m(x)", "images", "100", "50", "0.5", " cnn "] {
            assert!(text.contains(label), "no {label}:\n{text}");
        }
        // The tall bin fills many rows; the empty ones none.
        let rows_with_dots = lines.iter().filter(|l| dots(l) > 0).count();
        assert!(rows_with_dots >= 8, "{text}");
    }

    #[test]
    fn log_scale_labels_stay_counts() {
        let axis = histogram_y_axis(&[0, 9999], true);
        assert_eq!(axis.labels, vec!["0", "99", "9999"]);
        assert!((axis.bounds[1] - 10_000f64.ln()).abs() < 1e-9);
    }
}

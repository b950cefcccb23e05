//! The one chart component of classgen: braille lines, points or bars over axes whose ticks sit
//! at their values, a legend outside the data area, an optional log scale, and a cursor that
//! reads every line's value at one x. The dashboard renders it into its frame, the headless
//! commands into text lines; `--plot` and the export key draw the same [`ChartSpec`] to pictures.

use std::borrow::Cow;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

/// Ten colours, distinct on dark and light terminals, for up to ten series.
pub const PALETTE: [Color; 10] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::LightRed,
    Color::LightBlue,
    Color::White,
    Color::Rgb(255, 165, 0),
    Color::Rgb(160, 120, 255),
    Color::Rgb(140, 140, 140),
];

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Points joined by straight lines.
    Line,
    /// Points alone.
    Points,
    /// A filled bar from the x of each point to x + `width`, from the axis to its y.
    Bars { width: f64 },
}

/// One line (or set of bars) of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series<'a> {
    pub name: String,
    pub points: Cow<'a, [(f64, f64)]>,
    pub color: Color,
    pub kind: Kind,
}

impl<'a> Series<'a> {
    /// A line through `points`.
    pub fn line(
        name: impl Into<String>,
        points: impl Into<Cow<'a, [(f64, f64)]>>,
        color: Color,
    ) -> Self {
        Self {
            name: name.into(),
            points: points.into(),
            color,
            kind: Kind::Line,
        }
    }

    /// `points` as bars `width` wide.
    pub fn bars(
        name: impl Into<String>,
        points: impl Into<Cow<'a, [(f64, f64)]>>,
        width: f64,
        color: Color,
    ) -> Self {
        Self {
            name: name.into(),
            points: points.into(),
            color,
            kind: Kind::Bars { width },
        }
    }

    /// `points` as dots, not joined.
    pub fn points(
        name: impl Into<String>,
        points: impl Into<Cow<'a, [(f64, f64)]>>,
        color: Color,
    ) -> Self {
        Self {
            name: name.into(),
            points: points.into(),
            color,
            kind: Kind::Points,
        }
    }

    /// The series' y at `x`: linear between the points around it on a line, the bar or point
    /// under it otherwise; `None` outside the series.
    pub fn value_at(&self, x: f64) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        match self.kind {
            Kind::Bars { width } => pts
                .iter()
                .find(|p| x >= p.0 && x < p.0 + width)
                .map(|p| p.1),
            Kind::Points => pts
                .iter()
                .min_by(|a, b| (a.0 - x).abs().total_cmp(&(b.0 - x).abs()))
                .map(|p| p.1),
            Kind::Line => {
                let first = pts.first()?;
                let last = pts.last()?;
                if x < first.0 || x > last.0 {
                    return None;
                }
                pts.windows(2)
                    .find(|w| x >= w[0].0 && x <= w[1].0)
                    .map(|w| {
                        let span = w[1].0 - w[0].0;
                        if span <= 0.0 {
                            w[1].1
                        } else {
                            w[0].1 + (w[1].1 - w[0].1) * (x - w[0].0) / span
                        }
                    })
                    .or(Some(first.1))
            }
        }
    }
}

/// Linear or logarithmic (base 10) axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// An axis: its title, range and scale; ticks are chosen to fit, at round values.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisSpec {
    pub title: String,
    pub bounds: [f64; 2],
    pub scale: Scale,
    /// Ticks only at whole numbers (epochs, steps, classes).
    pub integer: bool,
}

impl AxisSpec {
    /// A linear axis over `bounds`.
    pub fn new(title: impl Into<String>, bounds: [f64; 2]) -> Self {
        Self {
            title: title.into(),
            bounds,
            scale: Scale::Linear,
            integer: false,
        }
    }

    /// The same axis with ticks at whole numbers only.
    pub fn integer(mut self) -> Self {
        self.integer = true;
        self
    }

    /// The same axis on a log scale (bounds must be positive; a non-positive low bound is raised).
    pub fn log(mut self, on: bool) -> Self {
        if on {
            self.scale = Scale::Log;
            if self.bounds[0] <= 0.0 {
                self.bounds[0] = (self.bounds[1] * 1e-3).max(f64::MIN_POSITIVE);
            }
        }
        self
    }

    /// The value mapped to a straight line: itself, or its log10.
    fn t(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => f64::NAN,
        }
    }

    /// Where `v` falls along the axis, 0 at the low bound, 1 at the high one.
    pub fn fraction(&self, v: f64) -> f64 {
        let (lo, hi) = (self.t(self.bounds[0]), self.t(self.bounds[1]));
        if hi > lo {
            (self.t(v) - lo) / (hi - lo)
        } else {
            0.0
        }
    }

    /// At most `max` ticks at round values inside the bounds.
    pub fn ticks(&self, max: usize) -> Vec<f64> {
        let [lo, hi] = self.bounds;
        if !(lo.is_finite() && hi.is_finite()) || hi <= lo || max == 0 {
            return vec![lo];
        }
        if self.scale == Scale::Log {
            return log_ticks(lo, hi, max);
        }
        let max = max.max(2);
        let raw = (hi - lo) / (max - 1) as f64;
        let mut step = nice_step(raw, self.integer);
        while (hi - lo) / step > (max - 1) as f64 + 1e-9 {
            step = nice_step(step * 1.01, self.integer);
        }
        // At least two ticks, even on a short axis: finer steps until two fit.
        let count = |step: f64| ((hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil()) as i64 + 1;
        while count(step) < 2 && step > (hi - lo) * 1e-6 && !(self.integer && step <= 1.0) {
            let finer = [0.5, 0.4, 0.2, 0.1]
                .iter()
                .map(|m| nice_step(step * m, self.integer))
                .find(|&s| s < step)
                .unwrap_or(step / 2.0);
            step = finer;
        }
        let first = (lo / step - 1e-9).ceil();
        let last = (hi / step + 1e-9).floor();
        (first as i64..=last as i64)
            .map(|k| k as f64 * step)
            .map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v })
            .collect()
    }

    /// The labels of `ticks`, with as many decimals as their spacing needs.
    pub fn labels(&self, ticks: &[f64]) -> Vec<String> {
        if self.scale == Scale::Log {
            return ticks.iter().map(|&v| format_log(v)).collect();
        }
        let step = ticks
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        let decimals = if step.is_finite() {
            (0..6)
                .find(|&d| {
                    let s = step * 10f64.powi(d);
                    (s - s.round()).abs() < 1e-6 * s.abs().max(1.0)
                })
                .unwrap_or(6)
        } else {
            0
        };
        ticks
            .iter()
            .map(|v| {
                let s = format!("{:.*}", decimals as usize, v);
                if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    s
                }
            })
            .collect()
    }
}

/// 1, 2, 2.5 or 5 times a power of ten (2.5 and fractions left out for `integer`), at least `raw`.
fn nice_step(raw: f64, integer: bool) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let raw = if integer { raw.max(1.0) } else { raw };
    let power = 10f64.powf(raw.log10().floor());
    let multiples: &[f64] = if integer && power < 10.0 {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    multiples
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// Powers of ten inside [lo, hi] (with 2x and 5x between them when there are few), at most `max`.
fn log_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    let mut ticks: Vec<f64> = (a..=b).map(|e| 10f64.powi(e)).collect();
    if ticks.len() < 3 {
        let e0 = lo.log10().floor() as i32;
        ticks = (e0..=b)
            .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
            .filter(|&v| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9))
            .collect();
    }
    let stride = ticks.len().div_ceil(max.max(1)).max(1);
    ticks.into_iter().step_by(stride).collect()
}

fn format_log(v: f64) -> String {
    if (1e-3..1e5).contains(&v) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// TensorBoard's smoothing: an exponential moving average with weight `weight` in [0, 1), debiased
/// so that the first points are not pulled towards zero. 0 leaves the points as they are.
pub fn smooth(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let w = weight.clamp(0.0, 0.999);
    let mut last = 0.0;
    let mut n = 0;
    points
        .iter()
        .map(|&(x, y)| {
            if !y.is_finite() {
                return (x, y);
            }
            last = last * w + (1.0 - w) * y;
            n += 1;
            let debias = 1.0 - w.powi(n);
            (x, if debias > 0.0 { last / debias } else { y })
        })
        .collect()
}

/// Where the legend goes: beside the data when the chart is wide enough, else below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegendPlace {
    #[default]
    Auto,
    Hidden,
}

/// A whole chart: title, axes, series, legend and cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec<'a> {
    pub title: String,
    pub x: AxisSpec,
    pub y: AxisSpec,
    pub series: Vec<Series<'a>>,
    pub legend: LegendPlace,
    /// An x whose values the legend reads out, marked by a column.
    pub cursor: Option<f64>,
}

impl<'a> ChartSpec<'a> {
    pub fn new(
        title: impl Into<String>,
        x: AxisSpec,
        y: AxisSpec,
        series: Vec<Series<'a>>,
    ) -> Self {
        Self {
            title: title.into(),
            x,
            y,
            series,
            legend: LegendPlace::Auto,
            cursor: None,
        }
    }

    /// The same chart with its legend hidden.
    pub fn without_legend(mut self) -> Self {
        self.legend = LegendPlace::Hidden;
        self
    }

    /// The same chart with a cursor at `x`.
    pub fn cursor(mut self, x: Option<f64>) -> Self {
        self.cursor = x;
        self
    }

    /// The x ticks for a data area `width` columns wide: as many as their labels leave room for.
    pub fn x_ticks(&self, width: u16) -> Vec<f64> {
        let widest = self
            .x
            .labels(&self.x.ticks(2))
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1)
            .max(3);
        self.x.ticks((width as usize / (widest + 2)).clamp(2, 11))
    }

    /// The y ticks for a data area `height` rows high.
    pub fn y_ticks(&self, height: u16) -> Vec<f64> {
        self.y.ticks((height as usize / 2).clamp(2, 6))
    }

    /// The legend's lines: each series' name, with its value at the cursor.
    fn legend_entries(&self) -> Vec<(String, Color)> {
        let mut entries: Vec<(String, Color)> = Vec::new();
        if let Some(x) = self.cursor {
            entries.push((format!("{} = {}", self.x.title, fmt_value(x)), Color::Gray));
        }
        for s in self.series.iter().filter(|s| !s.name.is_empty()) {
            let value = self
                .cursor
                .map(|x| {
                    s.value_at(x)
                        .map_or(" -".to_string(), |v| format!(" {}", fmt_value(v)))
                })
                .unwrap_or_default();
            entries.push((format!("━ {}{value}", s.name), s.color));
        }
        entries
    }

    /// Where each part goes inside `inner` (the area within the border).
    pub fn layout(&self, inner: Rect) -> ChartLayout {
        let entries = if self.legend == LegendPlace::Hidden {
            Vec::new()
        } else {
            self.legend_entries()
        };
        let widest = entries
            .iter()
            .map(|e| e.0.chars().count())
            .max()
            .unwrap_or(0) as u16;
        let (plot, legend) = if entries.is_empty() {
            (inner, None)
        } else if inner.width >= 56 && widest + 1 <= inner.width / 3 + 8 {
            let w = (widest + 1).min(inner.width / 3 + 8);
            let plot = Rect {
                width: inner.width - w,
                ..inner
            };
            let legend = Rect {
                x: inner.x + inner.width - w + 1,
                width: w - 1,
                ..inner
            };
            (plot, Some(legend))
        } else {
            // Below: as many entries per row as fit.
            let rows = legend_rows(&entries, inner.width).len() as u16;
            let rows = rows.min(inner.height.saturating_sub(4));
            let plot = Rect {
                height: inner.height - rows,
                ..inner
            };
            let legend = Rect {
                y: inner.y + inner.height - rows,
                height: rows,
                ..inner
            };
            (plot, (rows > 0).then_some(legend))
        };
        // Two rows under the data: the axis line and the tick labels (with the x title).
        let data_rows = plot.height.saturating_sub(2).max(1);
        let y_labels = self.y.labels(&self.y_ticks(data_rows));
        let label_width = y_labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1) as u16;
        let data = Rect {
            x: plot.x + label_width + 1,
            y: plot.y,
            width: plot.width.saturating_sub(label_width + 1).max(1),
            height: data_rows,
        };
        ChartLayout {
            data,
            legend,
            label_width,
        }
    }
}

/// The rectangles of a drawn chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartLayout {
    /// Where the series are drawn; nothing else is.
    pub data: Rect,
    /// The legend, outside `data`.
    pub legend: Option<Rect>,
    pub label_width: u16,
}

/// Legend entries packed into rows of `width` columns.
fn legend_rows(entries: &[(String, Color)], width: u16) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = 0u16;
    for (i, (text, _)) in entries.iter().enumerate() {
        let w = text.chars().count() as u16 + 2;
        if rows.is_empty() || used + w > width {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(i);
        }
        used += w;
    }
    rows
}

/// A number as short as its size allows.
pub fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e5 || a < 1e-3 {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// The column (within `data`) where `x` is drawn, if it is inside the axis.
pub fn column_of(axis: &AxisSpec, data: Rect, x: f64) -> Option<u16> {
    dot_x(axis, data.width, x).map(|d| data.x + (d / 2) as u16)
}

/// The row (within `data`) where `y` is drawn, if it is inside the axis.
pub fn row_of(axis: &AxisSpec, data: Rect, y: f64) -> Option<u16> {
    dot_y(axis, data.height, y).map(|d| data.y + (d / 4) as u16)
}

fn dot_x(axis: &AxisSpec, width: u16, x: f64) -> Option<i64> {
    let f = axis.fraction(x);
    let dots = width as f64 * 2.0 - 1.0;
    (f.is_finite() && (-1e-9..=1.0 + 1e-9).contains(&f)).then(|| (f * dots).round() as i64)
}

fn dot_y(axis: &AxisSpec, height: u16, y: f64) -> Option<i64> {
    let f = axis.fraction(y);
    let dots = height as f64 * 4.0 - 1.0;
    (f.is_finite() && (-1e-9..=1.0 + 1e-9).contains(&f)).then(|| ((1.0 - f) * dots).round() as i64)
}

/// Braille dots of a data area, each cell in the colour of the last series that drew in it.
struct Canvas {
    width: u16,
    height: u16,
    bits: Vec<u8>,
    colors: Vec<Option<Color>>,
}

impl Canvas {
    fn new(width: u16, height: u16) -> Self {
        let n = width as usize * height as usize;
        Self {
            width,
            height,
            bits: vec![0; n],
            colors: vec![None; n],
        }
    }

    fn dot(&mut self, x: i64, y: i64, color: Color) {
        if x < 0 || y < 0 || x >= self.width as i64 * 2 || y >= self.height as i64 * 4 {
            return;
        }
        const BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
        let cell = (y / 4) as usize * self.width as usize + (x / 2) as usize;
        self.bits[cell] |= BITS[(x % 2) as usize][(y % 4) as usize];
        self.colors[cell] = Some(color);
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: Color) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        // Bounded by the segment's length in dots.
        for _ in 0..=(dx - dy) {
            self.dot(x, y, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}

impl Widget for &ChartSpec<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        // The y axis's title joins the chart's (unless the title already says it), the x
        // axis's sits on the bottom border at the right, clear of every tick label.
        let says_y = self
            .title
            .to_lowercase()
            .contains(&self.y.title.to_lowercase());
        let y_note = match self.y.scale {
            Scale::Log => format!(" · {} (log) ", self.y.title),
            Scale::Linear if !says_y => format!(" · {} ", self.y.title),
            Scale::Linear => " ".into(),
        };
        let mut block = Block::bordered().title(format!(" {}{y_note}", self.title));
        if !self.x.title.is_empty() {
            block = block.title_bottom(Line::from(format!(" {} ", self.x.title)).right_aligned());
        }
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.width < 8 || inner.height < 4 {
            return;
        }
        let layout = self.layout(inner);
        let data = layout.data;
        let axis_style = Style::default().fg(Color::DarkGray);
        let label_style = Style::default().fg(Color::Gray);

        // Data.
        let mut canvas = Canvas::new(data.width, data.height);
        let base = dot_y(&self.y, data.height, self.y.bounds[0].max(0.0))
            .unwrap_or(data.height as i64 * 4 - 1);
        for s in &self.series {
            let mapped = |&(x, y): &(f64, f64)| {
                Some((
                    dot_x(&self.x, data.width, x)?,
                    dot_y(&self.y, data.height, y)?,
                ))
            };
            match s.kind {
                Kind::Line => {
                    let mut last: Option<(i64, i64)> = None;
                    for p in s.points.iter() {
                        let here = mapped(p);
                        match (last, here) {
                            (Some(a), Some(b)) => canvas.line(a, b, s.color),
                            (None, Some(b)) => canvas.dot(b.0, b.1, s.color),
                            _ => {}
                        }
                        last = here;
                    }
                }
                Kind::Points => {
                    for (x, y) in s.points.iter().filter_map(mapped) {
                        canvas.dot(x, y, s.color);
                    }
                }
                Kind::Bars { width } => {
                    for &(x, y) in s.points.iter() {
                        let (Some(a), Some(top)) = (
                            dot_x(&self.x, data.width, x),
                            dot_y(&self.y, data.height, y),
                        ) else {
                            continue;
                        };
                        if top >= base {
                            continue; // an empty bin: nothing to draw
                        }
                        let b = dot_x(&self.x, data.width, (x + width).min(self.x.bounds[1]))
                            .unwrap_or(a);
                        // One empty dot column between neighbouring bars.
                        let right = if b > a + 1 { b - 1 } else { a };
                        for col in a..=right {
                            canvas.line((col, base), (col, top), s.color);
                        }
                    }
                }
            }
        }
        let cursor_col = self.cursor.and_then(|x| column_of(&self.x, data, x));
        for row in 0..data.height {
            for col in 0..data.width {
                let i = row as usize * data.width as usize + col as usize;
                let (x, y) = (data.x + col, data.y + row);
                let cell = &mut buf[(x, y)];
                if canvas.bits[i] != 0 {
                    let ch = char::from_u32(0x2800 + u32::from(canvas.bits[i])).unwrap_or(' ');
                    cell.set_char(ch);
                    if let Some(c) = canvas.colors[i] {
                        cell.set_fg(c);
                    }
                }
                if cursor_col == Some(x) {
                    cell.set_bg(Color::DarkGray);
                }
            }
        }

        // Y axis: a line left of the data, ticks and labels at their rows.
        let axis_x = data.x - 1;
        for y in data.y..data.y + data.height {
            buf[(axis_x, y)].set_char('│').set_style(axis_style);
        }
        let y_ticks = self.y_ticks(data.height);
        let y_labels = self.y.labels(&y_ticks);
        let mut taken_rows: Vec<u16> = Vec::new();
        for (v, label) in y_ticks.iter().zip(&y_labels) {
            let Some(row) = row_of(&self.y, data, *v) else {
                continue;
            };
            if taken_rows.contains(&row) {
                continue;
            }
            taken_rows.push(row);
            buf[(axis_x, row)].set_char('┤').set_style(axis_style);
            let w = label.chars().count() as u16;
            let x = axis_x.saturating_sub(w);
            buf.set_string(x.max(inner.x), row, label, label_style);
        }

        // X axis: a line under the data, ticks at their columns, labels centred under them.
        let axis_y = data.y + data.height;
        let labels_y = axis_y + 1;
        if axis_y < inner.y + inner.height {
            buf[(axis_x, axis_y)].set_char('└').set_style(axis_style);
            for x in data.x..data.x + data.width {
                buf[(x, axis_y)].set_char('─').set_style(axis_style);
            }
        }
        if labels_y < inner.y + inner.height {
            let right_end = data.x + data.width;
            let x_ticks = self.x_ticks(data.width);
            let x_labels = self.x.labels(&x_ticks);
            let mut free_from = inner.x;
            for (v, label) in x_ticks.iter().zip(&x_labels) {
                let Some(col) = column_of(&self.x, data, *v) else {
                    continue;
                };
                let w = label.chars().count() as u16;
                let start = col.saturating_sub(w / 2).max(inner.x);
                let start = start.min(right_end.saturating_sub(w));
                let end = start + w;
                if start < free_from || !(start..end).contains(&col) {
                    continue;
                }
                if axis_y < inner.y + inner.height {
                    buf[(col, axis_y)].set_char('┴').set_style(axis_style);
                }
                buf.set_string(start, labels_y, label, label_style);
                free_from = end + 1;
            }
        }

        // Legend, outside the data.
        if let Some(legend) = layout.legend {
            let entries = self.legend_entries();
            if legend.height == inner.height {
                for (row, (text, color)) in entries.iter().enumerate().take(legend.height as usize)
                {
                    let y = legend.y + row as u16;
                    buf.set_stringn(
                        legend.x,
                        y,
                        text,
                        legend.width as usize,
                        Style::default().fg(*color),
                    );
                }
            } else {
                for (r, row) in legend_rows(&entries, legend.width)
                    .iter()
                    .enumerate()
                    .take(legend.height as usize)
                {
                    let mut x = legend.x;
                    for &i in row {
                        let (text, color) = &entries[i];
                        let room = (legend.x + legend.width).saturating_sub(x) as usize;
                        buf.set_stringn(
                            x,
                            legend.y + r as u16,
                            text,
                            room,
                            Style::default().fg(*color),
                        );
                        x += text.chars().count() as u16 + 2;
                    }
                }
            }
        }
    }
}

/// Height of a histogram bar: the count, or ln(1 + count) on a log scale.
fn bar_height(count: usize, log: bool) -> f64 {
    if log {
        (count as f64).ln_1p()
    } else {
        count as f64
    }
}

/// `counts` (equal bins over [0,1]) as bars: one point per bin at its left edge.
pub fn histogram_bars(name: &str, counts: &[usize], color: Color) -> Series<'static> {
    let bins = counts.len().max(1) as f64;
    let points: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(b, &c)| (b as f64 / bins, c as f64))
        .collect();
    Series::bars(name, points, 1.0 / bins, color)
}

/// The y axis of a histogram of `counts`: "images", linear or log.
pub fn histogram_y_axis(counts: &[usize], log: bool) -> AxisSpec {
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    if log {
        AxisSpec::new("images", [0.8, (top * 1.2).max(10.0)]).log(true)
    } else {
        AxisSpec::new("images", [0.0, bar_height(top as usize, false)]).integer()
    }
}

/// The x axis of an m(x) histogram.
pub fn confidence_x_axis() -> AxisSpec {
    AxisSpec::new("m(x)", [0.0, 1.0])
}

/// Text lines of `widget` drawn into `width` x `height` cells.
pub fn render(width: u16, height: u16, widget: impl Widget) -> Vec<String> {
    super::render_lines(width, height, |area, buf| widget.render(area, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dot(c: char) -> bool {
        ('\u{2801}'..='\u{28ff}').contains(&c)
    }

    fn draw(spec: &ChartSpec, w: u16, h: u16) -> (Buffer, ChartLayout) {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        spec.render(area, &mut buf);
        (buf, spec.layout(Block::bordered().inner(area)))
    }

    fn row_text(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
    }

    /// Every x tick label printed under the data sits over the column its value maps to (the
    /// column has the tick mark and lies inside the label), and every y label on its row.
    fn assert_ticks_at_their_values(spec: &ChartSpec, w: u16, h: u16) {
        let (buf, layout) = draw(spec, w, h);
        let data = layout.data;
        let labels_row = row_text(&buf, data.y + data.height + 1);
        let axis_row = row_text(&buf, data.y + data.height);
        let ticks = spec.x_ticks(data.width);
        let labels = spec.x.labels(&ticks);
        let mut printed = 0;
        for (v, label) in ticks.iter().zip(&labels) {
            let col = column_of(&spec.x, data, *v).expect("tick inside") as usize;
            let chars: Vec<char> = axis_row.chars().collect();
            if chars[col] != '┴' {
                continue; // not printed (no room)
            }
            printed += 1;
            let row: Vec<char> = labels_row.chars().collect();
            let lw = label.chars().count();
            let starts: Vec<usize> = (col.saturating_sub(lw)..=col)
                .filter(|&s| row[s..].iter().take(lw).collect::<String>() == *label)
                .collect();
            assert!(
                !starts.is_empty(),
                "label {label} not over column {col}:\n{labels_row}"
            );
        }
        assert!(printed >= 2, "fewer than two x ticks:\n{labels_row}");
        // No ┴ without its label: every tick mark is one of the value ticks.
        let marks = axis_row.chars().filter(|&c| c == '┴').count();
        assert_eq!(marks, printed, "{axis_row}");
        // Every y label printed stands left of a ┤ on the row of its value.
        let y_ticks = spec.y_ticks(data.height);
        for (v, label) in y_ticks.iter().zip(spec.y.labels(&y_ticks)) {
            let row = row_of(&spec.y, data, *v).expect("tick inside");
            let text: Vec<char> = row_text(&buf, row).chars().collect();
            let left: String = text[1..data.x as usize - 1].iter().collect();
            assert_eq!(left.trim(), label, "y label of {v} not on its row {row}");
            assert_eq!(text[data.x as usize - 1], '┤');
        }
    }

    fn rising(n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| (i as f64 + 1.0, 90.0 + 9.0 * i as f64 / n as f64))
            .collect()
    }

    #[test]
    fn x_ticks_sit_over_their_values_on_every_width() {
        for (w, h) in [(40, 12), (60, 14), (80, 20), (120, 30), (200, 40)] {
            let spec = ChartSpec::new(
                "accuracy",
                AxisSpec::new("m(x)", [0.0, 1.0]),
                AxisSpec::new("images", [0.0, 120.0]),
                vec![Series::line("a", rising(5), Color::Cyan)],
            );
            assert_ticks_at_their_values(&spec, w, h);
            let spec = ChartSpec::new(
                "epochs",
                AxisSpec::new("epoch", [0.0, 15.0]).integer(),
                AxisSpec::new("acc %", [90.0, 100.0]),
                vec![Series::line("a", rising(15), Color::Cyan)],
            );
            assert_ticks_at_their_values(&spec, w, h);
        }
    }

    #[test]
    fn a_bar_at_two_thirds_is_drawn_right_of_the_half_label_and_left_of_the_three_quarter_one() {
        let spec = ChartSpec::new(
            "knn",
            confidence_x_axis(),
            AxisSpec::new("images", [0.0, 10.0]),
            vec![Series::bars(
                "knn",
                vec![(2.0 / 3.0, 10.0)],
                0.01,
                Color::Cyan,
            )],
        );
        let (buf, layout) = draw(&spec, 80, 16);
        let data = layout.data;
        let top = row_text(&buf, data.y);
        let bar_col = top.chars().position(is_dot).expect("a bar");
        let labels: Vec<char> = row_text(&buf, data.y + data.height + 1).chars().collect();
        let find = |s: &str| {
            (0..labels.len()).find(|&i| labels[i..].iter().take(s.len()).collect::<String>() == s)
        };
        let half = find("0.5").expect("0.5 printed");
        let three_q = find("0.75").or(find("0.8")).expect("a tick right of 2/3");
        assert!(
            half < bar_col && bar_col < three_q,
            "{half} {bar_col} {three_q}"
        );
    }

    #[test]
    fn no_plotted_cell_lies_under_the_legend_and_the_last_point_is_drawn() {
        for (w, h) in [(40, 12), (78, 10), (120, 20), (200, 30)] {
            let series = vec![
                Series::line("train", rising(15), Color::Cyan),
                Series::line("test", rising(15), Color::Yellow),
                Series::points("only", vec![(15.0, 100.0)], Color::Green),
            ];
            let spec = ChartSpec::new(
                "Accuracy",
                AxisSpec::new("epoch", [0.0, 15.0]).integer(),
                AxisSpec::new("acc %", [90.0, 100.0]),
                series,
            );
            let (buf, layout) = draw(&spec, w, h);
            let legend = layout.legend.expect("a legend");
            assert!(legend.intersection(layout.data).is_empty());
            for y in 0..h {
                for x in 0..w {
                    let c = buf[(x, y)].symbol().chars().next().unwrap_or(' ');
                    if is_dot(c) {
                        assert!(
                            layout.data.contains(ratatui::layout::Position { x, y }),
                            "a dot outside the data at {x},{y}"
                        );
                    }
                }
            }
            // The top-right data cell (epoch 15, 100 %) holds the last point.
            let corner = buf[(layout.data.right() - 1, layout.data.y)].symbol();
            assert!(
                is_dot(corner.chars().next().unwrap_or(' ')),
                "{w}x{h}: last point hidden"
            );
            let text: String = (0..h)
                .map(|y| row_text(&buf, y))
                .collect::<Vec<_>>()
                .join("\n");
            for name in ["train", "test", "only"] {
                assert!(
                    text.contains(name),
                    "{name} missing from the legend:\n{text}"
                );
            }
        }
    }

    #[test]
    fn ten_series_get_ten_colours_and_the_cursor_reads_each() {
        let series: Vec<Series> = (0..10)
            .map(|c| {
                Series::line(
                    format!("{c}"),
                    vec![(0.0, 0.0), (10.0, c as f64 / 10.0)],
                    PALETTE[c],
                )
            })
            .collect();
        let colours: std::collections::HashSet<String> =
            series.iter().map(|s| format!("{:?}", s.color)).collect();
        assert_eq!(colours.len(), 10);
        let spec = ChartSpec::new(
            "p",
            AxisSpec::new("step", [0.0, 10.0]),
            AxisSpec::new("p", [0.0, 1.0]),
            series,
        )
        .cursor(Some(5.0));
        let lines = render(120, 16, &spec);
        let text = lines.join("\n");
        assert!(text.contains("step = 5.000"), "{text}");
        assert!(text.contains("━ 9 0.4500"), "{text}");
    }

    #[test]
    fn log_axis_ticks_are_powers_of_ten_at_their_rows() {
        let y = AxisSpec::new("loss", [0.01, 3.0]).log(true);
        assert_eq!(y.ticks(6), vec![0.01, 0.1, 1.0]);
        let data = Rect::new(0, 0, 40, 12);
        let rows: Vec<u16> = [0.01, 0.1, 1.0]
            .iter()
            .filter_map(|&v| row_of(&y, data, v))
            .collect();
        // Equal decades take equal rows.
        assert!((rows[0] as i32 - rows[1] as i32 - (rows[1] as i32 - rows[2] as i32)).abs() <= 1);
    }

    #[test]
    fn smoothing_follows_tensorboard_and_zero_leaves_the_points() {
        let pts = [(0.0, 1.0), (1.0, 0.0), (2.0, 0.0)];
        assert_eq!(smooth(&pts, 0.0), pts.to_vec());
        let s = smooth(&pts, 0.5);
        assert!((s[0].1 - 1.0).abs() < 1e-12, "debiased first point");
        assert!((s[1].1 - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn nice_ticks_are_round() {
        assert_eq!(
            AxisSpec::new("", [0.0, 1.0]).ticks(5),
            vec![0.0, 0.25, 0.5, 0.75, 1.0]
        );
        let t = AxisSpec::new("", [0.0, 15.0]).integer().ticks(8);
        assert_eq!(t, vec![0.0, 5.0, 10.0, 15.0]);
        let t = AxisSpec::new("", [0.0, 1.0]);
        assert_eq!(t.labels(&[0.0, 0.25, 0.5]), ["0", "0.25", "0.5"]);
    }
}

//! Charts as pictures: [`Figure`]s drawn with `plotters` to PNG or SVG, one figure or several
//! as panels of one picture. Each panel has its title, axes with ticks at their values, axis
//! titles, and a legend outside the data area (beside it, or below it in a narrow panel).
//! Text uses an embedded subset of DejaVu Sans (`FONT-LICENSE`), so no system fonts are needed.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::charts::{AxisSpec, Figure, FigureAxis, FigureSeries, Mark};
use typeset::Typeset;

pub mod tiles;
mod typeset;

/// Size of a picture in pixels (the whole picture, all panels together).
pub const SIZE: (u32, u32) = (1200, 800);

/// Colours of series 0-9 on white: the dashboard's hues (cyan, yellow, magenta, green, red,
/// blue, white, orange, purple, grey), darkened where the terminal colour would vanish on paper.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 139, 176),
    RGBColor(204, 160, 0),
    RGBColor(190, 40, 160),
    RGBColor(40, 150, 60),
    RGBColor(220, 50, 47),
    RGBColor(60, 100, 200),
    RGBColor(40, 40, 40),
    RGBColor(240, 130, 0),
    RGBColor(130, 90, 210),
    RGBColor(140, 140, 140),
];

const FONT: &[u8] = include_bytes!("DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const INK: RGBColor = RGBColor(30, 30, 30);

/// A picture format, chosen by a file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format `path` names: `.png` or `.svg` (any case); `None` for anything else.
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(Self::Png),
            "svg" => Some(Self::Svg),
            _ => None,
        }
    }
}

/// A rectangle of pixels, right and bottom edges excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rect {
    pub x: Range<i32>,
    pub y: Range<i32>,
}

impl Rect {
    fn of<DB: DrawingBackend, C>(area: &DrawingArea<DB, C>) -> Self
    where
        C: plotters::coord::CoordTranslate,
    {
        let (x, y) = area.get_pixel_range();
        Self { x, y }
    }

    /// Whether the two rectangles share a pixel.
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x.start < other.x.end
            && other.x.start < self.x.end
            && self.y.start < other.y.end
            && other.y.start < self.y.end
    }
}

/// Where a panel's data and legend landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelLayout {
    /// The data area: the series are drawn here and nothing else.
    pub data: Rect,
    /// The legend, when there is one, outside `data`.
    pub legend: Option<Rect>,
}

/// The embedded font, registered with plotters (which measures text with it) once.
fn font() -> anyhow::Result<&'static ab_glyph::FontRef<'static>> {
    static FONT_REF: OnceLock<Option<ab_glyph::FontRef<'static>>> = OnceLock::new();
    FONT_REF
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).ok()?;
            ab_glyph::FontRef::try_from_slice(FONT).ok()
        })
        .as_ref()
        .context("the embedded chart font could not be read")
}

/// PNG bytes of `figures` as panels of one `size` picture.
pub fn png(figures: &[Figure], size: (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let (rgb, _) = rgb(figures, size)?;
    let mut bytes = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        &rgb,
        size.0,
        size.1,
        image::ExtendedColorType::Rgb8,
    )
    .context("encoding the chart as PNG")?;
    Ok(bytes)
}

/// RGB pixels (row-major, 3 bytes each) of `figures` as panels of one `size` picture, and
/// where each panel's parts landed.
pub fn rgb(figures: &[Figure], size: (u32, u32)) -> anyhow::Result<(Vec<u8>, Vec<PanelLayout>)> {
    let font = font()?;
    let mut buffer = vec![255u8; size.0 as usize * size.1 as usize * 3];
    let layouts = {
        let inner = BitMapBackend::with_buffer(&mut buffer, size);
        let root = Typeset { inner, font }.into_drawing_area();
        let layouts = draw(&root, figures)?;
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
        layouts
    };
    Ok((buffer, layouts))
}

/// SVG text of `figures` as panels of one `size` picture.
pub fn svg(figures: &[Figure], size: (u32, u32)) -> anyhow::Result<String> {
    font()?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        draw(&root, figures)?;
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    }
    Ok(text)
}

/// The bytes of `figures` in `format` at `size`.
pub fn encode(figures: &[Figure], format: Format, size: (u32, u32)) -> anyhow::Result<Vec<u8>> {
    match format {
        Format::Png => png(figures, size),
        Format::Svg => svg(figures, size).map(String::into_bytes),
    }
}

/// Writes `figures` to `path` (PNG or SVG by its extension) at `size`, atomically.
pub fn write(path: &Path, figures: &[Figure], size: (u32, u32)) -> anyhow::Result<()> {
    let format = Format::of(path).with_context(|| {
        format!(
            "{}: expected a file name ending in .png or .svg",
            path.display()
        )
    })?;
    let bytes = encode(figures, format, size)?;
    crate::fsutil::write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// Writes `figure` as `<dir>/<timestamp>-<stem>.png` and `.svg` at [`SIZE`] (suffixed `-2`,
/// `-3`... if a name is taken: nothing is overwritten) and returns both paths.
pub fn export(figure: &Figure, dir: &Path, stem: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let figures = std::slice::from_ref(figure);
    let png = png(figures, SIZE)?;
    let svg = svg(figures, SIZE)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let base = format!(
        "{}-{}",
        crate::fsutil::timestamp(),
        crate::snapshot::file_name(&[stem])
    );
    for n in 1..=1000 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let png_path = dir.join(format!("{name}.png"));
        let svg_path = dir.join(format!("{name}.svg"));
        if !create_new(&png_path, &png)? {
            continue;
        }
        if !create_new(&svg_path, svg.as_bytes())? {
            // The pair must share a name: free this one and try the next.
            std::fs::remove_file(&png_path)
                .with_context(|| format!("removing {}", png_path.display()))?;
            continue;
        }
        return Ok((png_path, svg_path));
    }
    anyhow::bail!("{}: no free name for {base}.png", dir.display())
}

/// Writes `bytes` to a file that must not exist yet; `false` if it does.
fn create_new(path: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(true)
}

/// Rows and columns of a grid for `n` panels in a landscape picture.
fn grid(n: usize) -> (usize, usize) {
    let cols = match n {
        0..=3 => n.max(1),
        4 => 2,
        5..=6 => 3,
        7..=8 => 4,
        _ => (n as f64 * 1.5).sqrt().ceil() as usize,
    };
    (n.div_ceil(cols).max(1), cols)
}

/// Draws `figures` as a grid of panels on a white `root`.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figures: &[Figure],
) -> anyhow::Result<Vec<PanelLayout>> {
    root.fill(&WHITE)
        .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
    let (rows, cols) = grid(figures.len());
    let areas = root.split_evenly((rows, cols));
    figures
        .iter()
        .zip(&areas)
        .map(|(figure, area)| {
            panel(area, figure).map_err(|e| anyhow::anyhow!("drawing '{}': {e}", figure.title))
        })
        .collect()
}

/// Text sizes of a panel, in pixels.
struct Sizes {
    title: f64,
    label: f64,
    tick: f64,
}

impl Sizes {
    fn of(width: u32, height: u32) -> Self {
        let s = (f64::from(width.min(height)) / 800.0)
            .sqrt()
            .clamp(0.6, 1.5);
        Self {
            title: 28.0 * s,
            label: 22.0 * s,
            tick: 19.0 * s,
        }
    }
}

type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One figure in `area`: title, legend outside the data, axes and series.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: &Figure,
) -> DrawResult<PanelLayout, DB> {
    let (w, h) = area.dim_in_pixel();
    let sizes = Sizes::of(w, h);
    let pad = (sizes.tick * 0.8) as i32;
    let body = area
        .margin(pad, 0, 0, 0)
        .titled(&figure.title, (FAMILY, sizes.title).into_font().color(&INK))?;
    let named: Vec<&FigureSeries> = figure
        .series
        .iter()
        .filter(|s| !s.name.is_empty())
        .collect();
    let legend_font = (FAMILY, sizes.tick).into_font().color(&INK);
    let swatch = (sizes.tick * 2.0) as i32;
    let line_height = (sizes.tick * 1.5) as i32;
    let (bw, bh) = body.dim_in_pixel();
    let (chart_area, legend) = if named.is_empty() {
        (body, None)
    } else {
        let widest = named
            .iter()
            .map(|s| {
                body.estimate_text_size(&s.name, &legend_font)
                    .map(|(w, _)| w)
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max()
            .unwrap_or(0) as i32;
        let beside = swatch + pad + widest + 2 * pad;
        // Beside the data in a landscape panel, if it takes at most a third of the width.
        if bw > bh && beside <= bw as i32 / 3 {
            let (chart, legend) = body.split_horizontally(bw as i32 - beside);
            (chart, Some((legend, 1)))
        } else {
            // Below the data, as many entries per row as fit.
            let entry = swatch + pad + widest + 2 * pad;
            let per_row = (bw as i32 / entry.max(1)).max(1) as usize;
            let rows = named.len().div_ceil(per_row) as i32;
            let height = rows * line_height + 2 * pad;
            let (chart, legend) = body.split_vertically(bh as i32 - height);
            (chart, Some((legend, per_row)))
        }
    };
    // A little room right of the last x, so a dot drawn there is not cut in half.
    let x = Axis::of(&figure.x, 10).widened(0.02);
    let y = Axis::of(&figure.y, 8);
    let y_label_width = y
        .labels
        .iter()
        .map(|l| chart_area.estimate_text_size(l, &legend_font))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(w, _)| w as i32)
        .max()
        .unwrap_or(0);
    let mut chart = ChartBuilder::on(&chart_area)
        .margin(pad)
        .margin_right(2 * pad)
        .x_label_area_size((sizes.tick + sizes.label + 3.0 * f64::from(pad)) as i32)
        .y_label_area_size(y_label_width + (sizes.label + 2.5 * f64::from(pad)) as i32)
        .build_cartesian_2d(x.clone(), y.clone())?;
    chart
        .configure_mesh()
        .x_desc(figure.x.title.as_str())
        .y_desc(figure.y.title.as_str())
        .label_style((FAMILY, sizes.tick).into_font().color(&INK))
        .axis_desc_style((FAMILY, sizes.label).into_font().color(&INK))
        .axis_style(INK)
        .bold_line_style(RGBColor(0, 0, 0).mix(0.12))
        .x_labels(x.ticks.len())
        .y_labels(y.ticks.len())
        .draw()?;
    let stroke = ((sizes.tick / 8.0).round() as u32).max(2);
    for series in &figure.series {
        draw_series(&mut chart, series, &x, &y, stroke)?;
    }
    let data = Rect::of(chart.plotting_area());
    let legend = match legend {
        Some((legend_area, per_row)) => {
            let entry_width = legend_area.dim_in_pixel().0 as i32 / per_row as i32;
            for (i, s) in named.iter().enumerate() {
                let (col, row) = ((i % per_row) as i32, (i / per_row) as i32);
                let left = col * entry_width + pad;
                let middle = pad + row * line_height + line_height / 2;
                legend_entry(
                    &legend_area,
                    s,
                    (left, middle),
                    swatch,
                    stroke,
                    &legend_font,
                )?;
            }
            Some(Rect::of(&legend_area))
        }
        None => None,
    };
    Ok(PanelLayout { data, legend })
}

/// A legend entry: the series' mark at `(left, middle)`, then its name.
fn legend_entry<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &FigureSeries,
    (left, middle): (i32, i32),
    swatch: i32,
    stroke: u32,
    font: &TextStyle,
) -> DrawResult<(), DB> {
    let colour = colour(series.colour);
    let half = swatch / 4;
    match series.mark {
        Mark::Line => {
            area.draw(&PathElement::new(
                vec![(left, middle), (left + swatch, middle)],
                colour.stroke_width(stroke + 1),
            ))?;
        }
        Mark::Points => {
            area.draw(&Circle::new(
                (left + swatch / 2, middle),
                half.max(3),
                colour.filled(),
            ))?;
        }
        Mark::Bars { .. } => {
            area.draw(&Rectangle::new(
                [(left, middle - half), (left + swatch, middle + half)],
                colour.filled(),
            ))?;
        }
    }
    area.draw(&Text::new(
        series.name.clone(),
        (left + swatch + swatch / 3, middle),
        font.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        )),
    ))?;
    Ok(())
}

/// The picture colour of palette index `i`.
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// One series on the chart: lines (with a dot at each point when there are few), dots or bars,
/// and its error bars.
fn draw_series<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    series: &FigureSeries,
    x: &Axis,
    y: &Axis,
    stroke: u32,
) -> DrawResult<(), DB> {
    let colour = colour(series.colour);
    let shown = |p: &(f64, f64)| x.holds(p.0) && y.holds(p.1);
    match series.mark {
        Mark::Line => {
            // A run of drawable points per line piece: a point that cannot be drawn breaks it.
            let mut pieces: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for p in &series.points {
                if shown(p) {
                    if let Some(piece) = pieces.last_mut() {
                        piece.push(*p);
                    }
                } else if pieces.last().is_some_and(|piece| !piece.is_empty()) {
                    pieces.push(Vec::new());
                }
            }
            for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
                let few = piece.len() <= 25;
                chart.draw_series(LineSeries::new(
                    piece.iter().copied(),
                    colour.stroke_width(stroke),
                ))?;
                if few {
                    chart.draw_series(
                        piece
                            .iter()
                            .map(|&p| Circle::new(p, stroke + 2, colour.filled())),
                    )?;
                }
            }
        }
        Mark::Points => {
            chart.draw_series(
                series
                    .points
                    .iter()
                    .filter(|p| shown(p))
                    .map(|&p| Circle::new(p, stroke + 2, colour.filled())),
            )?;
        }
        Mark::Bars { width } => {
            let base = y.base();
            chart.draw_series(
                series
                    .points
                    .iter()
                    .filter(|p| p.0.is_finite() && y.holds(p.1))
                    .map(|&(px, py)| {
                        Rectangle::new([(px, base), (px + width, py)], colour.mix(0.85).filled())
                    }),
            )?;
        }
    }
    if let Some(errors) = &series.errors {
        let shift = match series.mark {
            Mark::Bars { width } => width / 2.0,
            Mark::Line | Mark::Points => 0.0,
        };
        let cap = (stroke * 6).max(8);
        chart.draw_series(
            series
                .points
                .iter()
                .zip(errors)
                .filter(|(p, e)| shown(p) && e.is_finite())
                .map(|(&(px, py), &e)| {
                    let low = if y.log { (py - e).max(y.lo) } else { py - e };
                    ErrorBar::new_vertical(
                        px + shift,
                        low,
                        py,
                        py + e,
                        INK.stroke_width(stroke),
                        cap,
                    )
                }),
        )?;
    }
    Ok(())
}

/// A picture axis: its range, scale, ticks at round values (or at its categories) and their
/// labels. plotters places a tick at each of `ticks`, so a label sits at its value.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    /// The axis of `spec` with at most `max_ticks` ticks (every category, when it has them).
    fn of(spec: &FigureAxis, max_ticks: usize) -> Self {
        let [mut lo, mut hi] = spec.bounds;
        if !(lo.is_finite() && hi.is_finite()) {
            (lo, hi) = (0.0, 1.0);
        }
        if hi < lo {
            std::mem::swap(&mut lo, &mut hi);
        }
        let log = spec.log && spec.categories.is_empty();
        if log {
            if hi <= 0.0 {
                hi = 1.0;
            }
            if lo <= 0.0 {
                lo = hi * 1e-3;
            }
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            let d = if log {
                lo * 0.5
            } else {
                lo.abs().max(1.0) * 0.05
            };
            (lo, hi) = (lo - d, hi + d);
        }
        let (ticks, labels) = if !spec.categories.is_empty() {
            let ticks: Vec<f64> = (0..spec.categories.len())
                .map(|i| i as f64)
                .filter(|t| (lo..=hi).contains(t))
                .collect();
            let labels = ticks
                .iter()
                .map(|&t| spec.categories[t as usize].clone())
                .collect();
            (ticks, labels)
        } else if log {
            let ticks = AxisSpec::new("", [lo, hi]).log(true).ticks(max_ticks);
            let labels = ticks.iter().map(|&t| log_label(t)).collect();
            (ticks, labels)
        } else {
            let ticks = AxisSpec::new("", [lo, hi]).ticks(max_ticks);
            let labels = linear_labels(&ticks);
            (ticks, labels)
        };
        Self {
            lo,
            hi,
            log,
            ticks,
            labels,
        }
    }

    /// The same axis and ticks with the high end `share` of its span further out (linear only).
    fn widened(mut self, share: f64) -> Self {
        if !self.log {
            self.hi += (self.hi - self.lo) * share;
        }
        self
    }

    /// Whether `v` can be drawn on this axis.
    fn holds(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// Where bars start: 0, or the low end when 0 is not on the axis.
    fn base(&self) -> f64 {
        if self.log || self.lo > 0.0 {
            self.lo
        } else if self.hi < 0.0 {
            self.hi
        } else {
            0.0
        }
    }

    fn position(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = self.position(*value);
        let f = if f.is_finite() {
            f.clamp(-1.0, 2.0)
        } else {
            0.0
        };
        limit.0 + (f64::from(limit.1 - limit.0) * f).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold grid lines (with labels) at the ticks; no light ones.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.ticks
            .iter()
            .position(|t| t == value)
            .and_then(|i| self.labels.get(i).cloned())
            .unwrap_or_default()
    }
}

/// Labels of evenly spaced `ticks` with as many decimals as their spacing needs.
fn linear_labels(ticks: &[f64]) -> Vec<String> {
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
        .map(|v| format!("{:.*}", decimals as usize, v))
        .collect()
}

fn log_label(v: f64) -> String {
    if (1e-3..1e5).contains(&v) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(names: &[&str]) -> Figure {
        Figure {
            title: "accuracy of two models".into(),
            x: FigureAxis::new("epoch", [1.0, 10.0]),
            y: FigureAxis::new("acc %", [0.0, 100.0]),
            series: names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    // Rising curves that end at the top right, where an inside legend would sit.
                    let points = (1..=10)
                        .map(|e| (f64::from(e), 100.0 - 60.0 / f64::from(e) - i as f64 * 5.0))
                        .collect();
                    FigureSeries::new(*n, points, Mark::Line, i)
                })
                .collect(),
        }
    }

    fn pixel(rgb: &[u8], width: u32, x: i32, y: i32) -> [u8; 3] {
        let i = (y as usize * width as usize + x as usize) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    /// Pixels of exactly palette colour `c` inside `r`.
    fn count(rgb: &[u8], width: u32, r: &Rect, c: RGBColor) -> usize {
        r.y.clone()
            .flat_map(|y| r.x.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(rgb, width, x, y) == [c.0, c.1, c.2])
            .count()
    }

    #[test]
    fn series_are_drawn_in_the_data_area_and_the_legend_lies_outside_it() {
        let (rgb, layouts) = rgb(&[figure(&["train", "test"])], SIZE).unwrap();
        assert_eq!(rgb.len(), (SIZE.0 * SIZE.1 * 3) as usize);
        let layout = &layouts[0];
        let legend = layout
            .legend
            .clone()
            .expect("two named series have a legend");
        assert!(!legend.overlaps(&layout.data), "{layout:?}");
        for (i, &c) in PALETTE.iter().enumerate().take(2) {
            assert!(
                count(&rgb, SIZE.0, &layout.data, c) > 200,
                "series {i} not drawn"
            );
            assert!(
                count(&rgb, SIZE.0, &legend, c) > 10,
                "no legend swatch for {i}"
            );
        }
        // The data area is not blank white: lines and grid are there.
        let non_white = layout
            .data
            .y
            .clone()
            .flat_map(|y| layout.data.x.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&rgb, SIZE.0, x, y) != [255, 255, 255])
            .count();
        assert!(non_white > 2000, "{non_white}");
    }

    #[test]
    fn grid_lines_in_the_picture_lie_at_the_tick_values() {
        let mut f = figure(&["train"]);
        // One point in the top left corner keeps the middle of the data area empty.
        f.series[0].points = vec![(1.0, 100.0)];
        let (rgb, layouts) = rgb(&[f.clone()], SIZE).unwrap();
        let data = &layouts[0].data;
        let column = (data.x.start + data.x.end) / 2 + 7;
        let inked = |y: i32| pixel(&rgb, SIZE.0, column, y) != [255, 255, 255];
        let (top, bottom) = (f64::from(data.y.start), f64::from(data.y.end - 1));
        let row_of = |v: f64| (bottom - (bottom - top) * v / 100.0).round() as i32;
        let ticks = Axis::of(&f.y, 8).ticks;
        assert_eq!(ticks, [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        for v in ticks {
            let row = row_of(v);
            assert!(
                (row - 2..=row + 2).any(inked),
                "no grid line at {v} (row {row})"
            );
        }
        // Between ticks the column is blank.
        for v in [10.0, 30.0, 50.0, 70.0, 90.0] {
            assert!(!inked(row_of(v)), "ink at {v}");
        }
    }

    #[test]
    fn a_narrow_panel_puts_its_legend_below_the_data() {
        let names: Vec<String> = (0..6)
            .map(|i| format!("a rather long model name {i}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_, layouts) = rgb(&[figure(&names)], (500, 500)).unwrap();
        let layout = &layouts[0];
        let legend = layout.legend.clone().unwrap();
        assert!(!legend.overlaps(&layout.data));
        assert!(legend.y.start >= layout.data.y.end, "{layout:?}");
    }

    #[test]
    fn ticks_sit_at_round_values_at_their_pixels() {
        let axis = Axis::of(&FigureAxis::new("", [0.0, 1.0]), 6);
        assert_eq!(axis.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let axis = Axis::of(&FigureAxis::new("", [0.0, 100.0]), 8);
        assert_eq!(axis.labels, ["0", "20", "40", "60", "80", "100"]);
        // 0.75 of the way along, whatever the pixel span.
        assert_eq!(axis.map(&75.0, (100, 500)), 400);
        let log = Axis::of(&FigureAxis::new("", [0.01, 10.0]).log(true), 8);
        assert_eq!(log.labels, ["0.01", "0.1", "1", "10"]);
        assert_eq!(log.map(&0.1, (0, 300)), 100);
        let mut cats = FigureAxis::new("", [-0.5, 2.5]);
        cats.categories = vec!["seed".into(), "wide".into(), "tiny".into()];
        let cats = Axis::of(&cats, 8);
        assert_eq!(cats.ticks, [0.0, 1.0, 2.0]);
        assert_eq!(cats.format_ext(&1.0), "wide");
    }

    #[test]
    fn svg_names_the_title_and_every_series() {
        let svg = svg(&[figure(&["train", "test <b>"])], SIZE).unwrap();
        for text in [
            "accuracy of two models",
            "train",
            "test &lt;b&gt;",
            "epoch",
            "acc %",
        ] {
            assert!(svg.contains(text), "no {text}");
        }
    }

    #[test]
    fn export_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let f = figure(&["train"]);
        let (png1, svg1) = export(&f, dir.path(), "training loss").unwrap();
        let (png2, svg2) = export(&f, dir.path(), "training loss").unwrap();
        assert_ne!(png1, png2);
        assert_ne!(svg1, svg2);
        let name = png1.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with("-training-loss.png"), "{name}");
        for p in [png1, svg1, png2, svg2] {
            assert!(
                std::fs::metadata(&p).unwrap().len() > 1000,
                "{}",
                p.display()
            );
        }
    }

    #[test]
    fn file_names_pick_the_format() {
        assert_eq!(Format::of(Path::new("a/b.PNG")), Some(Format::Png));
        assert_eq!(Format::of(Path::new("b.svg")), Some(Format::Svg));
        assert_eq!(Format::of(Path::new("b.jpg")), None);
        let err = write(Path::new("b.jpg"), &[], SIZE).unwrap_err();
        assert!(err.to_string().contains("b.jpg: expected"), "{err}");
    }
}

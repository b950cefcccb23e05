//! The Explain tab's look inside the CNN: the image's activation maps of each convolution,
//! strongest channels first, with conv1's filters; and the training images that look most
//! alike to the model (nearest in its penultimate features) beside those nearest in pixels.

use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{class_name, placeholder, View};
use crate::explain::lookalike::Neighbour;
use crate::snapshot::to_byte;
use crate::tui::app::App;
use crate::tui::widgets::halfblock::HalfBlockImage;

/// A square map averaged over 2x2 blocks (an odd last row and column dropped).
pub(super) fn shrink(values: &[f32], side: usize) -> (Vec<f32>, usize) {
    let half = side / 2;
    let mut out = vec![0.0; half * half];
    for r in 0..half * 2 {
        for c in 0..half * 2 {
            out[(r / 2) * half + c / 2] += values[r * side + c] / 4.0;
        }
    }
    (out, half)
}

/// Why the view has nothing to draw yet, if so.
fn missing(app: &App, what: &str) -> Option<String> {
    let tab = &app.explain;
    match &tab.shown {
        None if tab.waiting => Some("computing...".into()),
        None => Some("no image yet".into()),
        Some(s) if s.asked.model != super::ModelChoice::Cnn => Some(format!(
            "{what} are the CNN's: m chooses it (this is {})",
            s.model
        )),
        Some(_) if tab.waiting => Some(match &tab.fitting {
            Some(f) => format!("computing {f}..."),
            None => "computing...".into(),
        }),
        Some(_) => None,
    }
}

/// Each convolution's strongest channels for the image (as many as fit a row, each on the
/// layer's common scale, so weak channels look weak), and conv1's filters.
pub fn layers(frame: &mut Frame, area: Rect, app: &App) {
    let shown = app.explain.shown.as_ref();
    let Some(l) = shown.and_then(|s| s.layers.as_ref()) else {
        let text = missing(app, "the layers").unwrap_or_else(|| "no layers".into());
        frame.render_widget(placeholder("layers", text), area);
        return;
    };
    let mut y = area.y;
    let bottom = area.y + area.height;
    for layer in &l.maps {
        let Some(first) = layer.maps.first() else {
            continue;
        };
        let big = first.side > 14;
        let side = if big { first.side / 2 } else { first.side };
        let (tile_w, tile_h) = (side as u16 + 1, side.div_ceil(2) as u16);
        if y + 1 + tile_h > bottom {
            break;
        }
        let per_row = (area.width / tile_w) as usize;
        let shown: Vec<_> = layer.maps.iter().take(per_row).collect();
        let top = shown.iter().map(|m| m.mean).fold(0.0f32, f32::max);
        let names: Vec<String> = shown.iter().map(|m| format!("#{}", m.channel)).collect();
        frame.render_widget(
            Paragraph::new(Line::from(format!(
                "{}: the {} strongest of {} channels (mean {:.2} to {:.2}): {}",
                layer.layer,
                shown.len(),
                layer.maps.len(),
                top,
                shown.last().map_or(0.0, |m| m.mean),
                names.join(" ")
            ))),
            Rect::new(area.x, y, area.width, 1),
        );
        y += 1;
        let max = shown
            .iter()
            .flat_map(|m| m.values.iter())
            .fold(f32::MIN_POSITIVE, |a, &b| a.max(b));
        for (i, m) in shown.iter().enumerate() {
            let values = if big {
                shrink(&m.values, m.side).0
            } else {
                m.values.clone()
            };
            let grey: Vec<u8> = values.iter().map(|v| to_byte(v / max)).collect();
            let rect = Rect::new(area.x + i as u16 * tile_w, y, side as u16, tile_h);
            frame.render_widget(HalfBlockImage::new(&grey, app.color).sized(side), rect);
        }
        y += tile_h;
    }
    // conv1's filters, 3x3 tiles at twice the size, red positive and blue negative.
    let k = l
        .filters
        .first()
        .map_or(0, |f| (f.len() as f64).sqrt() as usize);
    let (tile_w, tile_h) = (2 * k as u16 + 1, k as u16);
    if k > 0 && y + 1 + tile_h <= bottom {
        let per_row = (area.width / tile_w) as usize;
        frame.render_widget(
            Paragraph::new(format!(
                "conv1's filters ({} of {}; red positive, blue negative)",
                per_row.min(l.filters.len()),
                l.filters.len()
            )),
            Rect::new(area.x, y, area.width, 1),
        );
        y += 1;
        let max = l
            .filters
            .iter()
            .flatten()
            .fold(f32::MIN_POSITIVE, |a, b| a.max(b.abs()));
        for (i, f) in l.filters.iter().take(per_row).enumerate() {
            let scaled: Vec<f32> = f.iter().map(|v| v / max).collect();
            let rect = Rect::new(area.x + i as u16 * tile_w, y, tile_w - 1, tile_h);
            frame.render_widget(
                HalfBlockImage::signed(&scaled, app.color)
                    .sized(k)
                    .scaled(2),
                rect,
            );
        }
    }
}

/// A row of training images with their label and distance under each.
fn neighbours(frame: &mut Frame, area: Rect, app: &App, found: &[Neighbour], full: bool) -> u16 {
    let Some(data) = app.dataset() else {
        return 0;
    };
    let side = if full { 28 } else { 14 };
    let (tile_w, tile_h) = (side as u16 + 2, (side / 2) as u16);
    let per_row = (area.width / tile_w) as usize;
    for (i, n) in found.iter().take(per_row).enumerate() {
        if n.index >= data.train.len() {
            continue;
        }
        let pixels: Vec<f32> = data
            .train
            .image(n.index)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let values = if full { pixels } else { shrink(&pixels, 28).0 };
        let grey: Vec<u8> = values.iter().map(|&v| to_byte(v)).collect();
        let x = area.x + i as u16 * tile_w;
        frame.render_widget(
            HalfBlockImage::new(&grey, app.color).sized(side),
            Rect::new(x, area.y, side as u16, tile_h),
        );
        let caption = format!("{} {:.2}", class_name(app, n.label), n.distance);
        frame.render_widget(
            Paragraph::new(Line::from(caption).dim()),
            Rect::new(x, area.y + tile_h, tile_w - 1, 1),
        );
    }
    tile_h + 1
}

/// The look-alike training images: nearest in the CNN's features, then in pixels.
pub fn lookalikes(frame: &mut Frame, area: Rect, app: &App) {
    let nearest = app.explain.shown.as_ref().and_then(|s| s.nearest.as_ref());
    let Some(n) = nearest else {
        let text = missing(app, "the look-alikes").unwrap_or_else(|| {
            format!(
                "the look-alikes come with the next image ({} asks)",
                app.keys.label(
                    crate::tui::app::Tab::Explain,
                    crate::tui::keys::Action::Right
                )
            )
        });
        frame.render_widget(placeholder("look-alikes", text), area);
        return;
    };
    debug_assert_eq!(app.explain.view, View::Lookalikes);
    // Full-size tiles when both rows of them fit.
    let full = area.height >= 2 * (1 + 14 + 1);
    let mut y = area.y;
    let tag = app
        .explain
        .shown
        .as_ref()
        .map_or("", |s| s.asked.tag.as_str());
    for (title, found) in [
        (
            format!("training images nearest to {tag} in the CNN's penultimate features (what its last layer decides on)"),
            &n.features,
        ),
        ("nearest in pixels (what k-NN decides on)".to_string(), &n.pixels),
    ] {
        if y >= area.y + area.height {
            break;
        }
        frame.render_widget(
            Paragraph::new(Line::from(title).bold()),
            Rect::new(area.x, y, area.width, 1),
        );
        y += 1;
        let rest = Rect::new(
            area.x,
            y,
            area.width,
            (area.y + area.height).saturating_sub(y),
        );
        y += neighbours(frame, rest, app, found, full);
    }
}

//! `classgen predict FILE...`: what the CNN, and with `--models` the baselines, make of your own
//! images: the top 3 classes of each file, and with `--show` the 28x28 image the models saw.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use classgen::baselines::BaselineKind;
use classgen::classifier::{Classifier, Cnn};
use classgen::config::Config;
use classgen::data::import::{decode_file, Background, ImportError};
use classgen::data::{Digit, Mode, CLASSES, PIXELS, SIDE};
use classgen::jobs::baselines::fit_timed;
use classgen::runs::{DataIdentity, ModelRef};
use classgen::text::format;

use super::console::{self, note, out};
use super::{DataArgs, NeedCnn};

/// Classes listed per model.
const TOP: usize = 3;

/// Flags of `classgen predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// PNG or JPEG images of one digit each (any size, colour or grey).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// The CNN: a training run's directory or name (default: the newest finished one on the
    /// data in use).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Baselines to ask too, comma-separated; each is fitted on the training split first
    /// (seconds to minutes).
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<BaselineKind>,
    /// Take the images as they are: MNIST-style 28x28, white on black (no preprocessing).
    #[arg(long)]
    raw: bool,
    /// Draw the 28x28 image the models saw, in half blocks (colour on a terminal, ASCII
    /// otherwise).
    #[arg(long, conflicts_with = "json")]
    show: bool,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
}

/// The JSON of `classgen predict --json`.
#[derive(Debug, Serialize)]
struct Report {
    /// The CNN's training run.
    model_run: ModelRef,
    /// The data that chose the CNN (and that the baselines were fitted on).
    data: DataIdentity,
    /// Whether the images were taken as they are (`--raw`).
    raw: bool,
    files: Vec<FileReport>,
}

/// One file: its predictions, or why it could not be read. Its path is shown as text, any bytes
/// that are not UTF-8 replaced by U+FFFD (JSON strings are Unicode).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum FileReport {
    Read {
        path: String,
        /// Dark ink on a light background, inverted to light on dark as in MNIST.
        inverted: bool,
        predictions: Vec<Prediction>,
    },
    Failed {
        path: String,
        error: String,
    },
}

/// What one model makes of one image.
#[derive(Debug, Serialize)]
struct Prediction {
    /// `cnn`, `logreg`, `knn`, ...
    model: String,
    /// The likeliest classes, likeliest first.
    top: Vec<Ranked>,
    /// The probabilities of classes 0-9.
    probs: Vec<f32>,
}

/// A class and its probability.
#[derive(Debug, Serialize)]
struct Ranked {
    class: usize,
    /// The data set's name of the class (`7`, `Sneaker`).
    name: &'static str,
    p: f32,
}

/// An image file read into the digit the models see.
struct Imported {
    path: PathBuf,
    inverted: bool,
    digit: Digit,
}

/// The import mode `--raw` asks for.
pub fn mode(raw: bool) -> Mode {
    if raw {
        Mode::Raw
    } else {
        Mode::Mnist
    }
}

/// Reads `path` in `mode`, noting whether its dark-on-light ink was inverted.
fn import(path: &Path, mode: Mode) -> Result<Imported, ImportError> {
    let picture = decode_file(path)?;
    let inverted = mode == Mode::Mnist && matches!(picture.background(), Background::Light(_));
    Ok(Imported {
        path: path.to_path_buf(),
        inverted,
        digit: picture.to_digit(path, mode)?,
    })
}

/// Runs `classgen predict`.
pub fn run(args: PredictArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let mode = mode(args.raw);
    // In the order given; a file that cannot be read is said at once.
    let files: Vec<Result<Imported, (PathBuf, String)>> = args
        .files
        .iter()
        .map(|path| {
            import(path, mode).map_err(|e| {
                note!("error: {e}");
                (path.clone(), e.to_string())
            })
        })
        .collect();
    let read: Vec<&Imported> = files.iter().filter_map(|f| f.as_ref().ok()).collect();
    let failed = files.len() - read.len();
    if read.is_empty() {
        anyhow::bail!("none of the {} files could be read", args.files.len());
    }
    let inputs = super::inputs(config, &args.data, args.run.as_deref(), NeedCnn::Required)?;
    let cnn = inputs.cnn.context("no CNN to predict with")?;
    let data = inputs.data;
    let mut models: Vec<Box<dyn Classifier>> = vec![Box::new(Cnn {
        network: cnn.network.clone(),
        batch: config.train.eval_batch,
    })];
    let mut kinds: Vec<BaselineKind> = Vec::new();
    for &kind in &args.models {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    for kind in kinds {
        if console::cancel_flag().load(Ordering::Relaxed) {
            anyhow::bail!("stopped before fitting {kind}");
        }
        note!(
            "fitting {kind} on {} training images (seconds to minutes; the fit is not kept) ...",
            data.train.len()
        );
        let (model, seconds) = fit_timed(kind, &data, &config.baselines)?;
        note!("{kind} fitted in {seconds:.1} s");
        models.push(model);
    }
    let pixels: Vec<u8> = read.iter().flat_map(|i| i.digit.to_u8()).collect();
    let names = data.class_names();
    let mut per_model = Vec::with_capacity(models.len());
    for model in &models {
        let probs = model
            .predict_proba(&pixels)
            .with_context(|| format!("{} failed to predict", model.name()))?;
        anyhow::ensure!(
            probs.len() == read.len() * CLASSES,
            "{} gave {} values for {} images",
            model.name(),
            probs.len(),
            read.len()
        );
        per_model.push((model.name().to_string(), probs));
    }
    let predictions = |i: usize| -> Vec<Prediction> {
        per_model
            .iter()
            .map(|(model, probs)| {
                let probs = &probs[i * CLASSES..(i + 1) * CLASSES];
                Prediction {
                    model: model.clone(),
                    top: top(probs, TOP)
                        .into_iter()
                        .map(|class| Ranked {
                            class,
                            name: names[class],
                            p: probs[class],
                        })
                        .collect(),
                    probs: probs.to_vec(),
                }
            })
            .collect()
    };
    if args.json {
        let mut reports = Vec::with_capacity(files.len());
        let mut predicted = 0;
        for file in &files {
            reports.push(match file {
                Ok(imported) => {
                    predicted += 1;
                    FileReport::Read {
                        path: imported.path.to_string_lossy().into_owned(),
                        inverted: imported.inverted,
                        predictions: predictions(predicted - 1),
                    }
                }
                Err((path, error)) => FileReport::Failed {
                    path: path.to_string_lossy().into_owned(),
                    error: error.clone(),
                },
            });
        }
        let report = Report {
            model_run: cnn.model_ref(),
            data: DataIdentity::of(&data),
            raw: args.raw,
            files: reports,
        };
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let palette = Palette::detect();
        let width = per_model.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        for (i, imported) in read.iter().enumerate() {
            let inverted = if imported.inverted {
                " (dark on light: inverted)"
            } else {
                ""
            };
            out!("{}{inverted}", imported.path.display());
            if args.show {
                for line in half_blocks(&imported.digit.to_u8(), palette) {
                    out!("{line}");
                }
            }
            for p in predictions(i) {
                let top: Vec<String> = p
                    .top
                    .iter()
                    .map(|r| format!("{} {}", r.name, format::percent(f64::from(r.p))))
                    .collect();
                out!("  {:<width$}  {}", p.model, top.join(", "));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be read", args.files.len());
    }
    Ok(())
}

/// The `n` likeliest classes, likeliest first (ties: the lower class first).
fn top(probs: &[f32], n: usize) -> Vec<usize> {
    let mut classes: Vec<usize> = (0..probs.len()).collect();
    classes.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    classes.truncate(n);
    classes
}

/// How `--show` draws grey levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Palette {
    /// 24-bit colour escapes.
    TrueColor,
    /// The xterm 256-colour grey ramp (232 darkest, 255 lightest).
    Ansi256,
    /// No escapes: one character of [`RAMP`] per cell.
    Ascii,
}

/// Characters from dark to light for [`Palette::Ascii`].
pub(super) const RAMP: &[u8] = b" .:-=+*#%@";

impl Palette {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset (24-bit when `COLORTERM` says
    /// truecolor or 24bit, else 256 colours); ASCII otherwise.
    pub(super) fn detect() -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if no_color || !std::io::stdout().is_terminal() {
            return Self::Ascii;
        }
        match std::env::var("COLORTERM").as_deref() {
            Ok("truecolor" | "24bit") => Self::TrueColor,
            _ => Self::Ansi256,
        }
    }
}

/// A 28x28 image in 14 lines of 28 cells: each cell two pixels stacked, drawn as `▀` with the
/// upper pixel's grey as foreground and the lower one's as background, or in ASCII as the
/// [`RAMP`] character of their mean.
pub(super) fn half_blocks(pixels: &[u8; PIXELS], palette: Palette) -> Vec<String> {
    (0..SIDE / 2)
        .map(|row| {
            let mut line = String::new();
            for x in 0..SIDE {
                let upper = pixels[2 * row * SIDE + x];
                let lower = pixels[(2 * row + 1) * SIDE + x];
                match palette {
                    Palette::TrueColor => line.push_str(&format!(
                        "\x1b[38;2;{upper};{upper};{upper}m\x1b[48;2;{lower};{lower};{lower}m▀"
                    )),
                    Palette::Ansi256 => line.push_str(&format!(
                        "\x1b[38;5;{}m\x1b[48;5;{}m▀",
                        grey256(upper),
                        grey256(lower)
                    )),
                    Palette::Ascii => {
                        let mean = (u16::from(upper) + u16::from(lower)) / 2;
                        let last = RAMP.len() as u16 - 1;
                        line.push(char::from(RAMP[usize::from((mean * last + 127) / 255)]));
                    }
                }
            }
            if palette != Palette::Ascii {
                line.push_str("\x1b[0m");
            }
            line
        })
        .collect()
}

/// The xterm 256-colour grey nearest to grey level `v`.
fn grey256(v: u8) -> u8 {
    232 + ((u16::from(v) * 23 + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column x of pixel row y is `9 x + y`, so that every pixel differs in each column.
    fn gradient() -> [u8; PIXELS] {
        std::array::from_fn(|i| ((i % SIDE) * 9 + i / SIDE) as u8)
    }

    #[test]
    fn half_blocks_are_14_lines_of_28_cells_in_every_palette() {
        for palette in [Palette::TrueColor, Palette::Ansi256, Palette::Ascii] {
            let lines = half_blocks(&gradient(), palette);
            assert_eq!(lines.len(), SIDE / 2, "{palette:?}");
            for line in &lines {
                let cells = match palette {
                    Palette::Ascii => line.chars().count(),
                    _ => line.matches('▀').count(),
                };
                assert_eq!(cells, SIDE, "{palette:?}: {line:?}");
                assert_eq!(line.contains('\x1b'), palette != Palette::Ascii);
            }
        }
    }

    #[test]
    fn the_upper_pixel_is_the_foreground_and_the_lower_the_background() {
        let mut pixels = [0u8; PIXELS];
        pixels[0] = 255;
        let first = |palette| half_blocks(&pixels, palette)[0].clone();
        assert!(first(Palette::TrueColor).starts_with("\x1b[38;2;255;255;255m\x1b[48;2;0;0;0m▀"));
        assert!(first(Palette::Ansi256).starts_with("\x1b[38;5;255m\x1b[48;5;232m▀"));
        // ASCII: the mean of white and black, then black.
        assert!(
            first(Palette::Ascii).starts_with("= "),
            "{}",
            first(Palette::Ascii)
        );
        let white = half_blocks(&[255; PIXELS], Palette::Ascii);
        assert_eq!(white[0], "@".repeat(SIDE));
    }

    #[test]
    fn top_lists_the_likeliest_classes_first() {
        let probs = [0.05, 0.1, 0.0, 0.6, 0.0, 0.1, 0.0, 0.15, 0.0, 0.0];
        assert_eq!(top(&probs, 3), vec![3, 7, 1]);
        assert_eq!(top(&probs, 1), vec![3]);
    }
}

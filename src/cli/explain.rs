//! `classgen explain`: attribution maps of a few images, drawn in half blocks beside the image
//! (red for the class, blue against; ASCII in a pipe), a labelled PNG grid in snapshots/, and
//! on request the faithfulness table with a braille chart and the sanity check's table.

use anyhow::Context;
use clap::Args;
use ratatui::style::Color;

use classgen::baselines::BaselineKind;
use classgen::config::Config;
use classgen::data::{CLASSES, PIXELS, SIDE};
use classgen::explain::faithfulness::{Faithfulness, STEPS};
use classgen::explain::sanity::{Sanity, SURVIVES};
use classgen::explain::{max_abs, Method, Of, Settings, Target};
use classgen::jobs::explain::{
    self as job, ExplainEvent, ExplainPlan, ExplainResult, Explained, ModelChoice, Source,
};
use classgen::jobs::explain_layers::Lookalikes;
use classgen::runs::RunStore;
use classgen::text::charts::{self, AxisSpec, ChartSpec, Series, PALETTE};
use classgen::text::format;

use super::console::{self, note, out};
use super::predict::{half_blocks, Palette, RAMP};
use super::{DataArgs, NeedCnn};

/// Flags of `classgen explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Images to explain: test:IDX, file:PATH (PNG/JPEG) or class:C; repeat or comma-separate.
    #[arg(long, value_delimiter = ',', default_value = "test:0")]
    from: Vec<String>,
    /// The class explained: pred (the model's prediction), true (the label) or a class 0-9.
    #[arg(long, default_value = "pred")]
    target: String,
    /// Methods, comma-separated: saliency, grad, ixg, ig, smoothgrad, occlusion, gradcam, or all.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    methods: Vec<String>,
    /// The model: cnn, or a baseline (logreg has gradients; knn, tree, forest, svm occlusion only).
    #[arg(long, default_value = "cnn")]
    model: String,
    /// Attribute the probability instead of the logit.
    #[arg(long)]
    prob: bool,
    /// Integrated gradients' steps.
    #[arg(long, default_value_t = 50)]
    ig_steps: usize,
    /// SmoothGrad's noisy copies and their noise (standard deviation, pixels in [0,1]).
    #[arg(long, default_value_t = 25)]
    nt_samples: usize,
    #[arg(long, default_value_t = 0.15)]
    nt_sigma: f32,
    /// Occlusion's window side and stride.
    #[arg(long, default_value_t = 4)]
    window: usize,
    #[arg(long, default_value_t = 2)]
    stride: usize,
    /// Seed of SmoothGrad's noise and the random rankings.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also the deletion/insertion table over the first --images test images.
    #[arg(long)]
    faithfulness: bool,
    /// Test images of the faithfulness table.
    #[arg(long, value_name = "N", default_value_t = 100)]
    images: usize,
    /// Also the sanity check (the maps after randomising the CNN's layers from the top).
    #[arg(long)]
    sanity: bool,
    /// Also what the CNN's layers learned, as PNG grids in snapshots/: conv1's filters, each
    /// image's activation maps (strongest first), every channel of the last convolution and
    /// every unit of the hidden dense layer maximised from noise.
    #[arg(long)]
    layers: bool,
    /// Also each image's K look-alike training images (1-100; 5 when K is left out): nearest
    /// in the CNN's penultimate features, beside the nearest in pixels.
    #[arg(long, value_name = "K", num_args = 0..=1, default_missing_value = "5")]
    lookalikes: Option<usize>,
    /// The CNN: a training run's directory or name (default: the newest finished one on the
    /// same data).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn methods(names: &[String]) -> anyhow::Result<Vec<Method>> {
    if names.len() == 1 && names[0] == "all" {
        return Ok(Method::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            n.parse::<Method>()
                .map_err(|e| anyhow::anyhow!("--methods: {e}"))
        })
        .collect()
}

/// Runs `classgen explain`.
pub fn run(args: ExplainArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    config.validate()?;
    let sources = args
        .from
        .iter()
        .map(|s| {
            s.parse::<Source>()
                .map_err(|e| anyhow::anyhow!("--from: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let target: Target = args
        .target
        .parse()
        .map_err(|e| anyhow::anyhow!("--target: {e}"))?;
    let methods = methods(&args.methods)?;
    let model = match args.model.as_str() {
        "cnn" => ModelChoice::Cnn,
        name => ModelChoice::Baseline(
            <BaselineKind as clap::ValueEnum>::from_str(name, true).map_err(|_| {
                anyhow::anyhow!(
                    "--model: expected cnn, logreg, knn, tree, forest or svm, found '{name}'"
                )
            })?,
        ),
    };
    let settings = Settings {
        of: if args.prob { Of::Prob } else { Of::Logit },
        ig_steps: args.ig_steps,
        window: args.window,
        stride: args.stride,
        nt_samples: args.nt_samples,
        nt_sigma: args.nt_sigma,
        seed: args.seed,
    };
    settings.check().map_err(|e| anyhow::anyhow!("{e}"))?;
    classgen::runtime::set_threads(config.train.threads);
    if let Some(k) = args.lookalikes.filter(|k| !(1..=100).contains(k)) {
        anyhow::bail!("--lookalikes: 1 to 100 images, found {k}");
    }
    let need =
        if model == ModelChoice::Cnn || args.sanity || args.layers || args.lookalikes.is_some() {
            NeedCnn::Required
        } else {
            NeedCnn::Optional
        };
    let inputs = super::inputs(config, &args.data, args.run.as_deref(), need)?;
    let plan = ExplainPlan {
        sources,
        target,
        methods,
        settings,
        model,
        cnn: inputs.cnn,
        baseline_settings: config.baselines.clone(),
        faithfulness: args.faithfulness.then_some(args.images),
        sanity: args.sanity,
        snapshots: Some(config.paths.snapshots.clone()),
        layers: args.layers,
        lookalikes: args.lookalikes,
    };
    let store = RunStore::new(&config.paths.runs);
    let names = inputs.data.class_names();
    let job = job::spawn(plan, inputs.data, &store, console::cancel_flag())?;
    super::announce(job.run());
    let palette = Palette::detect();
    for event in job.events().iter() {
        match event {
            ExplainEvent::Planned { images, methods } => {
                let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
                note!("{images} image(s), methods {}", names.join(", "))
            }
            ExplainEvent::Fitting {
                model,
                train_images,
            } => note!("fitting {model} on {train_images} images ..."),
            ExplainEvent::Explained(im) => {
                if !args.json {
                    for line in image_report(&im, palette) {
                        out!("{line}");
                    }
                }
            }
            ExplainEvent::Png { path } => note!("wrote {}", path.display()),
            ExplainEvent::Stage { name, images } => note!("{name} over {images} image(s) ..."),
            ExplainEvent::Faithfulness(_)
            | ExplainEvent::Sanity(_)
            | ExplainEvent::Layers(_)
            | ExplainEvent::Lookalikes { .. } => {}
            ExplainEvent::Notice { message } => note!("{message}"),
        }
    }
    let result = job.join().context("explain")?;
    if args.json {
        out!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    for line in timings(&result) {
        out!("{line}");
    }
    if let Some(f) = &result.faithfulness {
        for line in faithfulness_report(f) {
            out!("{line}");
        }
    }
    if let Some(s) = &result.sanity {
        for line in sanity_report(s) {
            out!("{line}");
        }
    }
    if let Some(found) = &result.lookalikes {
        for line in lookalikes_report(found, names) {
            out!("{line}");
        }
    }
    if let Some(grids) = &result.layers {
        out!("");
        out!("conv1's filters: {}", grids.filters.display());
        for (im, path) in result.images.iter().zip(&grids.activations) {
            out!(
                "{}: activation maps, strongest first: {}",
                im.tag,
                path.display()
            );
        }
        for (layer, path) in &grids.maximised {
            out!(
                "every unit of {layer} maximised from noise: {}",
                path.display()
            );
        }
        if grids.maximised.is_empty() {
            out!("the maximisation was cancelled");
        }
    }
    Ok(())
}

/// Each image's look-alike training images: rank, then index, label and distance in the
/// CNN's features and in pixels.
fn lookalikes_report(found: &[Lookalikes], names: [&str; CLASSES]) -> Vec<String> {
    let mut out = Vec::new();
    let name = |c: usize| names.get(c).copied().unwrap_or("?");
    for l in found {
        out.push(String::new());
        out.push(format!(
            "{}: look-alike training images, in the CNN's penultimate features and in pixels",
            l.tag
        ));
        let rows: Vec<Vec<String>> = l
            .features
            .iter()
            .zip(&l.pixels)
            .enumerate()
            .map(|(r, (f, p))| {
                vec![
                    (r + 1).to_string(),
                    format!("train:{}", f.index),
                    name(f.label).to_string(),
                    format!("{:.3}", f.distance),
                    format!("train:{}", p.index),
                    name(p.label).to_string(),
                    format!("{:.3}", p.distance),
                ]
            })
            .collect();
        out.extend(format::table(
            &[
                "rank", "features", "label", "distance", "pixels", "label", "distance",
            ],
            &rows,
            &[0, 3, 6],
        ));
        let agree = l
            .features
            .iter()
            .filter(|f| l.pixels.iter().any(|p| p.index == f.index))
            .count();
        out.push(format!("{agree} of {} in both lists", l.features.len()));
    }
    out
}

/// One image: a header, then the image and each map side by side, 14 lines of half blocks.
fn image_report(im: &Explained, palette: Palette) -> Vec<String> {
    let m = &im.maps;
    let label = im.label.map_or("?".to_string(), |l| l.to_string());
    let mut out = vec![format!(
        "{}  label {label}  target {} (p {:.3})  prediction {}{}",
        im.tag,
        m.target,
        m.probs[m.target],
        classgen::classifier::predictions(&m.probs)[0],
        m.ig_delta
            .map_or(String::new(), |d| format!("  ig delta {d:.2e}")),
    )];
    let pixels: [u8; PIXELS] = std::array::from_fn(|i| {
        classgen::snapshot::to_byte(im.pixels.get(i).copied().unwrap_or(0.0))
    });
    let mut columns = vec![half_blocks(&pixels, palette)];
    columns.extend(m.maps.iter().map(|(_, map)| signed_blocks(map, palette)));
    let mut header = format!("{:<30}", "image");
    for (method, _) in &m.maps {
        header.push_str(&format!("{:<30}", method.name()));
    }
    out.push(header.trim_end().to_string());
    for row in 0..SIDE / 2 {
        let line: Vec<&str> = columns.iter().map(|c| c[row].as_str()).collect();
        out.push(line.join("  "));
    }
    out.push(String::new());
    out
}

/// A signed map in half blocks: red for the class, blue against, black at 0 (scaled by the
/// largest magnitude); in ASCII, the positive part on the [`RAMP`], `-` where the map is
/// strongly negative.
fn signed_blocks(map: &[f32], palette: Palette) -> Vec<String> {
    let m = max_abs(map).max(f32::MIN_POSITIVE);
    let rgb = |v: f32| -> (u8, u8, u8) {
        let a = ((v.abs() / m).min(1.0) * 255.0).round() as u8;
        if v >= 0.0 {
            (a, a / 4, 0)
        } else {
            (0, a / 3, a)
        }
    };
    (0..SIDE / 2)
        .map(|row| {
            let mut line = String::new();
            for x in 0..SIDE {
                let (up, down) = (map[2 * row * SIDE + x], map[(2 * row + 1) * SIDE + x]);
                match palette {
                    Palette::Ascii => {
                        let mean = (up + down) / 2.0;
                        if mean < -0.25 * m {
                            line.push('-');
                        } else {
                            let last = (RAMP.len() - 1) as f32;
                            let i = ((mean.max(0.0) / m) * last).round() as usize;
                            line.push(char::from(RAMP[i.min(RAMP.len() - 1)]));
                        }
                    }
                    _ => {
                        let ((r1, g1, b1), (r2, g2, b2)) = (rgb(up), rgb(down));
                        let (fg, bg) = if palette == Palette::TrueColor {
                            (
                                format!("38;2;{r1};{g1};{b1}"),
                                format!("48;2;{r2};{g2};{b2}"),
                            )
                        } else {
                            (
                                format!("38;5;{}", cube(r1, g1, b1)),
                                format!("48;5;{}", cube(r2, g2, b2)),
                            )
                        };
                        line.push_str(&format!("\x1b[{fg}m\x1b[{bg}m▀"));
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

/// The xterm 256-colour cube entry nearest to an RGB colour.
fn cube(r: u8, g: u8, b: u8) -> u8 {
    let c = |v: u8| (u16::from(v) * 5 + 127) / 255;
    (16 + 36 * c(r) + 6 * c(g) + c(b)) as u8
}

/// Seconds per method for the images.
fn timings(result: &ExplainResult) -> Vec<String> {
    let n = result.images.len().max(1) as f64;
    let rows: Vec<Vec<String>> = result
        .seconds
        .iter()
        .map(|(m, s)| vec![m.name().to_string(), format!("{:.2}", 1000.0 * s / n)])
        .collect();
    let mut out = vec![format!(
        "{} of {} image(s), {} of the target ({}), ms per image:",
        result.model,
        result.images.len(),
        match result.settings.of {
            Of::Logit => "logit",
            Of::Prob => "probability",
        },
        match result.target {
            Target::Pred => "prediction".to_string(),
            Target::True => "label".to_string(),
            Target::Class(c) => format!("class {c}"),
        }
    )];
    out.extend(format::table(&["method", "ms/image"], &rows, &[1]));
    if let Some(p) = &result.png {
        out.push(format!("grid: {}", p.display()));
    }
    out
}

/// The faithfulness table and a braille chart of the deletion curves.
fn faithfulness_report(f: &Faithfulness) -> Vec<String> {
    let mut out = vec![
        String::new(),
        format!(
            "Faithfulness over {} test images (pixels ranked by the map, removed / added in 5 % steps; p(prediction) after each)",
            f.images
        ),
    ];
    let rows: Vec<Vec<String>> = f
        .rows
        .iter()
        .map(|r| {
            vec![
                r.method.clone(),
                format!("{:.3}", r.deletion_auc),
                format!("{:.3}", r.insertion_auc),
                format!("{:.2}", 1000.0 * r.seconds_per_image),
            ]
        })
        .collect();
    out.extend(format::table(
        &[
            "method",
            "deletion AUC (low good)",
            "insertion AUC (high good)",
            "ms/image",
        ],
        &rows,
        &[1, 2, 3],
    ));
    let series: Vec<Series> = f
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let points: Vec<(f64, f64)> = r
                .deletion
                .iter()
                .enumerate()
                .map(|(k, v)| (100.0 * k as f64 / (STEPS - 1) as f64, *v))
                .collect();
            let color = if r.method == "random" {
                Color::Gray
            } else {
                PALETTE[i % PALETTE.len()]
            };
            Series::line(r.method.clone(), points, color)
        })
        .collect();
    let chart = ChartSpec::new(
        "deletion: p(prediction)",
        AxisSpec::new("% removed", [0.0, 100.0]),
        AxisSpec::new("p", [0.0, 1.0]),
        series,
    );
    out.push(String::new());
    out.extend(charts::render(72, 16, &chart));
    out
}

/// The sanity table: the rank correlation per method after each step of the cascade.
fn sanity_report(s: &Sanity) -> Vec<String> {
    let mut out = vec![
        String::new(),
        format!(
            "Sanity check over {} image(s): Spearman correlation with the trained model's map as layers are randomised from the top",
            s.images
        ),
    ];
    let mut header: Vec<&str> = vec!["method"];
    header.extend(s.steps.iter().map(String::as_str));
    header.push("verdict");
    let rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            let mut row = vec![r.method.clone()];
            row.extend(r.correlations.iter().map(|c| format!("{c:.2}")));
            row.push(if r.explains {
                "explains the model".into()
            } else {
                format!("NOT explaining (survives randomisation, >= {SURVIVES})")
            });
            row
        })
        .collect();
    out.extend(format::table(
        &header,
        &rows,
        &(1..=s.steps.len()).collect::<Vec<_>>(),
    ));
    out
}

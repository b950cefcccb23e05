//! Attribution maps: agreement with Captum's on a committed model (tests/data/explain-tiny,
//! see tests/data/README.md), input gradients against finite differences, occlusion on a
//! model with a known answer, the sanity check, and the headless command.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use classgen::classifier::Classifier;
use classgen::data::source::load_sample;
use classgen::data::{CLASSES, PIXELS, SIDE};
use classgen::explain::sanity::{self, MapFn};
use classgen::explain::{
    explain, explain_targets, max_abs, Explainer, Method, Of, Settings, Target,
};
use classgen::model::{ArchSpec, ConvSpec, Network};
use classgen::runs::checkpoint;
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/explain-tiny")
}

fn tiny() -> Network {
    checkpoint::load_network(&data_dir(), &candle_core::Device::Cpu)
        .unwrap()
        .0
}

/// The reference file's images as [0,1] pixels, their labels and the whole JSON.
fn reference(file: &str) -> (Vec<f32>, Vec<Option<usize>>, Value) {
    let text = std::fs::read_to_string(data_dir().join(file)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let test = load_sample().unwrap().test;
    let mut xs = Vec::new();
    let mut labels = Vec::new();
    for im in v["images"].as_array().unwrap() {
        let i = im["index"].as_u64().unwrap() as usize;
        xs.extend(test.image(i).iter().map(|&p| f32::from(p) / 255.0));
        labels.push(Some(usize::from(test.labels[i])));
    }
    (xs, labels, v)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let a: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
    let b: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    sanity::pearson(&a, &b)
}

/// Every map of the reference file against ours with the same settings.
fn agree(file: &str, of: Of, target: Target) {
    let (xs, labels, v) = reference(file);
    let settings = Settings {
        of,
        nt_samples: 200,
        ..Settings::default()
    };
    let mut model = Explainer::cnn(&tiny()).unwrap();
    let ours = explain(&mut model, &xs, &labels, target, &Method::ALL, &settings).unwrap();
    for (im, theirs) in ours.images.iter().zip(v["images"].as_array().unwrap()) {
        assert_eq!(im.target as u64, theirs["target"].as_u64().unwrap());
        let probs = floats(&theirs["probs"]);
        for (a, b) in im.probs.iter().zip(&probs) {
            assert!((a - b).abs() < 1e-5, "probs {:?} vs {probs:?}", im.probs);
        }
        for &m in &Method::ALL {
            let want = floats(&theirs["maps"][m.name()]);
            let got = im.map(m).unwrap();
            if m == Method::Smoothgrad {
                let r = pearson(got, &want);
                assert!(
                    r >= 0.95,
                    "{file} image {}: smoothgrad r = {r}",
                    theirs["index"]
                );
                continue;
            }
            let tol = if m == Method::Ig { 1e-3 } else { 1e-4 } * max_abs(&want);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= tol,
                "{file} image {} {m}: largest difference {worst:e}, allowed {tol:e}",
                theirs["index"]
            );
        }
        let delta = theirs["ig_delta"].as_f64().unwrap() as f32;
        let ours = im.ig_delta.unwrap();
        assert!(
            (ours - delta).abs() < 1e-3 * delta.abs().max(1.0),
            "{ours} vs {delta}"
        );
    }
}

#[test]
fn maps_of_the_logit_agree_with_captum() {
    agree("captum-logit.json", Of::Logit, Target::Pred);
}

#[test]
fn maps_of_the_probability_of_the_true_class_agree_with_captum() {
    agree("captum-prob.json", Of::Prob, Target::True);
}

/// A network with no pooling after its first convolution, a 5x5 kernel and no dense layer:
/// other paths through the engine than the seed CNN's.
fn odd() -> Network {
    let spec = ArchSpec {
        name: "odd".into(),
        convs: vec![
            ConvSpec {
                filters: 6,
                kernel: 5,
                pool: false,
            },
            ConvSpec {
                filters: 5,
                kernel: 3,
                pool: true,
            },
            ConvSpec {
                filters: 4,
                kernel: 3,
                pool: false,
            },
        ],
        dense: None,
    };
    let net = Network::new(&spec, 7, &candle_core::Device::Cpu).unwrap();
    // Non-zero biases, so no pre-activation sits exactly on a ReLU's kink (a black background
    // under zero biases would, and finite differences would see one side of it).
    for (i, var) in net.vars().enumerate().filter(|(i, _)| i % 2 == 1) {
        let values: Vec<f32> = (0..var.elem_count())
            .map(|j| 0.05 + 0.1 * (((i * 7 + j * 13) % 11) as f32 / 11.0 - 0.5))
            .collect();
        var.set(&candle_core::Tensor::new(values, &candle_core::Device::Cpu).unwrap())
            .unwrap();
    }
    net
}

#[test]
fn input_gradients_match_finite_differences_on_an_odd_architecture() {
    let net = odd();
    let mut model = Explainer::cnn(&net).unwrap();
    let test = load_sample().unwrap().test;
    // A digit with a little fixed noise: on the image itself, saturated strokes and the black
    // background tie inside max-pool windows, where the network has no derivative at all.
    let x: Vec<f32> = test
        .image(5)
        .iter()
        .enumerate()
        .map(|(p, &v)| f32::from(v) / 255.0 + ((p * 7919) % 101) as f32 / 1010.0)
        .collect();
    for (of, target) in [(Of::Logit, 3), (Of::Prob, 8)] {
        let (_, g) = model.gradients(&x, &[target], of).unwrap();
        // Central differences pixel by pixel (every third pixel). Max-pool windows whose
        // entries nearly tie make a few differences straddle a kink, so the bar is the
        // correlation and the share of close pixels, not every pixel.
        let h = 1e-3f32;
        let (mut numeric, mut analytic) = (Vec::new(), Vec::new());
        for p in (0..PIXELS).step_by(3) {
            let mut y = x.clone();
            y[p] += h;
            let up = model.scores(&y, of).unwrap()[target];
            y[p] -= 2.0 * h;
            let down = model.scores(&y, of).unwrap()[target];
            numeric.push((up - down) / (2.0 * h));
            analytic.push(g[p]);
        }
        let r = pearson(&numeric, &analytic);
        let close = numeric
            .iter()
            .zip(&analytic)
            .filter(|(n, a)| (*n - *a).abs() <= 0.02 * max_abs(&g))
            .count();
        assert!(max_abs(&g) > 0.0);
        assert!(r > 0.99, "{of:?}: correlation {r}");
        assert!(
            close * 100 >= 90 * numeric.len(),
            "{of:?}: {close} of {} close",
            numeric.len()
        );
    }
    // Grad-CAM runs on a last convolution without pooling.
    let e = explain(
        &mut model,
        &x,
        &[None],
        Target::Class(2),
        &[Method::Gradcam],
        &Settings::default(),
    )
    .unwrap();
    assert!(max_abs(e.images[0].map(Method::Gradcam).unwrap()) > 0.0);
}

/// Class 1 when the mean of the 6x6 block at rows 8-13, columns 14-19 is bright, else 0; the
/// other pixels count for nothing.
struct Block;

impl Classifier for Block {
    fn name(&self) -> &str {
        "block"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        Ok(pixels
            .chunks_exact(PIXELS)
            .flat_map(|img| {
                let mut sum = 0.0;
                for y in 8..14 {
                    for x in 14..20 {
                        sum += f32::from(img[y * SIDE + x]) / 255.0;
                    }
                }
                let p1 = 1.0 / (1.0 + (-(sum - 6.0)).exp());
                let mut row = vec![0.0; CLASSES];
                row[0] = 1.0 - p1;
                row[1] = p1;
                row
            })
            .collect())
    }

    fn size_bytes(&self) -> usize {
        0
    }
}

#[test]
fn occlusion_puts_its_mass_where_the_answer_lives() {
    let mut model = Explainer::scores_only(Arc::new(Block));
    let x = vec![1.0f32; PIXELS];
    let settings = Settings {
        of: Of::Prob,
        ..Settings::default()
    };
    let e = explain(
        &mut model,
        &x,
        &[None],
        Target::Class(1),
        &[Method::Occlusion],
        &settings,
    )
    .unwrap();
    let map = e.images[0].map(Method::Occlusion).unwrap();
    let total: f32 = map.iter().map(|v| v.abs()).sum();
    // Windows (4x4, stride 2) touching the block spill at most 3 pixels around it.
    let near: f32 = (0..PIXELS)
        .filter(|p| (5..17).contains(&(p / SIDE)) && (11..23).contains(&(p % SIDE)))
        .map(|p| map[p].abs())
        .sum();
    assert!(total > 0.0);
    assert!(near / total > 0.999, "{near} of {total}");
    let inside = map[10 * SIDE + 16];
    assert!(inside > 0.0 && inside >= max_abs(map) * 0.99, "{inside}");
    // Gradient methods need a differentiable model.
    let err = explain(
        &mut model,
        &x,
        &[None],
        Target::Class(1),
        &[Method::Ig],
        &settings,
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs gradients"), "{err}");
}

#[test]
fn the_sanity_check_flags_a_map_of_the_input_and_passes_the_gradient() {
    let net = tiny();
    let test = load_sample().unwrap().test;
    let xs: Vec<f32> = test.images[..4 * PIXELS]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let targets: Vec<usize> = test.labels[..4].iter().map(|&l| usize::from(l)).collect();
    let input: Box<MapFn> = Box::new(|_, xs, _| Ok(xs.to_vec()));
    let makers = vec![
        ("input".to_string(), input),
        (
            "grad".to_string(),
            sanity::method(Method::Grad, Settings::default()),
        ),
    ];
    let s = sanity::check(&net, &xs, &targets, &makers, 11, &|| false).unwrap();
    assert_eq!(
        s.steps,
        vec![
            "out",
            "out+dense",
            "out+dense+conv2",
            "out+dense+conv2+conv1"
        ]
    );
    let input = &s.rows[0];
    assert!(!input.explains, "{input:?}");
    assert!(input.correlations.iter().all(|&c| c > 0.99), "{input:?}");
    let grad = &s.rows[1];
    assert!(grad.explains, "{grad:?}");
    // The same seed gives the same table.
    assert_eq!(
        s,
        sanity::check(&net, &xs, &targets, &makers, 11, &|| false).unwrap()
    );
}

#[test]
fn targets_out_of_range_and_missing_labels_are_refused() {
    let mut model = Explainer::cnn(&tiny()).unwrap();
    let x = vec![0.0; PIXELS];
    let s = Settings::default();
    assert!(explain_targets(&mut model, &x, &[10], &[Method::Grad], &s).is_err());
    let err = explain(&mut model, &x, &[None], Target::True, &[Method::Grad], &s).unwrap_err();
    assert!(err.to_string().contains("--target true"), "{err}");
}

/// A directory whose `runs/` holds a copy of the committed tiny run; its path for `--run`.
fn workdir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/20261204-225154-train");
    let src = data_dir();
    for file in [
        "checkpoint.json",
        "run.json",
        "checkpoints/000009/model.safetensors",
    ] {
        let to = run.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(file), to).unwrap();
    }
    let run = run.to_string_lossy().into_owned();
    (dir, run)
}

fn classgen(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{text}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The result of the explain run a command announced on stderr (`run: DIR`).
fn explain_result(dir: &Path, out: &std::process::Output) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    let run = err
        .lines()
        .find_map(|l| l.strip_prefix("run: "))
        .unwrap_or_else(|| panic!("no run announced:\n{err}"));
    let run = dir.join(run);
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["kind"], "explain");
    assert_eq!(record["state"]["status"], "finished");
    serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap()
}

#[test]
fn headless_maps_draw_in_ascii_in_a_pipe_write_a_grid_and_a_run() {
    let (dir, run) = workdir();
    let seven = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seven.png");
    let from = format!("test:0,file:{},class:3", seven.display());
    let out = classgen(
        dir.path(),
        &[
            "explain",
            "--run",
            &run,
            "--from",
            &from,
            "--methods",
            "grad,ig,occlusion",
        ],
    );
    let text = ok(&out);
    assert!(!text.contains('\x1b'), "escapes in a pipe:\n{text}");
    for head in ["test-0  label 4", "seven  label ?", "label 3  target 3"] {
        assert!(text.contains(head), "no '{head}' in:\n{text}");
    }
    // Each image: a header, a title row, 14 rows of image + 3 maps, 28 cells each.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.chars().count() == 4 * SIDE + 3 * 2)
        .collect();
    assert_eq!(rows.len(), 3 * SIDE / 2, "{text}");
    let result = explain_result(dir.path(), &out);
    let images = result["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!(images[1]["label"], Value::Null);
    assert_eq!(images[2]["maps"]["target"], 3);
    let png = dir.path().join(result["png"].as_str().unwrap());
    let img = image::open(&png).unwrap().to_rgb8();
    // 4 columns (image + 3 methods) by 3 rows of 112-pixel cells, 6-pixel gaps, titles on
    // top and labels on the left; maps red for the target and blue against.
    assert_eq!(img.height(), 32 + 3 * (112 + 6) + 6);
    assert!(img.width() > 4 * (112 + 6) + 6);
    let red = img.pixels().filter(|p| p[0] == 255 && p[1] < 128).count();
    let blue = img.pixels().filter(|p| p[2] == 255 && p[0] < 128).count();
    assert!(red > 100 && blue > 100, "red {red}, blue {blue}");
    // The same command again: its own grid, the first one kept.
    let again = classgen(
        dir.path(),
        &[
            "explain",
            "--run",
            &run,
            "--from",
            &from,
            "--methods",
            "grad,ig,occlusion",
        ],
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let grids = std::fs::read_dir(png.parent().unwrap()).unwrap().count();
    assert_eq!(grids, 2);
    // The seven from the file is read as test image 11 of the sample: a 7.
    let seven_target = images[1]["maps"]["target"].as_u64().unwrap();
    assert_eq!(seven_target, 7);
}

#[test]
fn headless_json_faithfulness_and_sanity() {
    let (dir, run) = workdir();
    let out = classgen(
        dir.path(),
        &[
            "explain", "--run", &run, "--from", "test:1", "--target", "true", "--json",
        ],
    );
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    let maps = v["images"][0]["maps"]["maps"].as_array().unwrap();
    assert_eq!(maps.len(), Method::ALL.len());
    assert!(v["images"][0]["maps"]["ig_delta"].is_number());
    assert_eq!(v["images"][0]["maps"]["target"], v["images"][0]["label"]);

    let out = classgen(
        dir.path(),
        &[
            "explain",
            "--run",
            &run,
            "--from",
            "test:2,test:3",
            "--methods",
            "grad,gradcam",
            "--faithfulness",
            "--images",
            "6",
            "--sanity",
        ],
    );
    let text = ok(&out);
    assert!(text.contains("Faithfulness over 6 test images"), "{text}");
    for method in ["grad ", "gradcam ", "random "] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(method) && l.contains("0.")),
            "no row for {method}:\n{text}"
        );
    }
    assert!(text.contains('⠀') || text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)));
    assert!(text.contains("out+dense+conv2+conv1"), "{text}");
    let result = explain_result(dir.path(), &out);
    assert_eq!(result["faithfulness"]["images"], 6);
    assert_eq!(result["sanity"]["rows"].as_array().unwrap().len(), 2);

    // A bad source is one line naming the flag.
    let out = classgen(dir.path(), &["explain", "--run", &run, "--from", "digit:3"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--from: expected test:IDX"), "{err}");
}

#[test]
fn a_baseline_without_gradients_gets_occlusion_of_the_probability() {
    let (dir, run) = workdir();
    let out = classgen(
        dir.path(),
        &[
            "explain", "--run", &run, "--from", "test:0", "--model", "tree", "--json",
        ],
    );
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["model"], "tree");
    assert_eq!(v["settings"]["of"], "prob");
    let maps = v["images"][0]["maps"]["maps"].as_array().unwrap();
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0][0], "occlusion");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no saliency, grad"), "{err}");
}

/// `--layers` writes the filter, activation and maximisation grids as PNGs; `--lookalikes K`
/// prints K look-alike training images per image in features and in pixels, nearest first,
/// and keeps them in the run's result.
#[test]
fn headless_layers_and_lookalikes() {
    let (dir, run) = workdir();
    let out = classgen(
        dir.path(),
        &[
            "explain",
            "--run",
            &run,
            "--from",
            "test:1,test:2",
            "--methods",
            "grad",
            "--layers",
            "--lookalikes",
            "4",
        ],
    );
    let text = ok(&out);
    let tables: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("look-alike training images"))
        .collect();
    assert_eq!(tables.len(), 2, "{text}");
    let result = explain_result(dir.path(), &out);
    for found in result["lookalikes"].as_array().unwrap() {
        for list in ["features", "pixels"] {
            let d: Vec<f64> = found[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["distance"].as_f64().unwrap())
                .collect();
            assert_eq!(d.len(), 4, "{found}");
            assert!(d.windows(2).all(|w| w[0] <= w[1]), "{list}: {d:?}");
        }
    }
    let layers = &result["layers"];
    let mut pngs = vec![layers["filters"].as_str().unwrap()];
    // The last convolution's channels, and the dense units when there is a hidden layer.
    let maximised = layers["maximised"].as_array().unwrap();
    assert!(!maximised.is_empty());
    pngs.extend(maximised.iter().map(|m| m[1].as_str().unwrap()));
    pngs.extend(
        layers["activations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap()),
    );
    assert!(pngs.len() >= 4, "{pngs:?}");
    for png in pngs {
        let img = image::open(dir.path().join(png)).unwrap();
        assert!(img.width() > 112 && img.height() > 112, "{png}");
        assert!(text.contains(png), "{png} is named on stdout:\n{text}");
    }
    let bad = classgen(dir.path(), &["explain", "--run", &run, "--lookalikes", "0"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--lookalikes: 1 to 100"));
}

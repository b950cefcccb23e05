//! `--plot`: every headless command that draws charts writes them as a PNG that decodes at the
//! size `--help` states (1200x800) and as an SVG that parses as XML and holds the chart's
//! title, axis titles and legend names; a file name of another kind is refused before any work.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use classgen::data::source::load_sample;

fn classgen(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory with `data/` (2,048 / 300 sample images) and a CNN trained on it for one
/// epoch with `--plot train.png --plot train.svg`; the run's name.
fn workspace() -> &'static (tempfile::TempDir, String) {
    static WORKSPACE: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    WORKSPACE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let sample = load_sample().unwrap();
        sample.train.head(2048).write(&data, "train").unwrap();
        sample.test.head(300).write(&data, "t10k").unwrap();
        let out = classgen(
            dir.path(),
            &[
                "train",
                "--epochs",
                "1",
                "--seed",
                "3",
                "--arch",
                "narrow",
                "--data-dir",
                "data",
                "--json",
                "--plot",
                "train.png",
                "--plot",
                "train.svg",
            ],
        );
        ok(&out);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let run = json["run"].as_str().unwrap().to_string();
        (dir, run)
    })
}

/// `<stem>.png` decodes at 1200x800 with more than white in it; `<stem>.svg` parses, is
/// 1200x800 and has each of `texts` in its text.
fn pictures(dir: &Path, stem: &str, texts: &[&str]) {
    let png = image::open(dir.join(format!("{stem}.png")))
        .unwrap_or_else(|e| panic!("{stem}.png: {e}"))
        .to_rgb8();
    assert_eq!(png.dimensions(), (1200, 800), "{stem}.png");
    assert_eq!(png.dimensions(), classgen::text::plot::SIZE);
    let inked = png.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(
        inked > 1200 * 800 / 50,
        "{stem}.png is nearly blank: {inked}"
    );
    let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("1200"), "{stem}.svg");
    assert_eq!(root.attribute("height"), Some("800"), "{stem}.svg");
    let text: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    let text = text.join("\n");
    for t in texts {
        assert!(text.contains(t), "{stem}.svg lacks '{t}':\n{text}");
    }
}

#[test]
fn train_plots_loss_and_accuracy_curves() {
    let (dir, run) = workspace();
    pictures(
        dir.path(),
        "train",
        &[
            &format!("{run}: loss"),
            &format!("{run}: accuracy"),
            "train, per batch",
            "train, epoch mean",
            "test",
            "epoch",
            "loss (log scale)",
        ],
    );
}

#[test]
fn confidence_plots_a_histogram_per_model_and_the_reliability_diagram() {
    let (dir, _) = workspace();
    let args = [
        "confidence",
        "--models",
        "cnn,logreg",
        "--bins",
        "10",
        "--data-dir",
        "data",
        "--plot",
        "confidence.png",
        "--plot",
        "confidence.svg",
    ];
    ok(&classgen(dir.path(), &args));
    pictures(
        dir.path(),
        "confidence",
        &[
            "cnn: m(x) of 300 test images",
            "logreg: m(x) of 300 test images",
            "reliability",
            "calibrated",
            "images",
        ],
    );
}

#[test]
fn robustness_plots_accuracy_against_sigma() {
    let (dir, _) = workspace();
    let args = [
        "robustness",
        "--models",
        "logreg",
        "--attacks",
        "none",
        "--noise-limit",
        "50",
        "--data-dir",
        "data",
        "--plot",
        "robustness.png",
        "--plot",
        "robustness.svg",
    ];
    ok(&classgen(dir.path(), &args));
    pictures(
        dir.path(),
        "robustness",
        &["accuracy under Gaussian noise", "sigma", "cnn", "logreg"],
    );
}

#[test]
fn ablate_plots_bars_per_variant() {
    let (dir, _) = workspace();
    let args = [
        "ablate",
        "--variants",
        "tiny",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--data-dir",
        "data",
        "--plot",
        "ablate.png",
        "--plot",
        "ablate.svg",
    ];
    ok(&classgen(dir.path(), &args));
    pictures(
        dir.path(),
        "ablate",
        &["ablation", "tiny", "mean ± std over seeds", "variant"],
    );
}

#[test]
fn invert_plots_p_target_over_the_steps() {
    let (dir, _) = workspace();
    let args = [
        "invert",
        "--from",
        "noise:1",
        "--target",
        "4",
        "--max-steps",
        "20",
        "--data-dir",
        "data",
        "--plot",
        "invert.png",
        "--plot",
        "invert.svg",
    ];
    ok(&classgen(dir.path(), &args));
    pictures(
        dir.path(),
        "invert",
        &["noise-1 -> 4: p(target)", "threshold", "step"],
    );
}

#[test]
fn other_file_names_and_grids_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = classgen(dir.path(), &["train", "--plot", "curves.jpg"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--plot") && err.contains("expected a file name ending in .png or .svg"),
        "{err}"
    );
    let out = classgen(dir.path(), &["invert", "--grid", "--plot", "grid.png"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--plot draws one inversion"), "{err}");
    // Nothing ran: no run directory.
    assert!(!dir.path().join("runs").exists());
}

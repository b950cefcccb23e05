//! `classgen predict` and `classgen invert --from file:PATH`, run as the real binary in a
//! temporary directory holding a subset of the bundled sample and a CNN trained on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use classgen::data::source::load_sample;
use classgen::runs::{RunKind, RunStore};
use image::imageops::{self, FilterType};
use serde_json::Value;

/// The committed 7 (a test digit of the bundled sample, 28x28).
const SEVEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/seven.png");

/// A directory with `data/` (4,096 / 500 sample images as IDX files), `runs/` (one CNN trained
/// on it) and a few image files; the name of the training run.
struct Workspace {
    dir: tempfile::TempDir,
    run: String,
}

impl Workspace {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `classgen ARGS` in `dir`.
fn classgen(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One workspace for every test: the seed CNN trained for one epoch with the study's plain
/// recipe (as `tests/import.rs` trains it, which classifies the 7 as a 7).
fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let sample = load_sample().unwrap();
        sample.train.head(4096).write(&data, "train").unwrap();
        sample.test.head(500).write(&data, "t10k").unwrap();
        let trained = classgen(
            dir.path(),
            &[
                "train",
                "--epochs",
                "1",
                "--seed",
                "3",
                "--schedule",
                "constant",
                "--augment-shift",
                "0",
                "--data-dir",
                "data",
            ],
        );
        assert!(trained.status.success(), "{}", text(&trained.stderr));
        let run = RunStore::new(dir.path().join("runs"))
            .newest(RunKind::Train, |_| true)
            .unwrap()
            .name;
        // The 7 in black ink on white paper, four times larger.
        let seven = image::open(SEVEN).unwrap().to_luma8();
        let mut paper = imageops::resize(&seven, 112, 112, FilterType::Triangle);
        imageops::invert(&mut paper);
        paper.save(dir.path().join("seven-paper.png")).unwrap();
        std::fs::write(dir.path().join("notes.png"), "not an image").unwrap();
        Workspace { dir, run }
    })
}

/// `classgen predict ARGS --data-dir data` in the workspace.
fn predict(w: &Workspace, args: &[&str]) -> Output {
    let mut all = vec!["predict"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", "data"]);
    classgen(w.dir.path(), &all)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

/// The top class of `file`'s prediction by `model`, checking the fields on the way.
fn top_class(file: &Value, model: &str) -> u64 {
    let prediction = file["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == model)
        .unwrap_or_else(|| panic!("no {model} prediction in {file}"));
    let probs: Vec<f64> = prediction["probs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-3, "{probs:?}");
    let top = prediction["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    for pair in top.windows(2) {
        assert!(pair[0]["p"].as_f64() >= pair[1]["p"].as_f64(), "{top:?}");
    }
    for ranked in top {
        let class = ranked["class"].as_u64().unwrap();
        assert_eq!(ranked["name"], class.to_string());
        assert_eq!(ranked["p"].as_f64(), Some(probs[class as usize]));
    }
    top[0]["class"].as_u64().unwrap()
}

#[test]
fn predict_json_gives_the_top_classes_of_each_file_and_the_run_used() {
    let w = workspace();
    let paper = w.path("seven-paper.png");
    let paper = paper.to_str().unwrap();
    let output = predict(w, &[SEVEN, paper, "--models", "logreg", "--json"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("model: runs/{}", w.run)),
        "{stderr}"
    );
    assert!(
        stderr.contains("fitting logreg on 4096 training images"),
        "{stderr}"
    );
    let report = json(&output);
    assert_eq!(report["model_run"]["run"], w.run.as_str());
    assert_eq!(report["data"]["train_images"], 4096);
    assert_eq!(report["raw"], false);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], SEVEN);
    assert_eq!(files[0]["inverted"], false);
    assert_eq!(files[1]["path"], paper);
    assert_eq!(files[1]["inverted"], true, "dark on light is inverted");
    for file in files {
        assert_eq!(top_class(file, "cnn"), 7, "{file}");
        top_class(file, "logreg");
    }
}

#[test]
fn a_bad_file_is_named_and_the_others_still_print() {
    let w = workspace();
    let output = predict(w, &["notes.png", SEVEN, "missing.png"]);
    assert_eq!(output.status.code(), Some(1));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        stderr.contains("error: notes.png is not a PNG or JPEG image"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: cannot read missing.png"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 2 of 3 files could not be read"),
        "{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], SEVEN);
    assert!(lines[1].starts_with("  cnn  7 "), "{stdout}");

    let output = predict(w, &["notes.png", SEVEN, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files[0]["path"], "notes.png", "in the order given");
    assert_eq!(top_class(&files[1], "cnn"), 7);
    let error = files[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("notes.png is not a PNG or JPEG"),
        "{error}"
    );
}

#[test]
fn show_draws_the_28x28_image_in_14_lines_of_28_cells() {
    let w = workspace();
    let output = predict(w, &[SEVEN, "--show"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 14 + 1, "{stdout}");
    let picture = &lines[1..15];
    for line in picture {
        assert_eq!(line.chars().count(), 28, "{line:?}");
        assert!(
            line.chars().all(|c| " .:-=+*#%@".contains(c)),
            "not a terminal: ASCII, no escapes: {line:?}"
        );
    }
    assert!(picture.iter().any(|l| l.contains('@')), "{stdout}");
    assert!(lines[15].starts_with("  cnn  7 "), "{stdout}");
}

#[test]
fn raw_mode_takes_the_pixels_of_28x28_images_only() {
    let w = workspace();
    let output = predict(w, &[SEVEN, "--raw", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = json(&output);
    assert_eq!(report["raw"], true);
    assert_eq!(top_class(&report["files"][0], "cnn"), 7);
    let output = predict(w, &["seven-paper.png", "--raw"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("seven-paper.png is 112x112; raw mode (--raw) expects"),
        "{stderr}"
    );
}

#[test]
fn invert_from_a_file_writes_snapshots_named_after_it() {
    let w = workspace();
    let from = format!("file:{SEVEN}");
    let output = classgen(
        w.dir.path(),
        &[
            "invert",
            "--from",
            &from,
            "--target",
            "1",
            "--json",
            "--every",
            "0",
            "--data-dir",
            "data",
        ],
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("from file-seven"), "{stderr}");
    let result = json(&output);
    assert_eq!(result["source"], "file-seven");
    assert_eq!(result["label"], Value::Null);
    assert_eq!(result["target"], 1);
    assert_eq!(result["model_run"]["run"], w.run.as_str());
    let snapshots = result["snapshots"].as_array().unwrap();
    assert!(!snapshots.is_empty());
    for snapshot in snapshots {
        let path = w.dir.path().join(snapshot.as_str().unwrap());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.contains("_file-seven_to1_"), "{name}");
        assert!(path.is_file(), "{}", path.display());
    }
    let run = RunStore::new(w.path("runs"))
        .newest(RunKind::Invert, |_| true)
        .unwrap();
    assert!(
        stderr.contains(&format!("run: runs/{}", run.name)),
        "{stderr}"
    );
}

#[test]
fn invert_from_a_bad_file_names_it() {
    let w = workspace();
    for (args, message) in [
        (
            vec!["--from", "file:notes.png"],
            "error: --from: notes.png is not a PNG or JPEG image",
        ),
        (
            vec!["--from", "file:seven-paper.png", "--raw"],
            "seven-paper.png is 112x112; raw mode (--raw) expects",
        ),
        (
            vec!["--from", "class:3", "--raw"],
            "--raw goes with --from file:PATH",
        ),
    ] {
        let mut all = vec!["invert", "--target", "1", "--data-dir", "data"];
        all.extend(args);
        let output = classgen(w.dir.path(), &all);
        assert_eq!(output.status.code(), Some(1), "{all:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{all:?}: {stderr}");
    }
}

/// Inversions whose names used to collide (the same file name in two folders, names that
/// differ only in characters a file name drops, another learning rate) keep their own files:
/// each run's result.json lists files no other run lists, each holding that run's image.
#[test]
fn colliding_inversions_keep_their_own_snapshots() {
    let w = workspace();
    let own = tempfile::tempdir().unwrap();
    let config = own.path().join("own.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nsnapshots = \"{}\"\nruns = \"{}\"\n",
            own.path().join("snaps").display(),
            own.path().join("runs").display()
        ),
    )
    .unwrap();
    // Four different digits of the sample as PNG files with colliding names.
    let sample = load_sample().unwrap();
    let files = ["x/d.png", "y/d.png", "a b.png", "a-b.png"];
    for (i, name) in files.iter().enumerate() {
        let path = own.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_raw(28, 28, sample.test.image(i).to_vec())
            .unwrap()
            .save(&path)
            .unwrap();
    }
    let run_dir = w.path("runs").join(&w.run);
    let invert = |from: &str, extra: &[&str]| -> Value {
        let from = format!("file:{}", own.path().join(from).display());
        let mut args = vec![
            "invert",
            "--config",
            config.to_str().unwrap(),
            "--run",
            run_dir.to_str().unwrap(),
            "--from",
            &from,
            "--target",
            "3",
            "--max-steps",
            "8",
            "--every",
            "0",
            "--json",
        ];
        args.extend(extra);
        let output = classgen(w.dir.path(), &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        json(&output)
    };
    let results = [
        invert(files[0], &[]),
        invert(files[1], &[]),
        invert(files[2], &[]),
        invert(files[3], &[]),
        invert(files[0], &["--lr", "0.5"]),
    ];
    let listed = |r: &Value| -> Vec<PathBuf> {
        r["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| w.dir.path().join(p.as_str().unwrap()))
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    for r in &results {
        for path in listed(r) {
            assert!(path.is_file(), "{}", path.display());
            assert!(seen.insert(path.clone()), "{} listed twice", path.display());
        }
    }
    assert_eq!(
        std::fs::read_dir(own.path().join("snaps")).unwrap().count(),
        seen.len(),
        "every file written is some run's"
    );
    // The saved result.json of each run lists what the command printed, and each final
    // image is its own run's: the four sources give four different images.
    let store = RunStore::new(own.path().join("runs"));
    let mut saved: Vec<Value> = store
        .list()
        .into_iter()
        .filter(|r| r.record.kind == RunKind::Invert)
        .map(|r| r.result().unwrap())
        .collect();
    saved.sort_by_key(|r| r["snapshots"][0].as_str().unwrap().to_string());
    let mut printed = results.to_vec();
    printed.sort_by_key(|r| r["snapshots"][0].as_str().unwrap().to_string());
    assert_eq!(saved, printed);
    let finals: std::collections::HashSet<Vec<u8>> = results[..4]
        .iter()
        .map(|r| std::fs::read(&listed(r)[0]).unwrap())
        .collect();
    assert_eq!(finals.len(), 4, "four sources, four final images");
}

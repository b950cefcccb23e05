//! Every subcommand run as the real binary on a subset of the bundled sample: its exit code,
//! and that its result file has the documented fields and names the run (and model) it used.
//! Also: a run made with `--data-dir` is evaluated and resumed on that directory without the
//! flag; a model of another data set is refused naming both; the CLI and the dashboard's
//! session write the same inversion files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use classgen::data::source::load_sample;
use classgen::runs::{RunInfo, RunKind, RunState, RunStore};
use serde_json::Value;

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

/// Succeeds or shows what the command said.
fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A directory with `data/` (2,048 / 300 sample images as IDX files) and `runs/` holding one
/// CNN trained on it for one epoch.
struct Workspace {
    dir: tempfile::TempDir,
    run: RunInfo,
}

impl Workspace {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn store(&self) -> RunStore {
        RunStore::new(self.path().join("runs"))
    }

    /// The newest run of `kind` and its result.
    fn newest(&self, kind: RunKind) -> (RunInfo, Value) {
        let run = self.store().newest(kind, |_| true).unwrap();
        let result = run.result().unwrap();
        (run, result)
    }
}

const TRAIN: [&str; 12] = [
    "--epochs",
    "1",
    "--seed",
    "3",
    "--schedule",
    "constant",
    "--augment-shift",
    "0",
    "--arch",
    "narrow",
    "--data-dir",
    "data",
];

fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let sample = load_sample().unwrap();
        sample.train.head(2048).write(&data, "train").unwrap();
        sample.test.head(300).write(&data, "t10k").unwrap();
        let mut args = vec!["train"];
        args.extend(TRAIN);
        args.push("--json");
        let json = ok(&classgen(dir.path(), &args));
        for key in [
            "run", "run_dir", "arch", "data", "recipe", "epochs", "state", "history",
        ] {
            assert!(json.get(key).is_some(), "train --json lacks {key}: {json}");
        }
        assert_eq!(json["state"]["status"], "finished");
        let run = RunStore::new(dir.path().join("runs"))
            .find(json["run"].as_str().unwrap())
            .unwrap();
        assert_eq!(run.state(), RunState::Finished);
        Workspace { dir, run }
    })
}

/// The result's model names the workspace's training run.
fn names_the_run(result: &Value, ws: &Workspace, key: &str) {
    assert_eq!(
        result[key]["run"].as_str(),
        Some(ws.run.name.as_str()),
        "{key} in {result}"
    );
}

#[test]
fn eval_uses_the_runs_own_data_without_flags() {
    let ws = workspace();
    let json = ok(&classgen(ws.path(), &["eval", &ws.run.name, "--json"]));
    assert_eq!(json["data"]["train_images"], 2048);
    assert_eq!(
        json["data"]["source"]["dir"]["path"]
            .as_str()
            .map(|p| p.ends_with("data")),
        Some(true)
    );
    assert!(json["test_accuracy"].as_f64().unwrap() > 0.5, "{json}");
    // Other data of the same set is refused unless it is the same data.
    let out = classgen(ws.path(), &["eval", &ws.run.name, "--source", "sample"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("2048 train") && err.contains("8000 train"),
        "{err}"
    );
}

#[test]
fn a_model_of_another_data_set_is_refused_naming_both() {
    let ws = workspace();
    // A copy of the run that says it was trained on Fashion-MNIST.
    let runs = ws.path().join("other-runs");
    let copy = runs.join("fashion-run");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in walk(&ws.run.dir) {
        let to = copy.join(entry.strip_prefix(&ws.run.dir).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if entry.is_file() && entry.file_name().is_some_and(|n| n != "lock") {
            std::fs::copy(&entry, &to).unwrap();
        }
    }
    let record = copy.join("run.json");
    let text_in = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, text_in.replace("\"mnist\"", "\"fashion\"")).unwrap();
    let out = classgen(
        ws.path(),
        &[
            "baselines",
            "--models",
            "logreg",
            "--run",
            copy.to_str().unwrap(),
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("fashion") && err.contains("mnist"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn resume_without_data_flags_continues_on_the_runs_directory() {
    let ws = workspace();
    // A separate copy so the shared run stays as it is.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(ws.path().join("data"), dir.path().join("data")).unwrap();
    let mut args = vec!["train"];
    args.extend(TRAIN);
    ok(&classgen(dir.path(), &args));
    let store = RunStore::new(dir.path().join("runs"));
    let run = store.newest(RunKind::Train, |_| true).unwrap();
    let out = classgen(
        dir.path(),
        &["train", "--resume", &run.name, "--epochs", "2", "--json"],
    );
    let json = ok(&out);
    assert_eq!(json["epochs"], 2);
    assert_eq!(json["data"]["train_images"], 2048);
    assert!(text(&out.stderr).contains("recipe changed on resume: epochs 1 -> 2"));
}

#[test]
fn baselines_save_a_table_next_to_the_cnn_they_name() {
    let ws = workspace();
    let out = classgen(
        ws.path(),
        &[
            "baselines",
            "--models",
            "logreg,knn",
            "--data-dir",
            "data",
            "--json",
        ],
    );
    let json = ok(&out);
    let said = text(&out.stderr);
    assert!(
        said.contains("model: ") && said.contains(&ws.run.name),
        "{said}"
    );
    let models: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["logreg", "knn", "cnn"]);
    for row in json["rows"].as_array().unwrap() {
        for key in [
            "accuracy",
            "fit_seconds",
            "predict_seconds",
            "size_bytes",
            "note",
        ] {
            assert!(row.get(key).is_some(), "{key} in {row}");
        }
    }
    let (run, saved) = ws.newest(RunKind::Baselines);
    assert_eq!(saved, json);
    names_the_run(&saved, ws, "cnn");
    assert_eq!(run.record.model.as_ref().unwrap().run, ws.run.name);
    assert_eq!(run.state(), RunState::Finished);
}

#[test]
fn confidence_saves_its_analysis_per_model() {
    let ws = workspace();
    let out = classgen(
        ws.path(),
        &[
            "confidence",
            "--models",
            "cnn,logreg",
            "--data-dir",
            "data",
            "--bins",
            "10",
        ],
    );
    ok(&out);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("m(x)") && shown.contains("images per bin"),
        "{shown}"
    );
    let (run, saved) = ws.newest(RunKind::Confidence);
    names_the_run(&saved, ws, "cnn");
    assert_eq!(run.state(), RunState::Finished);
    let models = saved["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        for key in [
            "model",
            "label",
            "source",
            "report",
            "confusion",
            "mistakes",
        ] {
            assert!(m.get(key).is_some(), "{key}");
        }
        assert_eq!(
            m["report"]["all"]["histogram"].as_array().unwrap().len(),
            10
        );
    }
}

#[test]
fn robustness_saves_noise_rows_and_attacks() {
    let ws = workspace();
    let out = classgen(
        ws.path(),
        &[
            "robustness",
            "--models",
            "none",
            "--limit",
            "20",
            "--noise-limit",
            "50",
            "--data-dir",
            "data",
            "--json",
        ],
    );
    let json = ok(&out);
    names_the_run(&json, ws, "cnn");
    assert_eq!(json["noise"].as_array().unwrap().len(), 5);
    assert_eq!(json["attacks"].as_array().unwrap().len(), 16);
    assert_eq!(json["attack_images"], 20);
    let (_, saved) = ws.newest(RunKind::Robustness);
    assert_eq!(saved["complete"], true);
}

#[test]
fn invert_one_grid_and_prototypes_save_results_and_snapshots() {
    let ws = workspace();
    let out = classgen(
        ws.path(),
        &[
            "invert",
            "--from",
            "noise:1",
            "--target",
            "4",
            "--max-steps",
            "20",
            "--data-dir",
            "data",
            "--json",
        ],
    );
    let json = ok(&out);
    names_the_run(&json, ws, "model_run");
    for key in [
        "source",
        "target",
        "method",
        "steps",
        "stop",
        "p_target",
        "snapshots",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    let snaps: Vec<String> = json["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(snaps.len(), 3, "PNG, strip and GIF: {snaps:?}");
    assert!(
        snaps[0].contains(&format!("cnn-{}_noise-1_to4_", ws.run.name)),
        "{snaps:?}"
    );
    for s in &snaps {
        assert!(ws.path().join(s).is_file(), "{s}");
    }
    let (_, saved) = ws.newest(RunKind::Invert);
    assert_eq!(saved, json);

    let out = classgen(
        ws.path(),
        &[
            "invert",
            "--grid",
            "--classes",
            "0,1",
            "--loss",
            "log",
            "--step",
            "normalized",
            "--max-steps",
            "30",
            "--data-dir",
            "data",
            "--json",
        ],
    );
    let json = ok(&out);
    names_the_run(&json, ws, "model_run");
    let methods = json["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 1);
    let sources = json["sources"].as_array().unwrap();
    assert!(!sources.is_empty() && sources.len() <= 2, "{sources:?}");
    assert!(
        sources.iter().all(|s| s[1] == 0 || s[1] == 1),
        "{sources:?}"
    );
    let cells = methods[0]["cells"].as_array().unwrap().len();
    assert_eq!(
        cells,
        10 * sources.len(),
        "every chosen class to every target"
    );
    assert_eq!(ws.newest(RunKind::InvertGrid).1["complete"], true);

    let out = classgen(
        ws.path(),
        &[
            "invert",
            "--grid",
            "--from",
            "noise:5",
            "--starts",
            "2",
            "--max-steps",
            "15",
            "--data-dir",
            "data",
            "--json",
        ],
    );
    let json = ok(&out);
    names_the_run(&json, ws, "model_run");
    assert_eq!(json["starts"], 2);
    assert_eq!(json["modes"].as_array().unwrap().len(), 2);
    assert_eq!(ws.newest(RunKind::Prototypes).1["complete"], true);
}

#[test]
fn ablate_runs_a_tiny_study_and_resumes_it() {
    let ws = workspace();
    // A study of the tiny variant over 2 seeds, `epochs` each, with `more` flags.
    let study = |epochs: &'static str, more: &[&'static str]| -> Vec<&'static str> {
        let base = [
            "ablate",
            "--variants",
            "tiny",
            "--seeds",
            "2",
            "--data-dir",
            "data",
        ];
        [&base[..], &["--epochs", epochs], more].concat()
    };
    let args = study("1", &["--json"]);
    let json = ok(&classgen(ws.path(), &args));
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    assert_eq!(json["rows"][0]["variant"], "tiny");
    // Each run says how it was timed: its threads, and how many runs trained at once.
    for run in json["runs"].as_array().unwrap() {
        assert!(run["threads"].as_u64() >= Some(1), "{run}");
        assert!(run["runs_at_once"].as_u64() >= Some(1), "{run}");
    }
    let again = classgen(ws.path(), &args);
    ok(&again);
    assert!(
        text(&again.stderr).contains("2 already done"),
        "{}",
        text(&again.stderr)
    );
    let table = classgen(ws.path(), &study("1", &[]));
    assert!(table.status.success(), "{}", text(&table.stderr));
    assert!(
        text(&table.stdout).contains("s/epoch, infer/s: each run "),
        "{}",
        text(&table.stdout)
    );
    // Another study (2 epochs), one run at a time.
    let alone = classgen(ws.path(), &study("2", &["--runs-at-once", "1"]));
    assert!(
        text(&alone.stderr).contains("1 at a time"),
        "{}",
        text(&alone.stderr)
    );
    assert!(
        text(&alone.stdout).contains("one at a time in its process"),
        "{}",
        text(&alone.stdout)
    );
}

#[test]
fn invert_sweep_tables_every_rate_and_start_with_a_grid() {
    let ws = workspace();
    let args = [
        "invert",
        "--sweep",
        "--target",
        "3",
        "--lrs",
        "0.1,1",
        "--starts",
        "noise:1-2,blank",
        "--max-steps",
        "20",
        "--data-dir",
        "data",
    ];
    let json = ok(&classgen(ws.path(), &[&args[..], &["--json"]].concat()));
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6, "2 rates x 3 starts");
    assert_eq!(cells[0]["start"], "noise:1");
    assert_eq!(cells[5]["start"], "blank");
    assert_eq!(cells[3]["lr"], 1.0);
    for c in cells {
        let curve = c["curve"].as_array().unwrap();
        assert!(!curve.is_empty() && curve.len() <= 21, "{c}");
        let last = curve.last().unwrap().as_f64().unwrap();
        assert_eq!(c["final_p"].as_f64().unwrap(), last);
        match c["steps_to_threshold"].as_u64() {
            Some(s) => assert!(curve[s as usize].as_f64().unwrap() >= 0.99, "{c}"),
            None => assert!(curve.iter().all(|p| p.as_f64().unwrap() < 0.99), "{c}"),
        }
    }
    let grid = ws.path().join(json["grid"].as_str().unwrap());
    let png = image::open(&grid).unwrap();
    assert!(png.height() > 2 * 28 && png.width() > 3 * 28, "{grid:?}");
    let table = classgen(ws.path(), &args);
    let out = text(&table.stdout);
    assert!(
        out.contains("┌ lr 0.1 ") && out.contains("┌ lr 1 "),
        "{out}"
    );
    assert!(
        out.contains("oscillated (p fell > 0.1 after rising)"),
        "{out}"
    );
    let bad = classgen(
        ws.path(),
        &[
            "invert",
            "--sweep",
            "--target",
            "3",
            "--starts",
            "pink",
            "--data-dir",
            "data",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("--starts: expected"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn runs_lists_every_run_and_attach_needs_a_terminal() {
    let ws = workspace();
    let json = ok(&classgen(ws.path(), &["runs", "--json", "--kind", "train"]));
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == ws.run.name.as_str()));
    let out = classgen(ws.path(), &["attach", &ws.run.name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs a terminal"));
    let out = classgen(ws.path(), &["attach", "no-such-run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no run 'no-such-run'"));
}

#[test]
fn usage_errors_exit_2_and_flags_before_the_subcommand_are_explained() {
    let ws = workspace();
    assert_eq!(
        classgen(ws.path(), &["train", "--epochs", "x"])
            .status
            .code(),
        Some(2)
    );
    let out = classgen(ws.path(), &["--data-dir", "data", "train"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("go after the subcommand"));
}

#[test]
fn the_cli_and_the_dashboard_session_write_the_same_inversion() {
    use classgen::config::Config;
    use classgen::jobs::invert::{InvEvent, InvRequest, SnapshotSettings};

    let ws = workspace();
    // Runs of their own, so the other tests' newest runs stay theirs.
    let own = tempfile::tempdir().unwrap();
    let cli_snaps = own.path().join("cli-snaps");
    let config = format!(
        "[paths]\nsnapshots = \"{}\"\nruns = \"{}\"\n[invert]\nmax_steps = 12\n",
        cli_snaps.display(),
        own.path().join("runs").display()
    );
    std::fs::write(own.path().join("same.toml"), config).unwrap();
    let config_path = own.path().join("same.toml");
    let run_dir = ws.run.dir.display().to_string();
    let out = classgen(
        ws.path(),
        &[
            "invert",
            "--config",
            config_path.to_str().unwrap(),
            "--run",
            &run_dir,
            "--from",
            "test:5",
            "--target",
            "2",
            "--data-dir",
            "data",
            "--json",
        ],
    );
    let json = ok(&out);
    // The dashboard's session, with the dashboard's defaults and the same settings.
    let mut settings = Config::default().invert;
    settings.max_steps = 12;
    let tui_snaps = own.path().join("tui-snaps");
    let session = dashboard_session(ws, &settings, InvRequest::Run);
    for event in session.job.events().iter() {
        if matches!(event, InvEvent::Stopped { .. }) {
            break;
        }
    }
    session
        .requests
        .send(InvRequest::Snapshot {
            settings: SnapshotSettings {
                dir: tui_snaps.clone(),
                scale: settings.scale,
                strip: settings.strip,
                gif_frames: settings.gif_frames,
            },
            store: RunStore::new(own.path().join("tui-runs")),
        })
        .unwrap();
    let snapshot = session
        .job
        .events()
        .iter()
        .find_map(|e| match e {
            InvEvent::Snapshot { result, .. } => Some(result.unwrap()),
            _ => None,
        })
        .unwrap();
    // The same names but for the leading run name (`<timestamp>-invert_`), each its own.
    let names = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                let (run, rest) = name.split_once('_').unwrap();
                assert!(run.contains("-invert"), "{name}");
                rest.to_string()
            })
            .collect()
    };
    let cli: Vec<PathBuf> = json["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ws.path().join(p.as_str().unwrap()))
        .collect();
    assert_eq!(names(&cli), names(&snapshot.1.snapshots));
    for (a, b) in cli.iter().zip(&snapshot.1.snapshots) {
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "{} and {} differ",
            a.display(),
            b.display()
        );
    }
}

/// `classgen ARGS` in `dir` with stdout and stderr going where the caller says.
fn classgen_to(dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(dir)
        .args(args)
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .unwrap()
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// A full disk is no closed pipe: `runs > /dev/full` (and `--help`) exit 1 with one line
/// naming stdout and the cause; a closed pipe stays a quiet 141.
#[test]
fn a_full_stdout_is_an_error_and_a_closed_pipe_is_not() {
    let ws = workspace();
    for args in [&["runs"][..], &["runs", "--json"], &["--help"]] {
        let out = classgen_to(ws.path(), args, dev_full(), Stdio::piped());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(
            err, "error: writing stdout: No space left on device (os error 28)\n",
            "{args:?}"
        );
        // The reader gone before anything is written: 141, nothing said.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = classgen_to(ws.path(), args, Stdio::from(writer), Stdio::piped());
        assert_eq!(out.status.code(), Some(141), "{args:?}");
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

/// Progress on a stderr that cannot be written (a full disk) does not stop training: the run
/// finishes and prints its result; the exit status (1) says that the progress was lost.
#[test]
fn a_full_stderr_loses_the_progress_not_the_training() {
    let ws = workspace();
    // Runs of their own, so the other tests' newest runs stay theirs.
    let own = tempfile::tempdir().unwrap();
    let config = own.path().join("own.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nruns = \"{}\"\n",
            own.path().join("runs").display()
        ),
    )
    .unwrap();
    let mut args = vec!["train", "--config", config.to_str().unwrap(), "--json"];
    args.extend(TRAIN);
    let out = classgen_to(ws.path(), &args, Stdio::piped(), dev_full());
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["state"]["status"], "finished", "{json}");
    let run = RunStore::new(own.path().join("runs"))
        .newest(RunKind::Train, |_| true)
        .unwrap();
    assert_eq!(run.state(), RunState::Finished);
}

#[test]
fn a_single_step_right_after_a_reset_changes_the_image() {
    use classgen::config::Config;
    use classgen::jobs::invert::{InvEvent, InvRequest};

    let ws = workspace();
    let session = dashboard_session(ws, &Config::default().invert, InvRequest::Step);
    // The step's frames: the start (step 0), then step 1, whose image is not the start's.
    let mut frames = Vec::new();
    for event in session.job.events().iter() {
        if let InvEvent::Frame { frame, .. } = event {
            frames.push(frame);
            if frames.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(frames.iter().map(|f| f.step).collect::<Vec<_>>(), [0, 1]);
    assert_ne!(frames[0].pixels, frames[1].pixels);
}

/// The dashboard's inversion session on the workspace's CNN and data, reset to test image 5
/// with target 2 under `settings`, then sent `then`.
fn dashboard_session(
    ws: &Workspace,
    settings: &classgen::config::InvertConfig,
    then: classgen::jobs::invert::InvRequest,
) -> classgen::jobs::invert::InvertSession {
    use classgen::inversion::Start;
    use classgen::jobs::invert::{self, InvRequest, ModelSpec, Source};
    let data = std::sync::Arc::new(
        classgen::data::source::load_dir(
            &ws.path().join("data"),
            classgen::data::DatasetKind::Mnist,
        )
        .unwrap(),
    );
    let session = invert::open().unwrap();
    let reset = InvRequest::Reset {
        id: 1,
        model: ModelSpec::Cnn {
            run: Box::new(ws.run.clone()),
            device: "cpu".into(),
        },
        data: Some(data),
        source: Source::Start(Start::Test(5)),
        method: invert::gradient_method(settings),
        target: 2,
        confidence: settings.confidence,
    };
    for r in [reset, then] {
        session.requests.send(r).unwrap();
    }
    session
}

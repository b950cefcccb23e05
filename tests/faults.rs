//! Faults injected into a real `classgen train` process on a subset of the bundled sample:
//! SIGKILL at seeded points and between the steps of a checkpoint save, SIGTERM, closed pipes,
//! a file-size limit that makes a save fail (a full disk), two writers of one run, a tampered
//! checkpoint. After each, resuming ends with the same weights, bit for bit, as an uninterrupted
//! run of the same seed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use classgen::data::source::load_sample;
use classgen::runs::checkpoint;
use classgen::runs::{RunInfo, RunKind, RunState, RunStore, EVENTS};
use rand::{Rng, SeedableRng};

const EPOCHS: &str = "2";

/// Writes a 1,024 / 200 subset of the bundled sample as IDX files.
fn write_data(dir: &Path) {
    let sample = load_sample().unwrap();
    sample.train.head(1024).write(dir, "train").unwrap();
    sample.test.head(200).write(dir, "t10k").unwrap();
}

/// `classgen train` of the tiny net on `data` in `cwd` (16 batches of 64 per epoch), with
/// `extra` arguments; stdin piped (the pause hook waits on it), stderr piped.
fn command(cwd: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_classgen"));
    cmd.current_dir(cwd)
        .args(["train", "--threads", "1"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !extra.contains(&"--resume") {
        if !extra.contains(&"--epochs") {
            cmd.args(["--epochs", EPOCHS]);
        }
        cmd.args([
            "--arch",
            "tiny",
            "--batch-size",
            "64",
            "--seed",
            "3",
            "--schedule",
            "constant",
            "--augment-shift",
            "1",
            "--data-dir",
        ])
        .arg(data);
    }
    cmd
}

/// A running `classgen train` and what it has said on stderr so far.
struct Proc {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    text: String,
    batches: usize,
}

impl Proc {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        Self {
            child,
            lines: BufReader::new(stderr).lines(),
            text: String::new(),
            batches: 0,
        }
    }

    /// Reads stderr until a line `stop` accepts (given the batch lines so far) or its end.
    fn until(&mut self, stop: impl Fn(&str, usize) -> bool) -> &str {
        for line in self.lines.by_ref() {
            let Ok(line) = line else { break };
            self.batches += usize::from(line.contains(" batch "));
            self.text.push_str(&line);
            self.text.push('\n');
            if stop(&line, self.batches) {
                break;
            }
        }
        &self.text
    }

    /// Lets it run to the end; the exit code and all of stderr.
    fn finish(mut self) -> (i32, String) {
        drop(self.child.stdin.take());
        self.until(|_, _| false);
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.text)
    }

    /// SIGKILL: no chance to save. Returns what it said.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.text
    }
}

fn spawn(cwd: &Path, data: &Path, extra: &[&str]) -> Proc {
    Proc::start(command(cwd, data, extra))
}

/// The only training run under `cwd/runs`.
fn the_run(cwd: &Path, output: &str) -> RunInfo {
    RunStore::new(cwd.join("runs"))
        .newest(RunKind::Train, |_| true)
        .unwrap_or_else(|| panic!("no run; the process printed:\n{output}"))
}

/// Every file of the run is whole: the checkpoint loads and each log line parses.
fn assert_whole(run: &Path) -> checkpoint::CheckpointMeta {
    let (_, _, meta) = checkpoint::load_for_resume(run, &candle_core::Device::Cpu).unwrap();
    let log = std::fs::read_to_string(run.join(EVENTS)).unwrap();
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("bad log line {line:?}: {e}"));
    }
    meta
}

/// The weights of the run's committed checkpoint.
fn weights(run: &Path) -> Vec<(String, Vec<f32>)> {
    let (net, _) = checkpoint::load_network(run, &candle_core::Device::Cpu).unwrap();
    let mut named: Vec<_> = net
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// A workspace with the data and the weights of an uninterrupted run.
struct Bench {
    data: tempfile::TempDir,
    reference: Vec<(String, Vec<f32>)>,
    _reference_dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        write_data(data.path());
        let cwd = tempfile::tempdir().unwrap();
        let (code, out) = spawn(cwd.path(), data.path(), &[]).finish();
        assert_eq!(code, 0, "{out}");
        let reference = weights(&the_run(cwd.path(), &out).dir);
        Self {
            data,
            reference,
            _reference_dir: cwd,
        }
    }

    /// Resumes the run in `cwd` to the end and checks it equals the uninterrupted run.
    fn resume_matches(&self, cwd: &Path) {
        let (code, out) = spawn(cwd, self.data.path(), &["--resume"]).finish();
        assert_eq!(code, 0, "resume failed:\n{out}");
        let run = the_run(cwd, &out);
        assert_eq!(run.state(), RunState::Finished);
        let meta = assert_whole(&run.dir);
        assert_eq!(meta.progress.position.epoch, 2);
        assert_eq!(meta.progress.history.len(), 2, "one metrics row per epoch");
        assert!(
            weights(&run.dir) == self.reference,
            "the resumed run's weights differ from the uninterrupted run's"
        );
    }
}

#[test]
fn killed_or_stopped_training_resumes_to_the_uninterrupted_weights() {
    let bench = Bench::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    // SIGKILL after a seeded number of progress lines (ten per epoch).
    for _ in 0..2 {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = spawn(cwd.path(), bench.data.path(), &[]);
        let kill_at = rng.random_range(1..18);
        child.until(|_, batches| batches >= kill_at);
        let out = child.kill();
        let run = the_run(cwd.path(), &out);
        assert_eq!(run.state(), RunState::Interrupted);
        let before = assert_whole(&run.dir);
        assert!(
            before.progress.position.epoch + 1 >= kill_at / 10,
            "killed at line {kill_at}, checkpoint {:?}",
            before.progress.position
        );
        bench.resume_matches(cwd.path());
    }
    // SIGKILL between every two steps of the save after the first epoch (generation 2).
    for step in ["weights", "optimizer", "generation", "meta"] {
        let cwd = tempfile::tempdir().unwrap();
        let mut cmd = command(cwd.path(), bench.data.path(), &[]);
        cmd.env("CLASSGEN_TEST_PAUSE_SAVE", format!("{step}@2"));
        let mut child = Proc::start(cmd);
        child.until(|line, _| line.contains("paused after"));
        let out = child.kill();
        assert!(out.contains(&format!("paused after {step}@2")), "{out}");
        let run = the_run(cwd.path(), &out);
        let meta = assert_whole(&run.dir);
        let expected = if step == "meta" { 2 } else { 1 };
        assert_eq!(meta.generation, expected, "killed after {step}");
        bench.resume_matches(cwd.path());
    }
    // SIGTERM mid-epoch: a checkpoint at the batch, then exit status 143.
    let cwd = tempfile::tempdir().unwrap();
    let mut child = spawn(cwd.path(), bench.data.path(), &[]);
    child.until(|_, batches| batches >= 14);
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(child.child.id() as i32, libc::SIGTERM) },
        0
    );
    let (code, out) = child.finish();
    assert_eq!(code, 143, "{out}");
    assert!(out.contains("--resume"), "{out}");
    let run = the_run(cwd.path(), &out);
    assert!(
        matches!(run.state(), RunState::Stopped { at: Some(p) } if p.epoch == 1 && p.batch > 0),
        "{:?}",
        run.state()
    );
    bench.resume_matches(cwd.path());
}

#[test]
fn closed_pipes_end_quietly_after_a_checkpoint() {
    let bench = Bench::new();
    // stderr closed mid-training: the run stops with a checkpoint and exits 141, no panic.
    let cwd = tempfile::tempdir().unwrap();
    let mut child = spawn(cwd.path(), bench.data.path(), &[]);
    child.until(|_, batches| batches >= 3);
    let Proc {
        mut child, lines, ..
    } = child;
    drop(lines);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "{status:?}");
    let run = the_run(cwd.path(), "");
    assert!(
        matches!(run.state(), RunState::Stopped { .. }),
        "{:?}",
        run.state()
    );
    bench.resume_matches(cwd.path());

    // stdout closed before the --json result: exit 141, no panic message.
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = command(cwd.path(), bench.data.path(), &["--json"]);
    cmd.stdout(Stdio::piped());
    let mut child = Proc::start(cmd);
    drop(child.child.stdout.take());
    let (code, out) = child.finish();
    assert_eq!(code, 141, "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

/// A command whose files may grow to at most `bytes` (a write past it fails as on a full disk).
fn with_file_limit(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_failed_save_keeps_the_last_checkpoint_and_a_second_writer_is_refused() {
    let bench = Bench::new();
    let cwd = tempfile::tempdir().unwrap();
    // One epoch (generations 1 and 2), then a resume whose save of generation 3 cannot be
    // written whole: the optimizer file is about twice the weights' (57 KB and 115 KB).
    let (code, out) = spawn(cwd.path(), bench.data.path(), &["--epochs", "1"]).finish();
    assert_eq!(code, 0, "{out}");
    let run = the_run(cwd.path(), &out);
    let extend = ["--resume", run.name.as_str(), "--epochs", "2"];
    let mut cmd = command(cwd.path(), bench.data.path(), &extend);
    with_file_limit(&mut cmd, 80_000);
    let (code, out) = Proc::start(cmd).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("optimizer.safetensors"),
        "the error names the file:\n{out}"
    );
    let meta = assert_whole(&run.dir);
    assert_eq!(
        meta.progress.position.epoch, 1,
        "the last good checkpoint is kept"
    );
    let state = RunInfo::read(&run.dir).unwrap().state();
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");

    // Two writers: the first resume holds the run (paused in its save), the second is refused.
    let mut cmd = command(cwd.path(), bench.data.path(), &extend);
    cmd.env("CLASSGEN_TEST_PAUSE_SAVE", "meta@3");
    let mut first = Proc::start(cmd);
    let said = first.until(|line, _| line.contains("paused after"));
    assert!(said.contains("paused after"), "{said}");
    let (code, second) = spawn(cwd.path(), bench.data.path(), &["--resume", &run.name]).finish();
    assert_eq!(code, 1, "{second}");
    assert!(
        second.contains(&format!("PID {}", first.child.id())),
        "{second}"
    );
    let (code, out) = first.finish();
    assert_eq!(code, 0, "{out}");
    let meta = assert_whole(&run.dir);
    assert_eq!(meta.progress.position.epoch, 2);
    assert!(
        weights(&run.dir) == bench.reference,
        "weights differ after the failed save"
    );

    // A tampered checkpoint is refused with the key named, before any training.
    let path = run.dir.join(checkpoint::CHECKPOINT);
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replace("\"batch_size\": 64", "\"batch_size\": 0");
    assert_ne!(text, tampered);
    std::fs::write(&path, tampered).unwrap();
    let args = ["--resume", run.name.as_str(), "--epochs", "3"];
    let (code, out) = spawn(cwd.path(), bench.data.path(), &args).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("train.batch_size") && out.contains("checkpoint.json"),
        "{out}"
    );
}

#[test]
fn resume_keeps_the_runs_recipe_and_data() {
    let bench = Bench::new();
    let cwd = tempfile::tempdir().unwrap();
    let mut child = spawn(cwd.path(), bench.data.path(), &[]);
    child.until(|_, batches| batches >= 4);
    child.kill();
    // A recipe flag is refused; without flags the run's own epochs and data are used (the
    // config default of 5 epochs does not win over the run's 2).
    let (code, out) = spawn(cwd.path(), bench.data.path(), &["--resume", "--lr", "0.1"]).finish();
    assert_eq!(code, 1);
    assert!(out.contains("--lr cannot change when resuming"), "{out}");
    let args = ["--resume", "--source", "sample"];
    let (code, out) = spawn(cwd.path(), bench.data.path(), &args).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("1024 train") && out.contains("8000 train"),
        "{out}"
    );
    bench.resume_matches(cwd.path());
}

// ---- Files that are not what they should be (issue 22: defects 3, 4, 9, 10, 12, 13) ----

/// `classgen ARGS` in `cwd`, bounded: a run past 120 s (a hang) is killed and fails the test.
/// Returns the exit code, stdout and stderr.
fn bounded(cwd: &Path, args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(out) => {
            let out = out.unwrap();
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (
                out.status.code().unwrap_or(-1),
                text(&out.stdout),
                text(&out.stderr),
            )
        }
        Err(_) => {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("classgen {args:?} hung (killed after 120 s)");
        }
    }
}

/// [`bounded`] with plain string arguments.
fn run_cli(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    bounded(cwd, &args)
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A finished training run of the tiny net (1 epoch of the 1,024-image subset), made once:
/// (the data directory, the workspace holding `runs/`, the run's name).
fn trained() -> &'static (tempfile::TempDir, tempfile::TempDir, String) {
    static TRAINED: std::sync::OnceLock<(tempfile::TempDir, tempfile::TempDir, String)> =
        std::sync::OnceLock::new();
    TRAINED.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        write_data(data.path());
        let cwd = tempfile::tempdir().unwrap();
        let (code, out) = spawn(cwd.path(), data.path(), &["--epochs", "1"]).finish();
        assert_eq!(code, 0, "{out}");
        let name = the_run(cwd.path(), &out).name;
        (data, cwd, name)
    })
}

/// A fresh workspace with a copy of the trained run: (workspace, the run's directory there).
fn workspace_with_run() -> (tempfile::TempDir, std::path::PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let (_, cwd, name) = trained();
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path().join("runs").join(name);
    copy(&cwd.path().join("runs").join(name), &dir);
    (ws, dir)
}

fn seven() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seven.png")
}

#[test]
fn fifos_are_named_at_once_instead_of_blocking() {
    let (ws, run) = workspace_with_run();
    let cwd = ws.path();
    let name = run.file_name().unwrap().to_str().unwrap().to_string();
    // A run's lock: `runs` and `eval` read it.
    std::fs::remove_file(run.join("lock")).ok();
    mkfifo(&run.join("lock"));
    let (code, out, err) = run_cli(cwd, &["runs"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&name), "{out}");
    // checkpoint.json a FIFO: named as such, not "no checkpoint".
    let meta = run.join("checkpoint.json");
    let saved = std::fs::read(&meta).unwrap();
    std::fs::remove_file(&meta).unwrap();
    mkfifo(&meta);
    let (code, _, err) = run_cli(cwd, &["eval", &name]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "error: runs/{name}/checkpoint.json: is a FIFO (named pipe), not a regular file"
        )),
        "{err}"
    );
    assert!(!err.contains("no checkpoint"), "{err}");
    std::fs::remove_file(&meta).unwrap();
    std::fs::write(&meta, saved).unwrap();
    // Images and the config.
    mkfifo(&cwd.join("fifo.png"));
    mkfifo(&cwd.join("fifo.toml"));
    let expected = "fifo.png: is a FIFO (named pipe), not a regular file";
    let (code, _, err) = run_cli(cwd, &["predict", "fifo.png"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(expected), "{err}");
    let (code, _, err) = run_cli(cwd, &["invert", "--from", "file:fifo.png", "--target", "3"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(expected), "{err}");
    let (code, _, err) = run_cli(cwd, &["--config", "fifo.toml", "runs"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: fifo.toml: is a FIFO (named pipe), not a regular file\n"
    );
}

#[test]
fn a_diverging_run_stops_failed_with_a_readable_checkpoint_and_is_never_the_default() {
    let cwd = tempfile::tempdir().unwrap();
    let args = [
        "train",
        "--source",
        "sample",
        "--lr",
        "1e8",
        "--epochs",
        "1",
        "--threads",
        "1",
    ];
    let (code, _, err) = run_cli(cwd.path(), &args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("training diverged at epoch 1 batch"), "{err}");
    assert!(err.contains("learning rate of 1e8"), "{err}");
    let run = the_run(cwd.path(), &err);
    assert!(
        matches!(run.state(), RunState::Failed { .. }),
        "{:?}",
        run.state()
    );
    // Its last checkpoint (the start) reads back and holds only finite numbers.
    let meta = assert_whole(&run.dir);
    assert_eq!(meta.progress.position.epoch, 0);
    let store = RunStore::new(cwd.path().join("runs"));
    assert!(store.newest_finished_cnn(&run.record.data).is_err());
}

#[test]
fn a_damaged_finished_run_is_skipped_with_a_notice_when_choosing_the_model() {
    let (ws, run) = workspace_with_run();
    let (data, _, _) = trained();
    // A newer finished run whose checkpoint holds null metrics (as NaN training left them).
    let broken = ws.path().join("runs/29991231-000000-train");
    let (ws_copy, copied) = workspace_with_run();
    std::fs::rename(&copied, &broken).unwrap();
    drop(ws_copy);
    let record = broken.join("run.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["created"] = serde_json::json!(32_503_593_600u64);
    std::fs::write(&record, value.to_string()).unwrap();
    let meta = broken.join("checkpoint.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let nulled = text.replacen("\"test_loss\": ", "\"test_loss\": null, \"x\": ", 1);
    std::fs::write(&meta, nulled).unwrap();
    let seven = seven();
    let args = [
        "predict".as_ref(),
        seven.as_os_str(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ];
    let (code, out, err) = bounded(ws.path(), &args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "skipping damaged run 29991231-000000-train (runs/29991231-000000-train/checkpoint.json: invalid type: null"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "model: runs/{} (",
            run.file_name().unwrap().to_str().unwrap()
        )),
        "{err}"
    );
    assert!(out.contains("seven.png"), "{out}");
}

#[test]
fn a_flipped_bit_in_a_checkpoint_file_is_named_and_old_checkpoints_still_load() {
    let (ws, run) = workspace_with_run();
    let name = run.file_name().unwrap().to_str().unwrap().to_string();
    let meta = checkpoint::read_meta(&run).unwrap();
    let weights = run.join(format!(
        "checkpoints/{:06}/model.safetensors",
        meta.generation
    ));
    let good = std::fs::read(&weights).unwrap();
    let mut flipped = good.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 0x10;
    std::fs::write(&weights, &flipped).unwrap();
    let (code, out, err) = run_cli(ws.path(), &["eval", &name]);
    assert_eq!(code, 1, "{out}{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    let file = format!(
        "runs/{name}/checkpoints/{:06}/model.safetensors",
        meta.generation
    );
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with(&format!("error: {file}: damaged: its checksum is")),
        "{err}"
    );
    // A checkpoint from before checksums were kept loads unchecked.
    std::fs::write(&weights, &good).unwrap();
    let path = run.join("checkpoint.json");
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(value.as_object_mut().unwrap().remove("xxh64").is_some());
    std::fs::write(&path, value.to_string()).unwrap();
    let (code, _, err) = run_cli(ws.path(), &["eval", &name]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn damaged_run_records_are_listed_and_named() {
    let cwd = tempfile::tempdir().unwrap();
    let runs = cwd.path().join("runs");
    let cases: [(&str, &[u8]); 3] = [
        ("20260101-000000-train", b"{\"kind\": \"train\", \"crea"),
        ("20260102-000000-train", b""),
        ("20260103-000000-train", b"\x89PNG\r\n\x1a\n\0\0"),
    ];
    for (name, bytes) in cases {
        std::fs::create_dir_all(runs.join(name)).unwrap();
        std::fs::write(runs.join(name).join("run.json"), bytes).unwrap();
    }
    let (code, out, err) = run_cli(cwd.path(), &["runs"]);
    assert_eq!(code, 0, "{err}");
    for (name, _) in cases {
        assert!(
            out.contains(&format!("{name}: damaged: runs/{name}/run.json: ")),
            "{out}"
        );
    }
    assert!(out.contains("is empty (0 bytes)"), "{out}");
    let (code, out, _) = run_cli(cwd.path(), &["runs", "--json"]);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["damaged"; 3]);
    // `baselines` names them instead of saying there is no training run.
    let (data, _, _) = trained();
    let args = [
        "baselines".as_ref(),
        "--models".as_ref(),
        "logreg".as_ref(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ];
    let (code, _, err) = bounded(cwd.path(), &args);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("there is no training run"), "{err}");
    assert!(
        err.contains("damaged runs there: 20260103-000000-train (runs/20260103-000000-train/run.json: expected value")
            && err.contains("20260102-000000-train (runs/20260102-000000-train/run.json: is empty (0 bytes))"),
        "{err}"
    );
}

#[test]
fn file_names_that_are_not_utf8_are_shown_and_refused_by_name() {
    use std::os::unix::ffi::OsStrExt;
    let (ws, _) = workspace_with_run();
    let bad = std::ffi::OsStr::from_bytes(b"bad\xffname.png");
    std::fs::copy(seven(), ws.path().join(bad)).unwrap();
    std::fs::copy(seven(), ws.path().join("good.png")).unwrap();
    let (data, _, _) = trained();
    let args = [
        "predict".as_ref(),
        "--json".as_ref(),
        "good.png".as_ref(),
        bad,
        "missing\u{e9}.png".as_ref(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ];
    let (code, out, err) = bounded(ws.path(), &args);
    assert_eq!(code, 1, "one file is missing: {err}");
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{out}");
    assert_eq!(files[0]["path"], "good.png");
    assert_eq!(files[1]["path"], "bad\u{fffd}name.png");
    assert!(files[1]["predictions"].is_array(), "{out}");
    assert!(files[2]["error"]
        .as_str()
        .unwrap()
        .contains("missing\u{e9}.png"));
    // A data directory whose name is not UTF-8: named, and no run directory left behind.
    let dir = ws.path().join(std::ffi::OsStr::from_bytes(b"data\xff"));
    write_data(&dir);
    let cwd = tempfile::tempdir().unwrap();
    let args = ["train".as_ref(), "--data-dir".as_ref(), dir.as_os_str()];
    let (code, _, err) = bounded(cwd.path(), &args);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("data\u{fffd}: the path is not valid UTF-8"),
        "{err}"
    );
    let runs = cwd.path().join("runs");
    let left = std::fs::read_dir(&runs).map_or(0, |d| d.count());
    assert_eq!(left, 0, "a run directory was left in {}", runs.display());
}

#[test]
fn a_runs_directory_that_is_a_file_or_a_loop_is_named_with_its_key() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("taken"), b"").unwrap();
    std::os::unix::fs::symlink("loop", cwd.path().join("loop")).unwrap();
    for (root, what) in [
        ("taken", "is a regular file"),
        ("loop", "is a symbolic link loop"),
    ] {
        let config = cwd.path().join(format!("{root}.toml"));
        std::fs::write(&config, format!("[paths]\nruns = \"{root}\"\n")).unwrap();
        let expected = format!(
            "error: {root}: {what}, not a directory (the runs directory, config key paths.runs)\n"
        );
        let config = config.to_str().unwrap();
        for command in [&["runs"][..], &["train", "--arch", "tiny", "--epochs", "1"]] {
            let mut args = vec!["--config", config];
            args.extend(command);
            let (code, _, err) = run_cli(cwd.path(), &args);
            assert_eq!(code, 1, "{command:?}: {err}");
            assert_eq!(err, expected, "{command:?}");
        }
    }
}

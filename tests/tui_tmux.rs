//! End to end: runs the dashboard in a detached tmux session on the bundled sample, sends keys
//! (switch tabs, help, an inversion step, a snapshot, quit) and checks the screen and the files.
//! Skips with a notice when tmux is not installed (Debian: apt-get install tmux).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use candle_core::Device;
use classgen::config::TrainConfig;
use classgen::data::DatasetKind;
use classgen::model::adam::Adam;
use classgen::model::checkpoint::{self, CheckpointMeta};
use classgen::model::{ArchSpec, Network};

/// A tmux server of its own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server on its own socket running `classgen ARGS` in session `dash` (100x30, in `dir`);
    /// the shell line after it prints `EXITED:<status>` on the restored main screen.
    fn start(socket: &str, dir: &Path, args: &str) -> Self {
        let tmux = Tmux {
            socket: format!("{socket}-{}", std::process::id()),
        };
        let command = format!(
            "'{}' {args}; echo EXITED:$?; sleep 60",
            env!("CARGO_BIN_EXE_classgen")
        );
        let dir = dir.to_str().unwrap();
        let started = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "dash",
            "-x",
            "100",
            "-y",
            "30",
            "-c",
            dir,
            "sh",
            "-c",
            &command,
        ]);
        assert!(started.status.success(), "tmux new-session: {started:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "dash"]).stdout)
            .into_owned()
    }

    /// Sends keys by tmux name (`Tab`, `Escape`) or literally (`-l`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "dash"];
        args.extend(keys);
        assert!(self.run(&args).status.success(), "send-keys {keys:?}");
    }

    fn literal(&self, text: &str) {
        assert!(self
            .run(&["send-keys", "-t", "dash", "-l", text])
            .status
            .success());
    }

    /// Polls the screen (bounded tries) until `want` holds; panics with the last screen.
    fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..300 {
            last = self.screen();
            if want(&last) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}; screen:\n{last}");
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// An untrained seed CNN saved as the latest train run under `runs`.
fn save_model(runs: &Path) -> PathBuf {
    let dir = runs.join("20250101-000000-train");
    let arch = ArchSpec::seed();
    let net = Network::new(&arch, 7, &Device::Cpu).unwrap();
    let adam = Adam::new(net.vars().cloned().collect()).unwrap();
    let meta = CheckpointMeta {
        params: arch.params(),
        arch,
        dataset: DatasetKind::Mnist,
        origin: "test".into(),
        position: Default::default(),
        adam_step: 0,
        config: TrainConfig::default(),
        history: Vec::new(),
    };
    checkpoint::save(&dir, &net, &adam, &meta).unwrap();
    dir
}

/// A temporary directory with a config that uses the bundled sample and one thread; `None`
/// (after saying so) when tmux is not installed.
fn workspace() -> Option<tempfile::TempDir> {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (Debian: apt-get install tmux)");
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("config.toml"),
        "[data]\nsource = \"sample\"\n[train]\nthreads = 1\n",
    )
    .unwrap();
    Some(work)
}

#[test]
fn dashboard_in_tmux_switches_tabs_inverts_exports_and_quits_cleanly() {
    let Some(work) = workspace() else {
        return;
    };
    save_model(&work.path().join("runs"));
    let tmux = Tmux::start("classgen-e2e", work.path(), "");

    // Start: the Training tab, the saved run, the sample loaded.
    let screen = tmux.wait_text("data: mnist from bundled sample");
    assert!(
        screen.contains("1 Training") && screen.contains("Loss"),
        "{screen}"
    );
    assert!(screen.contains("20250101-000000-train"), "{screen}");

    // Tabs: a digit, Tab, Shift-Tab.
    tmux.literal("2");
    tmux.wait_text("classgen ablate");
    tmux.keys(&["Tab"]);
    tmux.wait_text("classgen baselines");
    tmux.keys(&["BTab"]);
    tmux.wait_text("classgen ablate");

    // Inversion: browse, target 3, one step on the saved model, snapshot.
    tmux.literal("5");
    tmux.wait_text("test 1/2000");
    tmux.keys(&["Right"]);
    tmux.wait_text("test 2/2000");
    tmux.literal("ttt");
    tmux.wait_text("target 3 (t/T)");
    tmux.literal(".");
    tmux.wait_text("step 0  p(target)");
    tmux.literal("s");
    let screen = tmux.wait_text("snapshot: ");
    let snapshots = work.path().join("snapshots");
    let png = snapshots.join("cnn_test-1_to3_log-normalized_step0.png");
    assert!(png.is_file(), "no {} ({screen})", png.display());
    assert!(snapshots
        .join("cnn_test-1_to3_log-normalized_step0_trajectory.png")
        .is_file());

    // Help from the key table, closed with Escape.
    tmux.literal("?");
    tmux.wait_text("Keys: Inversion");
    tmux.keys(&["Escape"]);
    tmux.wait_for("help to close", |s| !s.contains("Keys: Inversion"));

    // Quit: the terminal is restored and nothing was printed behind the dashboard.
    tmux.literal("q");
    let screen = tmux.wait_text("EXITED:");
    let printed: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        printed,
        vec!["EXITED:0"],
        "screen after quitting:\n{screen}"
    );
}

#[test]
fn attach_to_a_missing_run_says_what_is_wrong() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_classgen"))
        .args(["attach", "20250101-nope"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no run '20250101-nope'") && err.contains("runs/20250101-nope"),
        "{err}"
    );
}

/// One events.jsonl line.
fn event_line(event: &classgen::model::train::TrainEvent) -> String {
    format!("{}\n", serde_json::to_string(event).unwrap())
}

fn epoch_event(epoch: usize, accuracy: f64) -> classgen::model::train::TrainEvent {
    classgen::model::train::TrainEvent::Epoch(classgen::model::train::EpochMetrics {
        epoch,
        train_loss: 0.2,
        train_accuracy: 0.95,
        test_loss: 0.1,
        test_accuracy: accuracy,
        seconds: 5.0,
        images_per_second: 1600.0,
    })
}

#[test]
fn attach_follows_a_run_written_by_another_process() {
    use std::io::Write;
    let Some(work) = workspace() else {
        return;
    };
    let run = work.path().join("runs/20250102-000000-train");
    std::fs::create_dir_all(&run).unwrap();
    let events = run.join("events.jsonl");
    let started = classgen::model::train::TrainEvent::Started {
        params: 225_034,
        epochs: 2,
        batches_per_epoch: 469,
        from: Default::default(),
    };
    std::fs::write(
        &events,
        event_line(&started) + &event_line(&epoch_event(1, 0.97)),
    )
    .unwrap();
    let tmux = Tmux::start("classgen-attach", work.path(), "attach");
    let screen = tmux.wait_text("epoch 1: test 97.00%");
    assert!(
        screen.contains("20250102-000000-train") && screen.contains("attached"),
        "{screen}"
    );
    // The other process writes its next epoch, in two pieces.
    let line = event_line(&epoch_event(2, 0.98));
    let (head, tail) = line.split_at(20);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    file.write_all(head.as_bytes()).unwrap();
    file.flush().unwrap();
    file.write_all(tail.as_bytes()).unwrap();
    file.flush().unwrap();
    tmux.wait_text("finished 2 epochs: test accuracy 98.00%");
    // Watching is no job of this process: q quits at once.
    tmux.literal("q");
    tmux.wait_text("EXITED:0");
}

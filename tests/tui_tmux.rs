//! End to end: the dashboard in a detached tmux session on the bundled sample, driven from the
//! keyboard as a user would, in one run: train one epoch, fit baselines and analyse confidence
//! from their tabs, open a misclassified image in the Inversion tab and invert it, export a
//! snapshot, quit; and `classgen attach` following a run another process writes. Skips with a
//! notice when tmux is not installed (Debian: apt-get install tmux).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use classgen::data::source::load_sample;
use classgen::runs::{DataIdentity, RunKind, RunStore};

/// A tmux server of its own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server on its own socket running `classgen ARGS` in session `dash` (120x40, in `dir`);
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
            "120",
            "-y",
            "40",
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

    /// Whether the pane shows the alternate screen (a full-screen program's).
    fn alternate_on(&self) -> bool {
        let out = self.run(&["display-message", "-p", "-t", "dash", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// The PID of the program the pane's shell runs (the dashboard).
    fn program_pid(&self) -> u32 {
        let out = self.run(&["display-message", "-p", "-t", "dash", "#{pane_pid}"]);
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("reading the shell's children");
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the shell runs the dashboard")
    }

    /// Polls the screen (bounded tries) until `want` holds; panics with the last screen.
    fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        // Bounded: 240 s, for a training epoch and the baselines on a loaded 2-core machine.
        for _ in 0..2400 {
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

/// A temporary directory with a config that uses the bundled sample, one thread and the two
/// quick baselines; `None` (after saying so) when tmux is not installed.
fn workspace() -> Option<tempfile::TempDir> {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (Debian: apt-get install tmux)");
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("config.toml"),
        "[data]\nsource = \"sample\"\n[train]\nthreads = 1\nschedule = \"constant\"\naugment_shift = 0\n[baselines]\nmodels = [\"logreg\", \"knn\"]\n",
    )
    .unwrap();
    Some(work)
}

#[test]
fn every_job_runs_from_the_keyboard_in_one_session() {
    let Some(work) = workspace() else {
        return;
    };
    let tmux = Tmux::start("classgen-e2e", work.path(), "");
    tmux.wait_text("data: mnist from bundled sample");

    // Training: one epoch, started from the keyboard; the finished run becomes the model.
    tmux.literal("EEEE");
    tmux.wait_text("epochs    1");
    tmux.literal("s");
    let screen = tmux.wait_text("is now the active model");
    assert!(screen.contains("-train (seed,"), "{screen}");

    // Baselines: logreg and k-NN next to the CNN.
    tmux.literal("4s");
    let screen = tmux.wait_text("baselines done");
    for model in ["logreg", "knn", "cnn"] {
        assert!(screen.contains(model), "{screen}");
    }
    assert!(screen.contains(" %"), "accuracies are shown:\n{screen}");

    // Confidence: the histograms and the table, not the placeholder.
    tmux.literal("5s");
    let screen = tmux.wait_text("confidence done");
    assert!(screen.contains("m(x) of 2000 test images"), "{screen}");
    assert!(screen.contains('⣿'), "a braille histogram:\n{screen}");
    assert!(
        screen.contains("knn k=3") && screen.contains("ECE"),
        "{screen}"
    );

    // The most confident mistake, explained: its maps in the Explain tab, off the UI thread.
    tmux.literal("vv");
    tmux.wait_text("mistakes, most confident first");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_text("saliency map");
    assert!(screen.contains("9 Explain"), "{screen}");
    assert!(screen.contains("(the prediction)"), "{screen}");
    assert!(
        screen.contains("ms, 7 methods"),
        "maps came back:\n{screen}"
    );
    // The same mistake opened in the Inversion tab towards its true label and inverted.
    tmux.literal("5i");
    tmux.wait_text("p(class) of the source");
    tmux.literal(" ");
    tmux.wait_for("the inversion to stop", |s| {
        s.contains("inversion stopped at step")
    });
    tmux.literal("s");
    tmux.wait_text("snapshot: ");
    let snapshots: Vec<_> = std::fs::read_dir(work.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(snapshots.len(), 3, "PNG, strip and GIF: {snapshots:?}");
    let store = RunStore::new(work.path().join("runs"));
    for kind in [
        RunKind::Train,
        RunKind::Baselines,
        RunKind::Confidence,
        RunKind::Invert,
    ] {
        assert!(store.newest(kind, |_| true).is_some(), "no {kind} run");
    }

    // Help from the key table, closed with Escape; then quit with the terminal restored.
    tmux.literal("?");
    tmux.wait_text("Keys: Inversion");
    tmux.keys(&["Escape"]);
    tmux.wait_for("help to close", |s| !s.contains("Keys: Inversion"));
    tmux.literal("q");
    let screen = tmux.wait_text("EXITED:");
    let printed: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        printed,
        vec!["EXITED:0"],
        "screen after quitting:\n{screen}"
    );
}

/// Whether process `pid` is stopped (state `T` in /proc).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1;
            after_name.split_whitespace().next().map(|s| s == "T")
        })
        .unwrap_or(false)
}

fn signal(pid: u32, name: &str) {
    let killed = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -{name} {pid}");
}

/// Ctrl-Z and `kill -TSTP` suspend the dashboard as job control expects: the terminal given
/// back (the main screen shown) and the process stopped; SIGCONT takes the terminal again: the
/// dashboard redrawn, and keys act at once (raw mode, no Enter needed).
#[test]
fn suspend_gives_the_terminal_back_and_continue_takes_it_again() {
    let Some(work) = workspace() else {
        return;
    };
    let tmux = Tmux::start("classgen-suspend", work.path(), "");
    tmux.wait_text("data: mnist from bundled sample");
    let pid = tmux.program_pid();
    for by_key in [true, false] {
        if by_key {
            tmux.keys(&["C-z"]);
        } else {
            signal(pid, "TSTP");
        }
        let screen = tmux.wait_for("the main screen, the process stopped", |s| {
            !s.contains("data: mnist") && !tmux.alternate_on() && stopped(pid)
        });
        assert!(!screen.contains("EXITED"), "{screen}");
        signal(pid, "CONT");
        tmux.wait_for("the dashboard again", |s| {
            s.contains("data: mnist from bundled sample") && tmux.alternate_on()
        });
        // One key, no Enter: the help opens, so the terminal is in raw mode again.
        tmux.literal("?");
        tmux.wait_text("Keys: Training");
        tmux.keys(&["Escape"]);
        tmux.wait_for("help to close", |s| !s.contains("Keys: Training"));
    }
    tmux.literal("q");
    tmux.wait_text("EXITED:0");
}

/// SIGTERM and SIGHUP end the dashboard as they end a command: terminal restored, exit status
/// 143 or 129.
#[test]
fn a_signal_ends_the_dashboard_with_its_exit_status() {
    let Some(work) = workspace() else {
        return;
    };
    for (name, status) in [("TERM", 143), ("HUP", 129)] {
        let tmux = Tmux::start(&format!("classgen-sig{name}"), work.path(), "");
        tmux.wait_text("data: mnist from bundled sample");
        signal(tmux.program_pid(), name);
        let screen = tmux.wait_text("EXITED:");
        assert!(
            screen.contains(&format!("EXITED:{status}")),
            "{name}: {screen}"
        );
        assert!(!tmux.alternate_on(), "{name}: the main screen is back");
    }
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
        eval_seconds: 0.5,
    })
}

#[test]
fn attach_follows_a_run_written_by_another_process() {
    use std::io::Write;
    let Some(work) = workspace() else {
        return;
    };
    // "Another process": a training run this test holds open and writes the log of.
    let store = RunStore::new(work.path().join("runs"));
    let data = DataIdentity::of(&load_sample().unwrap());
    let run = store.create(RunKind::Train, data, None).unwrap();
    let events = run.dir().join(classgen::runs::EVENTS);
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
        screen.contains(run.name()) && screen.contains("attached"),
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
    drop(run);
}

/// The run name the screen shows for the newest training run, as the charts' legend writes it
/// (`MMDD-HHMMSS`).
fn legend_name(store: &RunStore) -> String {
    let run = store
        .newest(RunKind::Train, |_| true)
        .expect("a training run");
    let parts: Vec<&str> = run.name.split('-').collect();
    format!("{}-{}", &parts[0][4..], parts[1])
}

#[test]
fn a_resume_keeps_the_first_epochs_and_r_acts_on_the_run_made_active() {
    let Some(work) = workspace() else {
        return;
    };
    let store = RunStore::new(work.path().join("runs"));
    let tmux = Tmux::start("classgen-resume", work.path(), "");
    tmux.wait_text("data: mnist from bundled sample");

    // Run A: one epoch, finished, the active model.
    tmux.literal("EEEE");
    tmux.wait_text("epochs    1");
    tmux.literal("s");
    tmux.wait_text("is now the active model");
    let a = store.newest(RunKind::Train, |_| true).unwrap().name;

    // The export key writes the two charts as pictures of the stated size.
    tmux.literal("P");
    tmux.wait_text("training-accuracy");
    let snapshots = work.path().join("snapshots");
    let files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&snapshots)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    tmux.wait_for("both charts as PNG and SVG", |_| files().len() == 4);
    let pngs: Vec<_> = files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(pngs.len(), 2, "{pngs:?}");
    for png in pngs {
        let image = image::open(&png).unwrap();
        assert_eq!(
            (image.width(), image.height()),
            (1200, 800),
            "{}",
            png.display()
        );
    }

    // Run B: two epochs, stopped in its second, then resumed: its first epoch is still drawn
    // (the legend has its per-epoch lines) before any new epoch ends.
    tmux.literal("e");
    tmux.wait_text("epochs    2");
    tmux.literal("s");
    // B's own first epoch (A's panel said "epoch 1" too, until B started).
    tmux.wait_text("state     running");
    tmux.wait_text("epoch 1: test");
    tmux.literal("x");
    tmux.wait_text("checkpoint kept, r resumes");
    let b = legend_name(&store);
    assert_ne!(b, a);
    tmux.literal("r");
    let screen = tmux.wait_text("state     running");
    assert!(screen.contains(&format!("━ {b} test")), "{screen}");
    assert!(screen.contains(&format!("━ {b} train")), "{screen}");
    tmux.literal("x");
    tmux.wait_text("checkpoint kept, r resumes");

    // The Runs tab: Enter on A makes it active; back on Training, r resumes A (asking first,
    // since A is finished), not B.
    tmux.literal("2");
    let screen = tmux.wait_text("compared on Training");
    let active_row = screen
        .lines()
        .find(|l| l.contains("● ") && l.contains("-train"))
        .expect("the active run's row");
    assert!(active_row.contains(&a), "A is the active run:\n{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_text(&format!("{a} is now the active model"));
    tmux.literal("1r");
    tmux.wait_text(&format!(
        "{a} is finished at 1 epochs: r again trains it on to 2"
    ));
    tmux.literal("r");
    tmux.wait_for("A trained on", |s| {
        s.contains("finished 2 epochs") && s.contains(&format!("{a} is now the active model"))
    });

    // The help at 80x24: every tab key listed, the two columns apart.
    tmux.run(&["resize-window", "-t", "dash", "-x", "80", "-y", "24"]);
    tmux.literal("?");
    let screen = tmux.wait_text("Keys: Training");
    assert!(screen.contains("1 2 3 4 5 6 7 8"), "{screen}");
    assert!(screen.contains("start a new run"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.literal("q");
    tmux.wait_text("EXITED:0");
}

#[test]
fn fashion_mnist_shows_class_names_in_the_inversion_tab() {
    let Some(work) = workspace() else {
        return;
    };
    // A small Fashion-MNIST-shaped data set: the sample's images under Fashion's labels.
    let sample = load_sample().unwrap();
    let dir = work.path().join("fashion");
    std::fs::create_dir(&dir).unwrap();
    for (split, name) in [(&sample.train, "train"), (&sample.test, "t10k")] {
        let n = split.len().min(200);
        classgen::data::idx::write(
            &dir.join(format!("{name}-images-idx3-ubyte")),
            &[n, 28, 28],
            &split.images[..n * 784],
        )
        .unwrap();
        classgen::data::idx::write(
            &dir.join(format!("{name}-labels-idx1-ubyte")),
            &[n],
            &split.labels[..n],
        )
        .unwrap();
    }
    let tmux = Tmux::start(
        "classgen-fashion",
        work.path(),
        &format!("--dataset fashion --data-dir '{}'", dir.display()),
    );
    tmux.wait_text("data: fashion");
    tmux.literal("7");
    let screen = tmux.wait_text("T-shirt/top");
    for name in ["Trouser", "Pullover", "Ankle boot", "Sneaker"] {
        assert!(screen.contains(name), "{name}:\n{screen}");
    }
    tmux.literal("8");
    tmux.wait_text("target T-shirt/top");
    tmux.literal("q");
    tmux.wait_text("EXITED:0");
}

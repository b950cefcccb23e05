//! `classgen attach`: the dashboard on a job of another process, followed through the
//! `events.jsonl` it writes (a finished run is replayed the same way).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::jobs::train::EVENTS;
use crate::model::train::TrainEvent;

/// Reads the events appended to an `events.jsonl` since the last read.
#[derive(Debug)]
pub struct EventTail {
    path: PathBuf,
    /// Bytes of complete lines consumed so far.
    offset: u64,
    /// Lines that were not events (skipped).
    pub bad_lines: usize,
}

impl EventTail {
    /// A tail at the start of `path` (the first read replays everything).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            bad_lines: 0,
        }
    }

    /// The events of the complete lines appended since the last call. A partial last line (its
    /// writer is mid-line) is left for the next call. A file that shrank (a resumed run cut a
    /// partial line) is read on from its new end.
    pub fn poll(&mut self) -> std::io::Result<Vec<TrainEvent>> {
        let mut file = std::fs::File::open(&self.path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = len;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.take(len - self.offset).read_to_end(&mut bytes)?;
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        self.offset += end as u64 + 1;
        let mut events = Vec::new();
        for line in bytes[..end].split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice(line) {
                Ok(event) => events.push(event),
                Err(_) => self.bad_lines += 1,
            }
        }
        Ok(events)
    }
}

/// The run directory `classgen attach [RUN]` means: RUN as a path or as a name under `runs`;
/// without RUN, the newest run under `runs` with an events.jsonl. Errors say what is missing.
pub fn resolve_run(runs: &Path, run: Option<&str>) -> anyhow::Result<PathBuf> {
    let dir = match run {
        Some(name) => {
            let as_path = PathBuf::from(name);
            let under_runs = runs.join(name);
            if as_path.is_dir() {
                as_path
            } else if under_runs.is_dir() {
                under_runs
            } else {
                bail!(
                    "no run '{name}': neither {} nor {} is a directory",
                    as_path.display(),
                    under_runs.display()
                );
            }
        }
        None => {
            let entries = std::fs::read_dir(runs)
                .with_context(|| format!("no runs to attach to: cannot read {}", runs.display()))?;
            let mut dirs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join(EVENTS).is_file())
                .collect();
            dirs.sort();
            match dirs.pop() {
                Some(dir) => dir,
                None => bail!(
                    "no run under {} has an {EVENTS} yet: start one (classgen train) or name it",
                    runs.display()
                ),
            }
        }
    };
    if !dir.join(EVENTS).is_file() {
        bail!(
            "{}: no {EVENTS} in it: not a job's run directory, or its job has not started yet",
            dir.display()
        );
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::model::train::{EpochMetrics, Position};
    use crate::tui::app::JobState;
    use crate::tui::testutil::app_with;
    use crate::tui::update::{update, Msg};

    fn line(event: &TrainEvent) -> String {
        format!("{}\n", serde_json::to_string(event).unwrap())
    }

    fn epoch(n: usize) -> TrainEvent {
        TrainEvent::Epoch(EpochMetrics {
            epoch: n,
            train_loss: 0.3,
            train_accuracy: 0.9,
            test_loss: 0.2,
            test_accuracy: 0.95 + n as f64 / 100.0,
            seconds: 3.0,
            images_per_second: 1000.0,
        })
    }

    #[test]
    fn tailing_events_updates_the_app_and_waits_for_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS);
        let started = TrainEvent::Started {
            params: 10,
            epochs: 2,
            batches_per_epoch: 20,
            from: Position::default(),
        };
        let batch = TrainEvent::Batch {
            epoch: 1,
            batch: 10,
            batches: 20,
            loss: 0.5,
            accuracy: 0.8,
            images_per_second: 900.0,
            elapsed_seconds: 1.0,
            eta_seconds: 3.0,
        };
        let second = line(&epoch(2));
        let (head, tail) = second.split_at(second.len() / 2);
        let mut file = std::fs::File::create(&path).unwrap();
        write!(
            file,
            "{}{}{}{head}",
            line(&started),
            line(&batch),
            line(&epoch(1))
        )
        .unwrap();
        file.flush().unwrap();

        let mut app = app_with(None);
        update(&mut app, Msg::Attached(dir.path().to_path_buf()));
        assert_eq!(app.training.job, JobState::Attached);
        assert!(!app.job_running(), "quitting an attached view does not ask");
        let mut events = EventTail::new(path);
        let first = events.poll().unwrap();
        assert_eq!(first.len(), 3, "the partial fourth line waits");
        for e in first {
            update(&mut app, Msg::Train(e));
        }
        let t = &app.training;
        assert_eq!((t.run_epochs, t.history.len()), (2, 1));
        assert_eq!(t.loss_curve, vec![(0.5, 0.5)]);
        assert!(t.progress.is_some());

        assert!(events.poll().unwrap().is_empty(), "nothing new yet");
        write!(file, "{tail}").unwrap();
        file.flush().unwrap();
        for e in events.poll().unwrap() {
            update(&mut app, Msg::Train(e));
        }
        let t = &app.training;
        assert_eq!(t.history.len(), 2);
        assert_eq!(t.position.epoch, 2);
        assert!(t.progress.is_none(), "the run is complete");
        assert!(app.status.contains("finished 2 epochs"), "{}", app.status);
        assert_eq!(events.bad_lines, 0);
        // The attached view only watches.
        crate::tui::testutil::press(&mut app, "s");
        assert!(app.status.contains("only watches"), "{}", app.status);
    }

    #[test]
    fn replaying_a_resumed_run_keeps_one_entry_per_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS);
        let start = |epoch| TrainEvent::Started {
            params: 10,
            epochs: 2,
            batches_per_epoch: 20,
            from: Position { epoch, batch: 0 },
        };
        let text = [start(0), epoch(1), epoch(2), start(1), epoch(2)]
            .iter()
            .map(line)
            .collect::<String>()
            + "not json\n";
        std::fs::write(&path, text).unwrap();
        let mut app = app_with(None);
        update(&mut app, Msg::Attached(dir.path().to_path_buf()));
        let mut events = EventTail::new(path);
        for e in events.poll().unwrap() {
            update(&mut app, Msg::Train(e));
        }
        let epochs: Vec<usize> = app.training.history.iter().map(|m| m.epoch).collect();
        assert_eq!(epochs, vec![1, 2]);
        assert_eq!(events.bad_lines, 1);
    }

    #[test]
    fn a_missing_run_says_what_is_wrong() {
        let runs = tempfile::tempdir().unwrap();
        let err = resolve_run(runs.path(), Some("20250101-nope")).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("no run '20250101-nope'"), "{text}");
        assert!(text.contains(&runs.path().join("20250101-nope").display().to_string()));

        let err = resolve_run(runs.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("no run under") && err.contains(EVENTS),
            "{err}"
        );

        let empty = runs.path().join("20250101-000000-train");
        std::fs::create_dir(&empty).unwrap();
        let err = resolve_run(runs.path(), Some("20250101-000000-train"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no events.jsonl in it"), "{err}");

        let newer = runs.path().join("20250102-000000-train");
        std::fs::create_dir(&newer).unwrap();
        std::fs::write(newer.join(EVENTS), "").unwrap();
        std::fs::write(empty.join(EVENTS), "").unwrap();
        assert_eq!(resolve_run(runs.path(), None).unwrap(), newer);
    }
}

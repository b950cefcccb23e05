//! `events.jsonl`: a job's events, one JSON object per line, appended as they happen, and read
//! back (whole, or as it grows) by `classgen attach` and the dashboard.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// File in a run directory that logs its job's events.
pub const EVENTS: &str = "events.jsonl";

/// An event log open for appending.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
}

impl EventLog {
    /// Opens `dir/events.jsonl` for appending, first cutting a partial last line (left by a
    /// process killed mid-write) so every line stays valid JSON.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(EVENTS);
        let mut file = crate::userfile::open(
            &path,
            std::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true),
        )
        .map_err(crate::userfile::ReadError::into_io)?;
        // Only the last byte is read, unless it shows a partial line.
        let len = file.metadata()?.len();
        let mut last = [b'\n'];
        if len > 0 {
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
        }
        if last != [b'\n'] {
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut bytes)?;
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)?;
        }
        Ok(Self { path, file })
    }

    /// The log's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event as one line, written with a single call so readers see whole lines.
    pub fn append<E: Serialize>(&mut self, event: &E) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

/// Reads the events appended to an `events.jsonl` since the last read.
#[derive(Debug)]
pub struct EventTail {
    path: PathBuf,
    /// Bytes of complete lines consumed so far.
    offset: u64,
    /// Lines that were not events of the expected type (skipped).
    pub bad_lines: usize,
}

impl EventTail {
    /// A tail at the start of `dir/events.jsonl` (the first read replays everything).
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(EVENTS),
            offset: 0,
            bad_lines: 0,
        }
    }

    /// The events of the complete lines appended since the last call. A partial last line (its
    /// writer is mid-line) is left for the next call. A file that shrank (a resumed run cut a
    /// partial line) is read on from its new end.
    pub fn poll<E: DeserializeOwned>(&mut self) -> std::io::Result<Vec<E>> {
        let mut file = crate::userfile::open_regular(&self.path)
            .map_err(crate::userfile::ReadError::into_io)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_cut_and_a_tail_sees_whole_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS);
        std::fs::write(&path, "{\"a\":1}\n{\"a\":").unwrap();
        let mut tail = EventTail::new(dir.path());
        let first: Vec<serde_json::Value> = tail.poll().unwrap();
        assert_eq!(first.len(), 1, "the partial line waits");
        let mut log = EventLog::open(dir.path()).unwrap();
        log.append(&serde_json::json!({"a": 2})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        let next: Vec<serde_json::Value> = tail.poll().unwrap();
        assert_eq!(next, vec![serde_json::json!({"a": 2})]);
    }

    #[test]
    fn a_fifo_log_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join(EVENTS))
            .status();
        assert!(made.unwrap().success());
        // Opening a FIFO for reading would wait for a writer for ever: bounded on a thread.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let polled = EventTail::new(&path).poll::<serde_json::Value>();
            let opened = EventLog::open(&path);
            let _ = tx.send((polled.map_err(|e| e.to_string()), opened.is_err()));
        });
        let (polled, open_failed) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        assert_eq!(
            polled.unwrap_err(),
            "is a FIFO (named pipe), not a regular file"
        );
        assert!(open_failed);
    }
}

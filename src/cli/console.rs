//! Output a script can trust: results on stdout, progress and notices on stderr, neither
//! panicking when its reader is gone, and the exit status saying how the command ended.
//!
//! A closed pipe (`classgen ... | head`) or Ctrl-C, SIGTERM, SIGHUP sets the cancel flag, so a
//! running job saves its work and ends; the process then exits with 141 (pipe), 130 (SIGINT),
//! 143 (SIGTERM) or 129 (SIGHUP). A second Ctrl-C (or signal) exits at once.
//!
//! Any other write error (a full disk, `/dev/full`) is no closed pipe: on stdout it cancels the
//! command as a closed pipe does (the results have nowhere to go); on stderr only the progress
//! stops and the job goes on to its end. Either way the process then exits with 1 and one
//! line naming the stream and the cause ([`write_failure`]).

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Exit status after an output pipe closed: 128 + SIGPIPE, as a shell reports it.
pub const EXIT_PIPE: u8 = 141;

/// The process-wide cancel flag, set by signals and closed pipes.
static CANCEL: OnceLock<Arc<AtomicBool>> = OnceLock::new();
/// The exit status a signal or a closed pipe asks for (0: none).
static EXIT: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
/// stderr is gone: progress is no longer written.
static STDERR_GONE: AtomicBool = AtomicBool::new(false);
/// The first write error that was not a closed pipe: `writing stdout: <cause>`.
static WRITE_FAILURE: OnceLock<String> = OnceLock::new();

fn exit_code() -> &'static Arc<AtomicUsize> {
    EXIT.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// The flag a job's cancel handle should share.
pub fn cancel_flag() -> Arc<AtomicBool> {
    CANCEL
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Makes Ctrl-C, SIGTERM and SIGHUP cancel jobs (and a second one exit at once).
pub fn install_signal_handlers() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let cancel = cancel_flag();
    for (signal, code) in [(SIGINT, 130), (SIGTERM, 143), (SIGHUP, 129)] {
        signal_hook::flag::register_conditional_shutdown(signal, code, cancel.clone())?;
        signal_hook::flag::register_usize(signal, exit_code().clone(), code as usize)?;
        signal_hook::flag::register(signal, cancel.clone())?;
    }
    Ok(())
}

/// The dashboard ended on a signal: the process exits with `status` (unless a status is set
/// already), as a command stopped by that signal does.
pub fn signalled(status: Option<u8>) {
    if let Some(status) = status {
        let _ = exit_code().compare_exchange(
            0,
            usize::from(status),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// The exit status a signal or a closed pipe set, if any.
pub fn interrupted() -> Option<u8> {
    match exit_code().load(Ordering::Relaxed) {
        0 => None,
        code => u8::try_from(code).ok(),
    }
}

fn pipe_closed() {
    let _ = exit_code().compare_exchange(
        0,
        usize::from(EXIT_PIPE),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    cancel_flag().store(true, Ordering::Relaxed);
}

/// Notes a write error on `stream`: a closed pipe ends the command quietly (141); any other
/// error is kept for [`write_failure`].
fn write_failed(stream: &str, error: &std::io::Error) {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        pipe_closed();
    } else {
        let _ = WRITE_FAILURE.set(format!("writing {stream}: {error}"));
    }
}

/// The first write error on stdout or stderr that was not a closed pipe (`writing stdout: No
/// space left on device (os error 28)`): the command must exit with 1 and say it.
pub fn write_failure() -> Option<&'static str> {
    WRITE_FAILURE.get().map(String::as_str)
}

/// Writes `text` to stdout or stderr (help, usage errors), flushed; errors as for `out!`.
pub fn write_text(to_stderr: bool, text: &str) {
    let written = if to_stderr {
        let mut stderr = std::io::stderr().lock();
        stderr
            .write_all(text.as_bytes())
            .and_then(|()| stderr.flush())
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
    };
    if let Err(e) = written {
        write_failed(if to_stderr { "stderr" } else { "stdout" }, &e);
    }
}

/// Writes a result line to stdout; a stdout that is closed or cannot be written cancels the
/// command (the results have nowhere to go).
pub fn out_fmt(args: fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{args}").and_then(|()| stdout.flush()) {
        write_failed("stdout", &e);
        cancel_flag().store(true, Ordering::Relaxed);
    }
}

/// Writes a progress or notice line to stderr. A closed stderr cancels the command (141); one
/// that cannot be written (a full disk) only stops the progress: the job goes on, and the
/// command exits with 1 at its end.
pub fn err_fmt(args: fmt::Arguments) {
    if STDERR_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    if let Err(e) = writeln!(stderr, "{args}").and_then(|()| stderr.flush()) {
        STDERR_GONE.store(true, Ordering::Relaxed);
        write_failed("stderr", &e);
    }
}

/// `println!` that never panics: a result line on stdout.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::console::out_fmt(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics: progress and notices on stderr.
macro_rules! note {
    ($($arg:tt)*) => { $crate::cli::console::err_fmt(format_args!($($arg)*)) };
}

pub(crate) use {note, out};

/// Whether stderr is a terminal (progress bars) and still open.
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    !STDERR_GONE.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

//! Terminal setup and restore: raw mode, the alternate screen and mouse reporting on entry;
//! restored on exit, error and panic, and around a suspend (Ctrl-Z, SIGTSTP: [`suspend`], then
//! [`resume`] on SIGCONT). Panics of worker threads do not tear the dashboard down: their
//! messages are kept and printed once the terminal is restored.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::prelude::CrosstermBackend;
use ratatui::{DefaultTerminal, Terminal};

/// Whether the dashboard owns the terminal.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The thread that draws; only its panics restore the terminal.
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Panic messages of other threads, printed after restoring.
static DEFERRED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Takes over the terminal: installs the panic hook, enables raw mode, enters the alternate
/// screen. Undo with [`leave`].
pub fn enter() -> io::Result<DefaultTerminal> {
    let _ = UI_THREAD.set(std::thread::current().id());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let on_ui = UI_THREAD.get() == Some(&std::thread::current().id());
        if ACTIVE.load(Ordering::SeqCst) && !on_ui {
            if let Ok(mut kept) = DEFERRED.lock() {
                kept.push(info.to_string());
            }
            return;
        }
        leave();
        previous(info);
    }));
    ACTIVE.store(true, Ordering::SeqCst);
    // Not `ratatui::init`: its panic hook would restore the terminal on any thread's panic.
    let setup = || -> io::Result<DefaultTerminal> {
        enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen)?;
        // The mouse clicks tabs and rows, scrolls lists and draws (a terminal that cannot
        // report it simply does not).
        let _ = execute!(io::stdout(), EnableMouseCapture);
        Terminal::new(CrosstermBackend::new(io::stdout()))
    };
    setup().inspect_err(|_| leave())
}

/// Cooked mode, the main screen, the cursor shown, no mouse reporting: the terminal as the
/// shell wants it. Nothing more can be done if this fails; the shell's `reset` still can.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
}

/// Suspends the dashboard as a shell's job control expects (Ctrl-Z, SIGTSTP): gives the
/// terminal back, then stops the process (SIGSTOP) until it is continued (`fg`, SIGCONT),
/// when the caller [`resume`]s.
pub fn suspend() {
    if ACTIVE.load(Ordering::SeqCst) {
        restore();
    }
    // Only fails for an invalid signal number.
    let _ = signal_hook::low_level::raise(signal_hook::consts::SIGSTOP);
}

/// After SIGCONT: raw mode, the alternate screen and mouse reporting again.
/// The screen is cleared: the caller redraws all of it.
pub fn resume() -> io::Result<()> {
    if !ACTIVE.load(Ordering::SeqCst) {
        return Ok(());
    }
    enable_raw_mode()?;
    // Ratatui thinks the cursor is still hidden; hide it again.
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        Clear(ClearType::All),
        cursor::Hide
    )?;
    execute!(io::stdout(), EnableMouseCapture)?;
    Ok(())
}

/// Gives the terminal back (once; later calls do nothing) and prints deferred panic messages.
pub fn leave() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        restore();
        if let Ok(mut kept) = DEFERRED.lock() {
            for message in kept.drain(..) {
                eprintln!("a worker thread panicked: {message}");
            }
        }
    }
}

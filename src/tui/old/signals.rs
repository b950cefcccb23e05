//! SIGTERM, SIGHUP (a dropped SSH session) and SIGINT. A watcher thread asks the event loop to
//! quit, and since the loop may be stuck reading a terminal that hung up, it also stops a
//! running training job itself, waits for its checkpoint, restores the terminal and exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Longest wait for a running job to checkpoint before exiting anyway.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(120);

/// Shutdown state shared by the event loop, the job bookkeeping and the signal watcher.
#[derive(Default)]
pub struct Shutdown {
    requested: AtomicBool,
    /// The running training job's cancel flag.
    cancel: Mutex<Option<Arc<AtomicBool>>>,
}

impl Shutdown {
    /// Whether a signal asked to quit.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Records the cancel flag of a job that started.
    pub fn job_started(&self, cancel: Arc<AtomicBool>) {
        if let Ok(mut slot) = self.cancel.lock() {
            *slot = Some(cancel);
        }
    }

    /// Records that the job ended (its checkpoint is written).
    pub fn job_ended(&self) {
        if let Ok(mut slot) = self.cancel.lock() {
            *slot = None;
        }
    }

    fn job_running(&self) -> bool {
        self.cancel.lock().map(|s| s.is_some()).unwrap_or(false)
    }
}

/// Starts the watcher thread.
pub fn watch(shutdown: Arc<Shutdown>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Some(signal) = signals.forever().next() else {
                return;
            };
            shutdown.requested.store(true, Ordering::SeqCst);
            if let Ok(slot) = shutdown.cancel.lock() {
                if let Some(cancel) = slot.as_ref() {
                    cancel.store(true, Ordering::SeqCst);
                }
            }
            // The loop, if it is responsive, quits the same way; whoever finishes first exits.
            let step = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while shutdown.job_running() && waited < CHECKPOINT_WAIT {
                std::thread::sleep(step);
                waited += step;
            }
            super::terminal::leave();
            std::process::exit(128 + signal);
        })?;
    Ok(())
}

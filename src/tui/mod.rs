//! The dashboard: `classgen` without a subcommand. Jobs run on worker threads and report through
//! channels; [`update::update`] folds keys and job events into the [`app::App`] state and
//! [`view::render`] draws it, one view per tab. [`attach()`] follows a job of another process
//! through its `events.jsonl`.

pub mod app;
pub mod attach;
pub mod invert_worker;
pub mod keys;
pub mod results;
mod runner;
mod signals;
mod terminal;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
pub mod update;
pub mod view;
pub mod widgets;

pub use runner::{attach, run, saved_state};

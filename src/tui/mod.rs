//! The dashboard: `classgen` without a subcommand. Jobs run on their own threads and report
//! through events; [`update::update`] folds keys and events into the [`app::App`] state, each tab
//! under `tabs/` with its own state, handling and drawing; [`view::render`] draws the frame. The
//! event loop in `runner` is the one place with effects.

pub mod app;
pub mod keys;
pub mod messages;
pub mod msg;
mod runner;
pub mod tabs;
mod terminal;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
pub mod update;
pub mod view;
pub mod widgets;

pub use runner::{attach, run, Start};

//! The run store: every job's directory under `runs/`, what each records about itself (kind,
//! data identity, the model it used, state), and the files inside, named here once. Nothing
//! else in classgen knows how run directories are named or laid out.

pub mod checkpoint;
pub mod identity;
pub mod lock;
pub mod log;
mod store;

pub use identity::{DataIdentity, DataSource};
pub use log::{EventLog, EventTail, EVENTS};
pub use store::{
    now, read_json, write_json, CnnChoice, CnnSummary, DamagedRun, Listing, ModelRef, Run,
    RunError, RunInfo, RunKind, RunRecord, RunState, RunStore, RECORD, RESULT,
};

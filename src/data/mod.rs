//! Data: the IDX format, data sets, and where they come from (a directory, the Hub, the sample).

pub mod dataset;
pub mod http;
pub mod hub;
pub mod idx;
pub mod source;

pub use dataset::{Dataset, DatasetKind, Origin, Split, CLASSES, PIXELS, SIDE};
pub use source::{load, DataError, SourceKind};

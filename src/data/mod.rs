//! Data: the IDX format, data sets, where they come from (a directory, the Hub, the sample), and
//! your own images turned into MNIST-style digits.

pub mod dataset;
pub mod download;
pub mod hub;
pub mod idx;
pub mod import;
pub mod preprocess;
pub mod source;

pub use dataset::{Dataset, DatasetKind, Origin, Split, CLASSES, PIXELS, SIDE};
pub use import::{import_file, ImportError, Mode};
pub use preprocess::{preprocess, Digit, PreprocessError};
pub use source::{load, DataError, SourceKind};

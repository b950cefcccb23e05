//! The CNN: architectures as data, the fast CPU operations, training.

pub mod adam;
pub mod arch;
pub mod fused;
pub mod network;
pub mod ops;
pub mod recipe;
pub mod train;

pub use arch::{ArchSpec, ConvSpec};
pub use network::Network;

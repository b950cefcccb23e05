//! The CNN: architectures as data, the fast CPU operations, training, checkpoints.

pub mod adam;
pub mod arch;
pub mod checkpoint;
pub mod fused;
pub mod network;
pub mod ops;
pub mod train;

pub use arch::{ArchSpec, ConvSpec};
pub use network::Network;

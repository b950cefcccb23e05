//! In-memory data sets: u8 pixels and labels, with their name, class names and origin.

use std::fmt;
use std::path::{Path, PathBuf};

use super::idx::{self, IdxError};

/// Side of a square image, in pixels.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Classes per data set.
pub const CLASSES: usize = 10;

/// The data sets classgen knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Handwritten digits (LeCun, Cortes, Burges).
    Mnist,
    /// Zalando's Fashion-MNIST: clothing in the MNIST layout.
    Fashion,
}

impl DatasetKind {
    /// Short name, as in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Fashion => "fashion",
        }
    }

    /// Human-readable names of the ten classes.
    pub fn class_names(self) -> [&'static str; CLASSES] {
        match self {
            Self::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            Self::Fashion => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a data set was loaded from; shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum Origin {
    /// A directory of IDX files the user named.
    Dir(PathBuf),
    /// The Hugging Face Hub at a commit, converted to IDX in this cache directory.
    Hub { dir: PathBuf, commit: String },
    /// The 10,000-digit sample compiled into classgen.
    Sample,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(p) => write!(f, "directory {}", p.display()),
            Self::Hub { dir, commit } => {
                write!(f, "Hugging Face Hub at {commit} (cached in {})", dir.display())
            }
            Self::Sample => f.write_str(
                "bundled sample (8,000 train / 2,000 test of MNIST; full data: --data-dir or the Hub)",
            ),
        }
    }
}

/// One split: `len` images of [`PIXELS`] bytes each, and their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The first `n` images (all if fewer).
    pub fn head(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split {
            images: self.images[..n * PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// Reads an image file and a label file and checks that they agree.
    pub fn read(images: &Path, labels: &Path) -> Result<Split, IdxError> {
        Split::decode(
            idx::read_bytes(images)?,
            images,
            idx::read_bytes(labels)?,
            labels,
        )
    }

    /// Decodes image and label IDX bytes (gzip or raw); the paths name them in errors.
    pub fn decode(
        image_bytes: Vec<u8>,
        images: &Path,
        label_bytes: Vec<u8>,
        labels: &Path,
    ) -> Result<Split, IdxError> {
        let imgs = idx::decode(image_bytes, 3, images)?;
        idx::check_images(&imgs, images, SIDE, SIDE)?;
        let labs = idx::decode(label_bytes, 1, labels)?;
        idx::check_labels(&labs, labels, CLASSES)?;
        if imgs.dims[0] != labs.dims[0] {
            return Err(IdxError::Shape {
                path: labels.to_path_buf(),
                expected: format!(
                    "{} labels, one per image in {}",
                    imgs.dims[0],
                    images.display()
                ),
                found: format!("{} labels", labs.dims[0]),
            });
        }
        Ok(Split {
            images: imgs.data,
            labels: labs.data,
        })
    }

    /// Writes the split as `<prefix>-images-idx3-ubyte.gz` and `<prefix>-labels-idx1-ubyte.gz`.
    pub fn write(&self, dir: &Path, prefix: &str) -> std::io::Result<()> {
        let (images, labels) = file_names(prefix);
        idx::write(
            &dir.join(format!("{images}.gz")),
            &[self.len(), SIDE, SIDE],
            &self.images,
        )?;
        idx::write(
            &dir.join(format!("{labels}.gz")),
            &[self.len()],
            &self.labels,
        )
    }
}

/// The standard IDX file names (without `.gz`) of a split: `train` or `t10k`.
pub fn file_names(prefix: &str) -> (String, String) {
    (
        format!("{prefix}-images-idx3-ubyte"),
        format!("{prefix}-labels-idx1-ubyte"),
    )
}

/// A data set: train and test splits, what they are and where they came from.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub origin: Origin,
    pub train: Split,
    pub test: Split,
}

impl Dataset {
    /// Class names of this data set.
    pub fn class_names(&self) -> [&'static str; CLASSES] {
        self.kind.class_names()
    }
}

//! Data identity: which data set a run saw, from where, and how many images. Two identities are
//! the same data when set and sizes agree, whatever the source (a directory and the Hub hold the
//! same MNIST).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::hub::{self, HubOptions};
use crate::data::source::LoadRequest;
use crate::data::{Dataset, DatasetKind, Origin, SourceKind};

/// Where a run's data came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// A directory of IDX files.
    Dir { path: PathBuf },
    /// A Hugging Face Hub dataset repository at a revision.
    Hub { repo: String, revision: String },
    /// The sample compiled into classgen.
    Sample,
}

/// What a run records about its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataIdentity {
    pub dataset: DatasetKind,
    pub source: DataSource,
    pub train_images: usize,
    pub test_images: usize,
}

impl DataIdentity {
    /// The identity of a loaded data set.
    pub fn of(data: &Dataset) -> Self {
        let source = match &data.origin {
            Origin::Dir(path) => DataSource::Dir {
                path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            },
            Origin::Hub { commit, .. } => DataSource::Hub {
                repo: hub::repo_name(data.kind).to_string(),
                revision: commit.clone(),
            },
            Origin::Sample => DataSource::Sample,
        };
        Self {
            dataset: data.kind,
            source,
            train_images: data.train.len(),
            test_images: data.test.len(),
        }
    }

    /// How to load this data again: the same source (the Hub through `hub`).
    pub fn load_request(&self, hub: HubOptions) -> LoadRequest {
        let (source, dir) = match &self.source {
            DataSource::Dir { path } => (SourceKind::Dir, Some(path.clone())),
            DataSource::Hub { .. } => (SourceKind::Hub, None),
            DataSource::Sample => (SourceKind::Sample, None),
        };
        LoadRequest {
            kind: self.dataset,
            source,
            dir,
            hub,
        }
    }

    /// Whether both describe the same data: the same set with the same split sizes.
    pub fn same_data(&self, other: &Self) -> bool {
        self.dataset == other.dataset
            && self.train_images == other.train_images
            && self.test_images == other.test_images
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir { path } => write!(f, "directory {}", path.display()),
            Self::Hub { repo, revision } => write!(f, "Hub {repo}@{revision}"),
            Self::Sample => f.write_str("bundled sample"),
        }
    }
}

impl fmt::Display for DataIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} from {} ({} train / {} test)",
            self.dataset, self.source, self.train_images, self.test_images
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(dataset: DatasetKind, source: DataSource, train: usize) -> DataIdentity {
        DataIdentity {
            dataset,
            source,
            train_images: train,
            test_images: 10,
        }
    }

    #[test]
    fn same_data_ignores_the_source_but_not_set_or_sizes() {
        let dir = DataSource::Dir {
            path: "/data/mnist".into(),
        };
        let hub = DataSource::Hub {
            repo: "ylecun/mnist".into(),
            revision: "main".into(),
        };
        let a = identity(DatasetKind::Mnist, dir, 60);
        assert!(a.same_data(&identity(DatasetKind::Mnist, hub.clone(), 60)));
        assert!(!a.same_data(&identity(DatasetKind::Mnist, hub.clone(), 8)));
        assert!(!a.same_data(&identity(DatasetKind::Fashion, hub, 60)));
    }

    #[test]
    fn the_sample_reads_as_what_it_is() {
        let data = crate::data::source::load_sample().unwrap();
        let id = DataIdentity::of(&data);
        assert_eq!(id.source, DataSource::Sample);
        assert_eq!(
            id.to_string(),
            "mnist from bundled sample (8000 train / 2000 test)"
        );
    }
}

//! The inversion worker: owns an inverter (gradient on the CNN, or k-NN) on its own thread,
//! steps it while running, and reports frames, stops and snapshots as [`Msg`]s. The UI thread
//! only sends requests; loading a model and building the k-NN index happen here.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::baselines::knn::KnnIndex;
use crate::config::KnnInvertConfig;
use crate::data::{Dataset, Split};
use crate::inversion::{
    GradientInverter, GradientOptions, Inverter, KnnInverter, KnnOptions, StopReason,
};
use crate::model::{checkpoint, Network};
use crate::snapshot;

use super::update::Msg;

/// Most frames kept for the trajectory strip.
const MAX_TRAJECTORY: usize = 5000;

/// A data set shared with the worker; equal when it is the same one (not compared by content).
#[derive(Clone)]
pub struct SharedData(pub Arc<Dataset>);

impl PartialEq for SharedData {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for SharedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedData({} from {})", self.0.kind, self.0.origin)
    }
}

/// The classifier an inversion runs against.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// The CNN checkpoint in `model_dir`, inverted by gradient.
    Cnn { model_dir: PathBuf, device: String },
    /// k-NN over the training split of `data` (index built once per data set and settings).
    Knn {
        data: SharedData,
        k: usize,
        pca_dims: usize,
        index_seed: u64,
        settings: KnnInvertConfig,
    },
}

/// What the UI asks of the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum InvRequest {
    /// Start over from `start` against `model`; frames are tagged with `id`. For k-NN only the
    /// target and seed of `options` apply.
    Reset {
        id: u64,
        model: ModelSpec,
        start: Vec<f32>,
        options: GradientOptions,
    },
    /// New settings for the current gradient inversion (it goes on from its current image).
    SetOptions(GradientOptions),
    Run,
    Pause,
    /// One update, then pause.
    Step,
    /// Writes the current image and the trajectory as PNG into `dir`, named after `name`.
    Snapshot {
        dir: PathBuf,
        name: String,
        scale: u32,
        strip: usize,
    },
}

/// What the worker reports, inside [`Msg::Inversion`].
#[derive(Debug, Clone, PartialEq)]
pub enum InvEvent {
    Frame(crate::inversion::Frame),
    Stopped(crate::inversion::StopReason),
    Failed(String),
    Snapshot(Result<Vec<PathBuf>, String>),
    /// Something for the status line (the k-NN index is ready).
    Notice(String),
}

/// The inverter in use.
enum Active {
    Gradient(GradientInverter),
    Knn(KnnInverter),
}

impl Active {
    fn inverter(&mut self) -> &mut dyn Inverter {
        match self {
            Active::Gradient(g) => g,
            Active::Knn(k) => k,
        }
    }

    fn stop_reason(&self) -> Option<StopReason> {
        match self {
            Active::Gradient(g) => g.stop_reason(),
            Active::Knn(k) => Inverter::stop_reason(k),
        }
    }
}

/// A built k-NN index, with what it was built from.
struct KnnCache {
    data: SharedData,
    dims: usize,
    seed: u64,
    index: Arc<KnnIndex>,
    train: Arc<Split>,
}

struct Worker {
    tx: Sender<Msg>,
    id: u64,
    model: Option<(PathBuf, Arc<Network>)>,
    knn: Option<KnnCache>,
    inverter: Option<Active>,
    /// The current image, for snapshots.
    current: Vec<f32>,
    trajectory: Vec<Vec<f32>>,
    running: bool,
}

/// Starts the worker thread; it ends when `requests` is closed.
pub fn spawn(requests: Receiver<InvRequest>, tx: Sender<Msg>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("inversion".into())
        .spawn(move || {
            let mut worker = Worker {
                tx,
                id: 0,
                model: None,
                knn: None,
                inverter: None,
                current: Vec::new(),
                trajectory: Vec::new(),
                running: false,
            };
            worker.serve(&requests);
        })
        .map(|_| ())
}

impl Worker {
    fn send(&self, event: InvEvent) {
        let _ = self.tx.send(Msg::Inversion { id: self.id, event });
    }

    fn serve(&mut self, requests: &Receiver<InvRequest>) {
        loop {
            // While running, take pending requests without waiting; else wait for one.
            let request = if self.running {
                match requests.try_recv() {
                    Ok(r) => Some(r),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match requests.recv() {
                    Ok(r) => Some(r),
                    Err(_) => return,
                }
            };
            match request {
                Some(r) => self.handle(r),
                None => self.step(),
            }
        }
    }

    fn handle(&mut self, request: InvRequest) {
        match request {
            InvRequest::Reset {
                id,
                model,
                start,
                options,
            } => {
                self.id = id;
                self.running = false;
                self.trajectory.clear();
                self.inverter = None;
                self.current = start.clone();
                let reset = match model {
                    ModelSpec::Cnn { model_dir, device } => self
                        .reset_cnn(model_dir, &device, start, options)
                        .map(Active::Gradient),
                    ModelSpec::Knn {
                        data,
                        k,
                        pca_dims,
                        index_seed,
                        settings,
                    } => self
                        .reset_knn(data, (pca_dims, index_seed), start, k, &settings, &options)
                        .map(Active::Knn),
                };
                match reset {
                    Ok(inverter) => self.inverter = Some(inverter),
                    Err(e) => self.send(InvEvent::Failed(format!("{e:#}"))),
                }
            }
            InvRequest::SetOptions(options) => {
                if let Some(Active::Gradient(inv)) = &mut self.inverter {
                    if let Err(e) = inv.set_options(options) {
                        self.running = false;
                        self.send(InvEvent::Failed(e.to_string()));
                    }
                }
            }
            InvRequest::Run => self.running = self.inverter.is_some(),
            InvRequest::Pause => self.running = false,
            InvRequest::Step => {
                self.running = false;
                self.step();
            }
            InvRequest::Snapshot {
                dir,
                name,
                scale,
                strip,
            } => {
                let result = self.snapshot(&dir, &name, scale, strip);
                self.send(InvEvent::Snapshot(result.map_err(|e| format!("{e:#}"))));
            }
        }
    }

    fn reset_cnn(
        &mut self,
        model_dir: PathBuf,
        device: &str,
        start: Vec<f32>,
        options: GradientOptions,
    ) -> anyhow::Result<GradientInverter> {
        let net = match &self.model {
            Some((dir, net)) if *dir == model_dir => net.clone(),
            _ => {
                let device = crate::device::open(device)?;
                let (net, _) = checkpoint::load_network(&model_dir, &device)?;
                let net = Arc::new(net);
                self.model = Some((model_dir, net.clone()));
                net
            }
        };
        Ok(GradientInverter::new(net, start, options)?)
    }

    /// A k-NN inverter; the index is built on first use for a data set and kept.
    fn reset_knn(
        &mut self,
        data: SharedData,
        (dims, seed): (usize, u64),
        start: Vec<f32>,
        k: usize,
        settings: &KnnInvertConfig,
        options: &GradientOptions,
    ) -> anyhow::Result<KnnInverter> {
        let cached = self
            .knn
            .as_ref()
            .is_some_and(|c| c.data == data && c.dims == dims && c.seed == seed);
        if !cached {
            self.knn = None;
            let started = Instant::now();
            let train = &data.0.train;
            let index = KnnIndex::new(&train.images, &train.labels, dims, seed)
                .context("building the k-NN index")?;
            self.send(InvEvent::Notice(format!(
                "k-NN: index of {} training images built in {:.1} s",
                train.len(),
                started.elapsed().as_secs_f64()
            )));
            self.knn = Some(KnnCache {
                index: Arc::new(index),
                train: Arc::new(train.clone()),
                data,
                dims,
                seed,
            });
        }
        let cache = self.knn.as_ref().context("the k-NN index is missing")?;
        let knn_options = KnnOptions {
            target: options.target,
            k,
            lr: settings.lr,
            mask: settings.mask,
            max_steps: settings.max_steps,
            threshold: settings.threshold,
            seed: options.seed,
        };
        Ok(KnnInverter::new(
            cache.index.clone(),
            cache.train.clone(),
            start,
            knn_options,
        )?)
    }

    fn step(&mut self) {
        let Some(active) = &mut self.inverter else {
            self.running = false;
            return;
        };
        if active.stop_reason().is_some() {
            self.running = false;
            return;
        }
        match active.inverter().step() {
            Ok(frame) => {
                let stopped = active.stop_reason();
                self.current.clone_from(&frame.pixels);
                if self.trajectory.len() < MAX_TRAJECTORY {
                    self.trajectory.push(frame.pixels.clone());
                }
                self.send(InvEvent::Frame(frame));
                if let Some(reason) = stopped {
                    self.running = false;
                    self.send(InvEvent::Stopped(reason));
                }
            }
            Err(e) => {
                self.running = false;
                self.send(InvEvent::Failed(format!("inversion step: {e}")));
            }
        }
    }

    fn snapshot(
        &self,
        dir: &std::path::Path,
        name: &str,
        scale: u32,
        strip: usize,
    ) -> anyhow::Result<Vec<PathBuf>> {
        if self.inverter.is_none() {
            anyhow::bail!("nothing to export yet: run the inversion first (Space)");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let image = snapshot::write_png(dir, name, &snapshot::image(&self.current, scale))?;
        let mut written = vec![image];
        if !self.trajectory.is_empty() {
            let frames: Vec<&[f32]> = self.trajectory.iter().map(Vec::as_slice).collect();
            written.push(snapshot::write_png(
                dir,
                &format!("{name}_trajectory"),
                &snapshot::strip(&frames, strip, scale),
            )?);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use candle_core::Device;

    use super::*;
    use crate::config::TrainConfig;
    use crate::data::{DatasetKind, PIXELS};
    use crate::model::adam::Adam;
    use crate::model::checkpoint::CheckpointMeta;
    use crate::model::ArchSpec;

    /// An untrained seed CNN saved as a checkpoint in `dir`.
    fn save_model(dir: &std::path::Path) {
        let arch = ArchSpec::seed();
        let net = Network::new(&arch, 7, &Device::Cpu).unwrap();
        let adam = Adam::new(net.vars().cloned().collect()).unwrap();
        let meta = CheckpointMeta {
            params: arch.params(),
            arch,
            dataset: DatasetKind::Mnist,
            origin: "test".into(),
            position: Default::default(),
            adam_step: 0,
            config: TrainConfig::default(),
            history: Vec::new(),
        };
        checkpoint::save(dir, &net, &adam, &meta).unwrap();
    }

    fn next(rx: &Receiver<Msg>) -> (u64, InvEvent) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Msg::Inversion { id, event }) => (id, event),
            other => panic!("expected an inversion event, got {other:?}"),
        }
    }

    #[test]
    fn steps_a_real_model_and_exports_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        save_model(dir.path());
        let (requests, worker_rx) = channel();
        let (tx, rx) = channel();
        spawn(worker_rx, tx).unwrap();
        let start = vec![0.25f32; PIXELS];
        requests
            .send(InvRequest::Reset {
                id: 3,
                model: ModelSpec::Cnn {
                    model_dir: dir.path().to_path_buf(),
                    device: "cpu".into(),
                },
                start: start.clone(),
                options: GradientOptions {
                    target: 4,
                    ..GradientOptions::default()
                },
            })
            .unwrap();
        requests.send(InvRequest::Step).unwrap();
        requests.send(InvRequest::Step).unwrap();
        let (id, first) = next(&rx);
        assert_eq!(id, 3);
        let InvEvent::Frame(first) = first else {
            panic!("expected a frame, got {first:?}")
        };
        assert_eq!(first.step, 0);
        assert_eq!(first.pixels, start);
        assert!((first.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let InvEvent::Frame(second) = next(&rx).1 else {
            panic!("expected a second frame")
        };
        assert_eq!(second.step, 1);
        assert_ne!(second.pixels, start, "one update changed the image");
        let out = dir.path().join("snaps");
        requests
            .send(InvRequest::Snapshot {
                dir: out.clone(),
                name: "x".into(),
                scale: 2,
                strip: 4,
            })
            .unwrap();
        match next(&rx).1 {
            InvEvent::Snapshot(Ok(paths)) => {
                assert_eq!(paths, vec![out.join("x.png"), out.join("x_trajectory.png")]);
                assert!(paths.iter().all(|p| p.is_file()));
            }
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    #[test]
    fn knn_builds_its_index_on_the_worker_and_steps_towards_the_target() {
        let (requests, worker_rx) = channel();
        let (tx, rx) = channel();
        spawn(worker_rx, tx).unwrap();
        let data = crate::tui::testutil::tiny_dataset(30);
        let reset = InvRequest::Reset {
            id: 2,
            model: ModelSpec::Knn {
                data: SharedData(data),
                k: 3,
                pca_dims: 4,
                index_seed: 1,
                settings: KnnInvertConfig::default(),
            },
            start: vec![0.0; PIXELS],
            options: GradientOptions {
                target: 5,
                ..GradientOptions::default()
            },
        };
        requests.send(reset.clone()).unwrap();
        requests.send(InvRequest::Step).unwrap();
        requests.send(InvRequest::Step).unwrap();
        match next(&rx) {
            (2, InvEvent::Notice(text)) => assert!(text.contains("30 training images"), "{text}"),
            other => panic!("expected the index notice, got {other:?}"),
        }
        let InvEvent::Frame(first) = next(&rx).1 else {
            panic!("expected a frame")
        };
        let InvEvent::Frame(second) = next(&rx).1 else {
            panic!("expected a second frame")
        };
        assert_eq!((first.step, second.step), (0, 1));
        assert!(
            second.pixels.iter().sum::<f32>() > 0.0,
            "moved towards the (grey level 5..) images of class 5"
        );
        // The same data set again: the index is reused (no second notice).
        requests.send(reset).unwrap();
        requests.send(InvRequest::Step).unwrap();
        assert!(matches!(next(&rx).1, InvEvent::Frame(f) if f.step == 0));
    }

    #[test]
    fn a_missing_model_is_reported_with_its_path() {
        let (requests, worker_rx) = channel();
        let (tx, rx) = channel();
        spawn(worker_rx, tx).unwrap();
        let missing = std::env::temp_dir().join("classgen-no-such-run");
        requests
            .send(InvRequest::Reset {
                id: 1,
                model: ModelSpec::Cnn {
                    model_dir: missing.clone(),
                    device: "cpu".into(),
                },
                start: vec![0.0; PIXELS],
                options: GradientOptions::default(),
            })
            .unwrap();
        match next(&rx).1 {
            InvEvent::Failed(e) => assert!(e.contains("classgen-no-such-run"), "{e}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

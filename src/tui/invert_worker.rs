//! The inversion worker: owns a [`GradientInverter`] on its own thread, steps it while running,
//! and reports frames, stops and snapshots as [`Msg`]s. The UI thread only sends requests.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;

use anyhow::Context;

use crate::inversion::{GradientInverter, GradientOptions};
use crate::model::{checkpoint, Network};
use crate::snapshot;

use super::update::Msg;

/// Most frames kept for the trajectory strip.
const MAX_TRAJECTORY: usize = 5000;

/// What the UI asks of the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum InvRequest {
    /// Start over from `start` with the model in `model_dir`; frames are tagged with `id`.
    Reset {
        id: u64,
        model_dir: PathBuf,
        device: String,
        start: Vec<f32>,
        options: GradientOptions,
    },
    /// New settings for the current inversion (it goes on from its current image).
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
}

struct Worker {
    tx: Sender<Msg>,
    id: u64,
    model: Option<(PathBuf, Arc<Network>)>,
    inverter: Option<GradientInverter>,
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
                inverter: None,
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
                model_dir,
                device,
                start,
                options,
            } => {
                self.id = id;
                self.running = false;
                self.trajectory.clear();
                self.inverter = None;
                match self.reset(model_dir, &device, start, options) {
                    Ok(inverter) => self.inverter = Some(inverter),
                    Err(e) => self.send(InvEvent::Failed(format!("{e:#}"))),
                }
            }
            InvRequest::SetOptions(options) => {
                if let Some(inv) = &mut self.inverter {
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

    fn reset(
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

    fn step(&mut self) {
        let Some(inverter) = &mut self.inverter else {
            self.running = false;
            return;
        };
        if inverter.stop_reason().is_some() {
            self.running = false;
            return;
        }
        match inverter.step() {
            Ok(frame) => {
                let stopped = inverter.stop_reason();
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
        let inverter = self
            .inverter
            .as_ref()
            .context("nothing to export yet: run the inversion first (Space)")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let image = snapshot::write_png(dir, name, &snapshot::image(inverter.pixels(), scale))?;
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
                model_dir: dir.path().to_path_buf(),
                device: "cpu".into(),
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
    fn a_missing_model_is_reported_with_its_path() {
        let (requests, worker_rx) = channel();
        let (tx, rx) = channel();
        spawn(worker_rx, tx).unwrap();
        let missing = std::env::temp_dir().join("classgen-no-such-run");
        requests
            .send(InvRequest::Reset {
                id: 1,
                model_dir: missing.clone(),
                device: "cpu".into(),
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

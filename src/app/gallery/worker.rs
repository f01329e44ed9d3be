//! The `camscope-gallery` thread: lists the folder, then explains its photos one at a time —
//! the ones on screen first, then the rest in order, then (when asked) their deletion /
//! insertion curves — and keeps each result per key for the last [`KEYS_KEPT`] settings.
//! A new request is read between photos; a slow method stops at once when the app bumps the
//! epoch (new settings, a new folder, Cancel).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use image::RgbImage;

use super::small::{SmallMap, correlation};
use super::{
    AUC_STEPS, ClassRule, Computed, GalleryRequest, GalleryResponse, Key, THUMB_SIDE, Verdict,
};
use crate::engine::io::input::{PhotoFit, from_photo};
use crate::engine::io::labels::label_of;
use crate::engine::io::preprocess::{load_image, resize_rgb};
use crate::engine::methods::Options;
use crate::engine::metrics::dataset::{Photo, photos, truth_scores};
use crate::engine::metrics::faithfulness::{Baseline, CurveSettings, deletion_insertion};
use crate::engine::render::{fit_size, pane_pixels};
use crate::engine::{Error, Explainer, Labels, Model};

/// Settings whose results stay cached (switching back shows them at once).
const KEYS_KEPT: usize = 4;

struct Worker {
    tx: Sender<GalleryResponse>,
    notify: Arc<dyn Fn() + Send + Sync>,
    epoch: Arc<AtomicU64>,
    /// The folder to list, and its labels CSV; listed once a model is known.
    open: Option<(PathBuf, Option<PathBuf>)>,
    dir: PathBuf,
    photos: Vec<Photo>,
    key: Option<Key>,
    models: [Option<Arc<Model>>; 2],
    labels: [Option<Labels>; 2],
    auc: bool,
    /// Per key id, a result per photo; the current key last.
    cache: Vec<(u64, Vec<Option<Arc<Computed>>>)>,
    visible: Vec<usize>,
    redraw: BTreeSet<usize>,
    paused: bool,
}

pub fn spawn(
    notify: impl Fn() + Send + Sync + 'static,
    epoch: Arc<AtomicU64>,
) -> std::io::Result<(Sender<GalleryRequest>, Receiver<GalleryResponse>)> {
    let (req_tx, req_rx) = std::sync::mpsc::channel();
    let (resp_tx, resp_rx) = std::sync::mpsc::channel();
    let mut w = Worker {
        tx: resp_tx,
        notify: Arc::new(notify),
        epoch,
        open: None,
        dir: PathBuf::new(),
        photos: Vec::new(),
        key: None,
        models: [None, None],
        labels: [None, None],
        auc: false,
        cache: Vec::new(),
        visible: Vec::new(),
        redraw: BTreeSet::new(),
        paused: false,
    };
    std::thread::Builder::new()
        .name("camscope-gallery".into())
        .spawn(move || w.run(&req_rx))?;
    Ok((req_tx, resp_rx))
}

impl Worker {
    fn send(&self, r: GalleryResponse) -> bool {
        let ok = self.tx.send(r).is_ok();
        (self.notify)();
        ok
    }

    fn run(&mut self, rx: &Receiver<GalleryRequest>) {
        let mut said_idle = false;
        loop {
            let next = self.next();
            if next.is_none() && self.open.is_none() && !said_idle {
                said_idle = true;
                let key = self.key.as_ref().map(Key::id);
                if !self.send(GalleryResponse::Idle { key }) {
                    return;
                }
            }
            // Wait for a request when there is nothing to do; else take what has come.
            let mut requests = Vec::new();
            if next.is_none() && (self.open.is_none() || self.models[0].is_none()) {
                match rx.recv() {
                    Ok(r) => requests.push(r),
                    Err(_) => return,
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(r) => requests.push(r),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if !requests.is_empty() {
                said_idle = false;
            }
            for r in requests {
                self.handle(r);
            }
            if self.open.is_some() && self.models[0].is_some() && !self.list() {
                return;
            }
            if let Some(i) = self.next() {
                said_idle = false;
                if !self.work(i) {
                    return;
                }
            }
        }
    }

    fn handle(&mut self, r: GalleryRequest) {
        match r {
            GalleryRequest::Open { dir, csv } => {
                self.open = Some((dir, csv));
                self.photos.clear();
                self.cache.clear();
            }
            GalleryRequest::Settings { key, models, auc } => {
                self.labels = [0, 1].map(|s| models[s].as_deref().and_then(Labels::for_model));
                self.models = models;
                self.auc = auc;
                self.set_key(key);
            }
            GalleryRequest::Visible(v) => {
                self.visible = v;
                self.redraw.retain(|i| self.visible.contains(i));
            }
            GalleryRequest::Redraw(v) => self.redraw.extend(v),
            GalleryRequest::Pause(p) => self.paused = p,
        }
    }

    fn set_key(&mut self, key: Key) {
        let id = key.id();
        self.key = Some(key);
        self.redraw.clear();
        if let Some(at) = self.cache.iter().position(|(k, _)| *k == id) {
            let entry = self.cache.remove(at);
            let results = entry
                .1
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((i, r.clone()?)))
                .collect();
            self.cache.push(entry);
            self.send(GalleryResponse::Cached { key: id, results });
        } else {
            self.cache.push((id, vec![None; self.photos.len()]));
            if self.cache.len() > KEYS_KEPT {
                self.cache.remove(0);
            }
        }
    }

    /// Lists the folder asked for; false when the app has gone.
    fn list(&mut self) -> bool {
        let Some((dir, csv)) = self.open.take() else {
            return true;
        };
        let model = self.models[0].clone().expect("listed with a model");
        let listed = photos(
            &dir,
            csv.as_deref(),
            self.labels[0].as_ref(),
            model.num_classes(),
        );
        let photos = match listed {
            Ok(p) if p.is_empty() => {
                return self.send(GalleryResponse::Failed(format!(
                    "{}: no photos here (or in its class folders)",
                    dir.display()
                )));
            }
            Ok(p) => p,
            Err(e) => return self.send(GalleryResponse::Failed(format!("{e:#}"))),
        };
        let truth = truth_source(&dir, csv.as_deref(), &photos);
        self.dir = dir.clone();
        self.photos = photos.clone();
        self.cache.clear();
        if let Some(key) = self.key.clone() {
            self.set_key(key);
        }
        self.send(GalleryResponse::Listed { dir, photos, truth })
    }

    fn results(&self) -> Option<&Vec<Option<Arc<Computed>>>> {
        self.cache.last().map(|(_, r)| r)
    }

    /// The next photo to work on.
    fn next(&self) -> Option<usize> {
        if self.paused || self.key.is_none() || self.models[0].is_none() {
            return None;
        }
        let results = self.results()?;
        let lacks = |i: usize| results.get(i).is_some_and(Option::is_none);
        let lacks_auc = |i: usize| {
            self.auc
                && results
                    .get(i)
                    .and_then(|r| r.as_ref())
                    .is_some_and(|c| c.verdict().is_some_and(|v| v.auc.is_none()))
        };
        let on_screen = self.visible.iter().copied();
        let redraw = self.redraw.iter().copied();
        on_screen
            .clone()
            .find(|&i| lacks(i))
            .or_else(|| redraw.clone().next())
            .or_else(|| (0..results.len()).find(|&i| lacks(i)))
            .or_else(|| on_screen.clone().find(|&i| lacks_auc(i)))
            .or_else(|| (0..results.len()).find(|&i| lacks_auc(i)))
    }

    /// Explains photo `i` and sends it; false when the app has gone.
    fn work(&mut self, i: usize) -> bool {
        let Some(key) = self.key.clone() else {
            return true;
        };
        let start = self.epoch.load(Ordering::Relaxed);
        self.redraw.remove(&i);
        let (computed, thumb) = match self.compute(i, &key, start) {
            Ok(r) => r,
            // Stopped by newer settings or Cancel: nothing is kept.
            Err(Error::Cancelled) => return true,
            Err(e) => (
                Computed {
                    result: Err(format!("{}: {e}", self.photos[i].file)),
                    second: None,
                    correlation: None,
                },
                None,
            ),
        };
        let computed = Arc::new(computed);
        if let Some((_, r)) = self.cache.last_mut()
            && let Some(slot) = r.get_mut(i)
        {
            *slot = Some(computed.clone());
        }
        self.send(GalleryResponse::Done {
            key: key.id(),
            index: i,
            computed,
            thumb,
        })
    }

    fn compute(
        &self,
        i: usize,
        key: &Key,
        start: u64,
    ) -> crate::engine::Result<(Computed, Option<RgbImage>)> {
        let photo = &self.photos[i];
        let path = self.dir.join(&photo.file);
        let img = load_image(&path)?;
        let (tw, th) = fit_size(img.width(), img.height(), THUMB_SIDE);
        let small = resize_rgb(&img, tw, th)?;
        let epoch = self.epoch.clone();
        let stopped = move || epoch.load(Ordering::Relaxed) != start;
        let options = Options {
            cancel: Some(Arc::new(stopped.clone())),
            ..Options::default()
        };
        let mut thumb = None;
        let mut verdicts = Vec::new();
        for (slot, model) in self.models.iter().enumerate() {
            let Some(model) = model else {
                continue;
            };
            let one = (|| -> crate::engine::Result<Verdict> {
                let loaded = from_photo(
                    model.preprocess,
                    model.device(),
                    img.clone(),
                    PhotoFit::CenterCrop,
                )?;
                let ex = Explainer::new(model, &loaded.input)?;
                let top = ex.top_k(1)?.remove(0);
                let class = match key.rule {
                    ClassRule::True => photo
                        .class
                        .filter(|&c| c < model.num_classes())
                        .unwrap_or(top.class),
                    ClassRule::Predicted => top.class,
                };
                // The second model explains at its own default layer.
                let layer = if slot == 0 {
                    key.layer.as_deref()
                } else {
                    None
                };
                let e = ex.explain_with(key.method, layer, class, &options)?;
                let scores = truth_scores(&e.map, &loaded.mapping, None, &photo.boxes);
                let auc = if self.auc {
                    let check = || {
                        if stopped() {
                            Err(Error::Cancelled)
                        } else {
                            Ok(())
                        }
                    };
                    let s = CurveSettings {
                        class,
                        steps: AUC_STEPS,
                        baseline: Baseline::Blur,
                        batch_size: 32,
                        check: &check,
                        progress: None,
                    };
                    let (d, ins) = deletion_insertion(model, &loaded.input, &e.map, &s)?;
                    Some((d.auc, ins.auc))
                } else {
                    None
                };
                if slot == 0 {
                    let mapping = loaded.mapping.for_photo_size(tw, th);
                    thumb = Some(pane_pixels(&small, &mapping, &e, &key.look, None));
                }
                Ok(Verdict {
                    predicted: top.class,
                    label: label_of(self.labels[slot].as_ref(), top.class),
                    probability: top.probability,
                    explained: class,
                    map: SmallMap::of(&e.localization),
                    mapping: loaded.mapping,
                    pointing: scores.pointing,
                    outside: scores.outside,
                    auc,
                })
            })();
            match one {
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                r => verdicts.push(r.map_err(|e| format!("{}: {e}", photo.file))),
            }
        }
        let mut verdicts = verdicts.into_iter();
        let result = verdicts
            .next()
            .unwrap_or_else(|| Err("no model is open".into()));
        let second = verdicts.next();
        let correlation = match (&result, &second) {
            (Ok(a), Some(Ok(b))) => correlation((&a.map, &a.mapping), (&b.map, &b.mapping)),
            _ => None,
        };
        Ok((
            Computed {
                result,
                second,
                correlation,
            },
            thumb,
        ))
    }
}

/// Where a folder's ground truth comes from, in words.
fn truth_source(dir: &Path, csv: Option<&Path>, photos: &[Photo]) -> String {
    if let Some(csv) = csv {
        format!("labels from {}", csv.display())
    } else if dir.join("boxes.csv").is_file() {
        "labels and boxes from boxes.csv".to_owned()
    } else if photos.iter().any(|p| p.class.is_some()) {
        "labels from class folders (ImageFolder)".to_owned()
    } else {
        "no ground truth (no class folders, boxes.csv or labels CSV)".to_owned()
    }
}

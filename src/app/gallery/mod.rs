//! The gallery: a folder of photos as a grid of thumbnails, each with the current method's
//! overlay and box, filled in by a thread of its own (`camscope-gallery`, visible photos
//! first), sortable and filterable by prediction, ground truth, localization, bias and
//! faithfulness figures, with a per-class mean map and, with a second model open, their
//! disagreement (docs/gallery.md).
//!
//! Memory stays bounded: per photo the gallery keeps its figures and a one-byte map at most
//! 112 pixels a side ([`small::SmallMap`]); thumbnails are decoded, drawn and uploaded for the
//! photos on screen and kept for at most [`THUMBS_KEPT`] of them.

mod glue;
pub mod order;
pub mod small;
mod worker;

pub use glue::GalleryCommand;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::engine::metrics::dataset::Photo;
use crate::engine::{InputMapping, Method, Model, OverlayStyle};
pub use order::{Filter, SortKey};
use small::SmallMap;

/// Thumbnails are drawn at most this large.
pub const THUMB_SIDE: u32 = 160;
/// Textures kept across scrolling and settings; older ones are dropped and drawn again when
/// they are shown (≈ 75 KB each).
pub const THUMBS_KEPT: usize = 600;
/// Points of the deletion / insertion curves the gallery's AUC columns use.
pub const AUC_STEPS: usize = 20;

/// Which class each photo's map explains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClassRule {
    #[default]
    Predicted,
    /// The true class where the photo has one, else the predicted one.
    True,
}

/// What a set of maps was made with: a result made with another key is another result.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The models' load numbers ([`crate::app::protocol::ModelInfo::id`]).
    pub models: (u64, Option<u64>),
    pub method: Method,
    pub layer: Option<String>,
    pub rule: ClassRule,
    pub look: OverlayStyle,
}

impl Key {
    /// A number naming this key (for caches).
    pub fn id(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{self:?}").hash(&mut h);
        h.finish()
    }
}

/// One model's verdict on one photo.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub predicted: usize,
    pub label: String,
    pub probability: f32,
    /// The class the map explains.
    pub explained: usize,
    pub map: SmallMap,
    /// The model input in photo pixels.
    pub mapping: InputMapping,
    pub pointing: Option<bool>,
    pub outside: Option<f32>,
    /// Deletion and insertion AUC, once asked for.
    pub auc: Option<(f32, f32)>,
}

/// Everything the gallery knows of one photo for one key.
#[derive(Clone, Debug)]
pub struct Computed {
    pub result: Result<Verdict, String>,
    /// The second model's verdict, when one is open.
    pub second: Option<Result<Verdict, String>>,
    /// Pearson's correlation of the two models' maps.
    pub correlation: Option<f32>,
}

impl Computed {
    pub fn verdict(&self) -> Option<&Verdict> {
        self.result.as_ref().ok()
    }

    /// How much the two models disagree: 1 for different predictions, plus half of one minus
    /// their maps' correlation (0–2; `None` without a second model).
    pub fn disagreement(&self) -> Option<f32> {
        let (a, b) = (self.verdict()?, self.second.as_ref()?.as_ref().ok()?);
        let differ = (a.predicted != b.predicted) as u8 as f32;
        Some(differ + (1.0 - self.correlation.unwrap_or(0.0)) / 2.0)
    }
}

/// How the gallery is sorted and filtered, and which class's mean map it shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GalleryView {
    pub sort: SortKey,
    pub descending: bool,
    pub filter: Filter,
    pub predicted_class: Option<usize>,
    pub true_class: Option<usize>,
    /// The class whose mean map is shown, and whether photos count by true class.
    pub mean_class: Option<usize>,
    pub mean_by_truth: bool,
}

/// What the app asks of the gallery's thread.
pub enum GalleryRequest {
    /// List `dir` and read its ground truth (`csv`, else `dir/boxes.csv`, else class folders).
    Open { dir: PathBuf, csv: Option<PathBuf> },
    /// The maps to make from now on.
    Settings {
        key: Key,
        models: [Option<Arc<Model>>; 2],
        auc: bool,
    },
    /// The photos on screen (by index), which go first.
    Visible(Vec<usize>),
    /// Draw these thumbnails again (their textures were dropped).
    Redraw(Vec<usize>),
    /// Stop after the photo in hand (`true`) or go on (`false`).
    Pause(bool),
}

pub enum GalleryResponse {
    Listed {
        dir: PathBuf,
        photos: Vec<Photo>,
        /// Where the ground truth came from, in words.
        truth: String,
    },
    /// Results already made for `key` (switching back to earlier settings).
    Cached {
        key: u64,
        results: Vec<(usize, Arc<Computed>)>,
    },
    Done {
        key: u64,
        index: usize,
        computed: Arc<Computed>,
        thumb: Option<RgbImage>,
    },
    /// The thread has nothing left to do for `key` (or was paused).
    Idle {
        key: Option<u64>,
    },
    Failed(String),
}

/// The app's end of the gallery thread.
pub struct GalleryLink {
    tx: Sender<GalleryRequest>,
    rx: Receiver<GalleryResponse>,
    /// Bumped to stop the photo in hand (a slow method) at once.
    epoch: Arc<AtomicU64>,
}

impl GalleryLink {
    pub fn spawn(ctx: &egui::Context) -> std::io::Result<Self> {
        let repaint = ctx.clone();
        let epoch = Arc::new(AtomicU64::new(0));
        let (tx, rx) = worker::spawn(move || repaint.request_repaint(), epoch.clone())?;
        Ok(Self { tx, rx, epoch })
    }

    /// False when the thread has stopped.
    pub fn send(&self, r: GalleryRequest) -> bool {
        if matches!(
            r,
            GalleryRequest::Open { .. }
                | GalleryRequest::Settings { .. }
                | GalleryRequest::Pause(true)
        ) {
            self.epoch.fetch_add(1, Ordering::Relaxed);
        }
        self.tx.send(r).is_ok()
    }

    pub fn try_recv(&self) -> Option<GalleryResponse> {
        self.rx.try_recv().ok()
    }
}

/// The gallery as the app holds it.
pub struct Gallery {
    pub dir: PathBuf,
    pub csv: Option<PathBuf>,
    /// `None` while the folder is being listed.
    pub photos: Option<Vec<Photo>>,
    pub truth: String,
    /// Per photo, the result for the current key.
    pub results: Vec<Option<Arc<Computed>>>,
    pub key: Option<Key>,
    pub auc: bool,
    pub paused: bool,
    /// The thread said it has nothing left to do.
    pub idle: bool,
    pub error: Option<String>,
    pub view: GalleryView,
    /// Which class the maps explain.
    pub rule: ClassRule,
    /// The model the photos were listed for (class folders are read with its class names).
    pub listed_for: Option<u64>,
    /// Put the grid back where it was on the next frame (after Back).
    pub restore_scroll: bool,
    /// Where the grid was scrolled to (kept while the inspector is open).
    pub scroll: f32,
    /// The photos the grid showed last.
    pub visible: Vec<usize>,
    /// Textures by (key id, photo), with the frame they were last shown.
    thumbs: HashMap<(u64, usize), (egui::TextureHandle, u64)>,
    /// Thumbnails asked for again and not yet come.
    asked: std::collections::HashSet<(u64, usize)>,
    frame: u64,
    opened: Instant,
    /// How long after opening every photo of the first screen had its thumbnail.
    pub first_screen: Option<Duration>,
    pub link: Option<GalleryLink>,
}

impl Gallery {
    pub fn new(dir: PathBuf, csv: Option<PathBuf>, link: Option<GalleryLink>) -> Self {
        Self {
            dir,
            csv,
            photos: None,
            truth: String::new(),
            results: Vec::new(),
            key: None,
            auc: false,
            paused: false,
            idle: false,
            error: None,
            view: GalleryView::default(),
            rule: ClassRule::Predicted,
            listed_for: None,
            restore_scroll: false,
            scroll: 0.0,
            visible: Vec::new(),
            thumbs: HashMap::new(),
            asked: Default::default(),
            frame: 0,
            opened: Instant::now(),
            first_screen: None,
            link,
        }
    }

    pub fn send(&mut self, r: GalleryRequest) {
        let ok = self.link.as_ref().is_some_and(|l| l.send(r));
        if !ok {
            self.error = Some("the gallery's thread has stopped".into());
        }
    }

    /// Photos with a result for the current key, and in all.
    pub fn progress(&self) -> (usize, usize) {
        let done = self.results.iter().filter(|r| r.is_some()).count();
        (done, self.results.len())
    }

    /// Whether the thread is still working for the gallery (after Cancel, until it says it
    /// has stopped).
    pub fn running(&self) -> bool {
        !self.idle && self.error.is_none()
    }

    /// The texture of photo `i` for the current key, marked as used this frame.
    pub fn thumb(&mut self, i: usize) -> Option<egui::TextureId> {
        let key = self.key.as_ref()?.id();
        let frame = self.frame;
        self.thumbs.get_mut(&(key, i)).map(|(t, used)| {
            *used = frame;
            t.id()
        })
    }

    /// Takes in the thread's responses; returns whether anything changed.
    pub fn receive(&mut self, ctx: &egui::Context) -> bool {
        let mut changed = false;
        while let Some(r) = self.link.as_ref().and_then(GalleryLink::try_recv) {
            changed = true;
            match r {
                GalleryResponse::Listed { dir, photos, truth } => {
                    if dir == self.dir {
                        self.results = vec![None; photos.len()];
                        self.photos = Some(photos);
                        self.truth = truth;
                        self.idle = false;
                    }
                }
                GalleryResponse::Cached { key, results } => {
                    if self.key.as_ref().map(Key::id) == Some(key) {
                        for (i, c) in results {
                            if let Some(slot) = self.results.get_mut(i) {
                                *slot = Some(c);
                            }
                        }
                    }
                }
                GalleryResponse::Done {
                    key,
                    index,
                    computed,
                    thumb,
                } => {
                    if self.key.as_ref().map(Key::id) != Some(key) || index >= self.results.len() {
                        continue;
                    }
                    self.results[index] = Some(computed);
                    if let Some(t) = thumb {
                        let image = egui::ColorImage::from_rgb(
                            [t.width() as usize, t.height() as usize],
                            t.as_raw(),
                        );
                        let tex = ctx.load_texture(
                            format!("thumb-{key}-{index}"),
                            image,
                            egui::TextureOptions::LINEAR,
                        );
                        self.thumbs.insert((key, index), (tex, self.frame));
                        self.asked.remove(&(key, index));
                    }
                }
                GalleryResponse::Idle { key } => {
                    if key == self.key.as_ref().map(Key::id) && self.photos.is_some() {
                        self.idle = true;
                    }
                }
                GalleryResponse::Failed(e) => self.error = Some(e),
            }
        }
        changed
    }

    /// After the grid is drawn: tells the thread what is on screen, asks for dropped
    /// thumbnails again, keeps at most [`THUMBS_KEPT`] textures, and notes the first screen.
    pub fn after_frame(&mut self, visible: Vec<usize>) {
        self.frame += 1;
        let Some(key) = self.key.as_ref().map(Key::id) else {
            return;
        };
        let missing: Vec<usize> = visible
            .iter()
            .copied()
            .filter(|&i| {
                !self.thumbs.contains_key(&(key, i))
                    && !self.asked.contains(&(key, i))
                    && self
                        .results
                        .get(i)
                        .is_some_and(|r| r.as_ref().is_some_and(|c| c.verdict().is_some()))
            })
            .collect();
        if visible != self.visible {
            self.visible = visible.clone();
            self.send(GalleryRequest::Visible(visible.clone()));
        }
        if !missing.is_empty() {
            self.asked.extend(missing.iter().map(|&i| (key, i)));
            self.send(GalleryRequest::Redraw(missing));
        }
        if self.first_screen.is_none()
            && !visible.is_empty()
            && visible
                .iter()
                .all(|i| self.results.get(*i).is_some_and(Option::is_some))
        {
            let t = self.opened.elapsed();
            self.first_screen = Some(t);
            // For BENCHMARKS.md's gallery row (scripts/screenshot-gallery.sh reads it).
            eprintln!(
                "camscope: gallery of {}: first screen ({} thumbnails) in {:.2} s",
                self.dir.display(),
                visible.len(),
                t.as_secs_f32()
            );
        }
        if self.thumbs.len() > THUMBS_KEPT {
            let mut ages: Vec<((u64, usize), u64)> = self
                .thumbs
                .iter()
                .map(|(k, (_, used))| (*k, *used))
                .collect();
            ages.sort_by_key(|(_, used)| *used);
            for (k, _) in &ages[..self.thumbs.len() - THUMBS_KEPT] {
                self.thumbs.remove(k);
            }
        }
    }

    /// New settings: results for `key` start over (the thread sends back what it has).
    pub fn set_key(&mut self, key: Key, models: [Option<Arc<Model>>; 2]) {
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.key = Some(key.clone());
        self.asked.clear();
        for r in &mut self.results {
            *r = None;
        }
        self.idle = false;
        self.visible.clear();
        let auc = self.auc;
        self.send(GalleryRequest::Settings { key, models, auc });
    }

    /// Switches the AUC column on or off (on: the thread computes the curves).
    pub fn set_auc(&mut self, on: bool, models: [Option<Arc<Model>>; 2]) {
        self.auc = on;
        self.idle = false;
        if let Some(key) = self.key.clone() {
            self.send(GalleryRequest::Settings {
                key,
                models,
                auc: on,
            });
        }
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.idle = false;
        self.send(GalleryRequest::Pause(paused));
    }

    /// The photo indices shown, filtered and sorted.
    pub fn order(&self, threshold: f32) -> Vec<usize> {
        let Some(photos) = &self.photos else {
            return Vec::new();
        };
        order::order(photos, &self.results, &self.view, threshold)
    }

    /// The mean map of the photos of `view.mean_class` (by prediction, or by true class).
    pub fn mean_map(&self) -> Option<(crate::engine::Map, usize)> {
        let (class, photos) = (self.view.mean_class?, self.photos.as_ref()?);
        let maps = photos.iter().zip(&self.results).filter_map(|(p, r)| {
            let v = r.as_ref()?.verdict()?;
            let c = if self.view.mean_by_truth {
                p.class?
            } else {
                v.predicted
            };
            (c == class).then_some(&v.map)
        });
        small::mean(maps)
    }

    /// The file of photo `i`.
    pub fn path(&self, i: usize) -> Option<PathBuf> {
        Some(self.dir.join(&self.photos.as_ref()?.get(i)?.file))
    }
}

//! The `camscope-worker` thread: decoding, inference, backward passes and export, off the UI
//! thread. Requests carry a generation; a queued `Explain` is dropped when a newer one follows.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use image::RgbImage;

use crate::engine::annotate::{
    Caption, annotated, annotated_with_caption, photo_boxes, unavailable_pane,
};
use crate::engine::labels::label_of;
use crate::engine::preprocess::{load_image, load_image_bytes, resize_rgb};
use crate::engine::render::{composite, deprocess_gradient, save_png, with_caption_for};
use crate::engine::{
    Explainer, Explanation, InputMapping, Labels, LayerInfo, Map, Method, Model, OverlayStyle,
    Prediction, builtin,
};

/// Photos are shown at most this large; exports use the full resolution.
pub const MAX_DISPLAY_SIDE: u32 = 2048;

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Builtin,
    File(PathBuf),
}

/// Where a photo comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageSource {
    Sample,
    File(PathBuf),
}

impl ImageSource {
    pub fn name(&self) -> String {
        match self {
            ImageSource::Sample => builtin::SAMPLE_IMAGE_NAME.to_owned(),
            ImageSource::File(p) => p.display().to_string(),
        }
    }
}

/// One pane of the view: a method at a layer (`None`: the model's default).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaneSpec {
    pub method: Method,
    pub layer: Option<String>,
}

/// What an export writes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportKind {
    /// One pane as an annotated PNG at the photo's resolution.
    Annotated(usize),
    /// Every pane side by side.
    Composite,
    /// One pane's raw map as `.npy`.
    RawNpy(usize),
}

/// The rendering settings an export needs.
#[derive(Clone, Debug)]
pub struct ExportStyle {
    pub style: OverlayStyle,
    pub threshold: f32,
    pub all_boxes: bool,
}

pub enum Request {
    LoadModel(ModelSource, candle_core::Device),
    OpenImage(ImageSource),
    Explain {
        generation: u64,
        class: Option<usize>,
        panes: Vec<PaneSpec>,
    },
    Export {
        kind: ExportKind,
        path: PathBuf,
        style: ExportStyle,
    },
}

/// A loaded model, described for the UI.
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub device: String,
    pub parameters: usize,
    pub input_size: (usize, usize),
    pub layers: Vec<LayerInfo>,
    pub default_layer: String,
    /// Why CAM is unavailable, if it is.
    pub no_cam: Option<String>,
    pub class_names: Vec<String>,
}

/// A decoded photo, ready to show.
pub struct ImageInfo {
    pub source: ImageSource,
    pub original: (u32, u32),
    pub display: RgbImage,
    /// The model-input geometry in display-photo coordinates.
    pub mapping: InputMapping,
    pub predictions: Vec<Prediction>,
}

/// What one pane shows.
pub struct PaneResult {
    pub method: Method,
    pub layer: String,
    pub explanation: Explanation,
    /// The signed map (for diverging colormaps).
    pub signed: Map,
    /// For the guided methods: the gradient picture's channels.
    pub guided_rgb: Option<[Map; 3]>,
}

pub enum Response {
    /// The worker has taken this many requests in all (finished or superseded).
    Taken(u64),
    ModelLoaded(Box<ModelInfo>),
    ImageLoaded(Box<ImageInfo>),
    Explained {
        generation: u64,
        class: usize,
        panes: Vec<Result<PaneResult, String>>,
    },
    Exported(PathBuf),
    /// Something failed; the previous state stays.
    Failed {
        what: String,
        message: String,
    },
}

struct Session {
    model: Option<Arc<Model>>,
    labels: Option<Labels>,
    image: Option<Loaded>,
    /// The last explanation, for exports.
    last: Option<(usize, Vec<Result<Explanation, String>>)>,
}

struct Loaded {
    source: ImageSource,
    photo: RgbImage,
    mapping: InputMapping,
    explainer: Option<Explainer<'static>>,
}

/// Starts the worker; `notify` runs after every response (the app requests a repaint there).
pub fn spawn(
    notify: impl Fn() + Send + 'static,
) -> std::io::Result<(Sender<Request>, Receiver<Response>)> {
    let (req_tx, req_rx) = std::sync::mpsc::channel::<Request>();
    let (resp_tx, resp_rx) = std::sync::mpsc::channel::<Response>();
    std::thread::Builder::new()
        .name("camscope-worker".into())
        .spawn(move || {
            let mut s = Session {
                model: None,
                labels: None,
                image: None,
                last: None,
            };
            let mut taken = 0u64;
            while let Ok(first) = req_rx.recv() {
                let (batch, count) = coalesce(first, &req_rx);
                taken += count;
                for req in batch {
                    for r in s.handle(req) {
                        if resp_tx.send(r).is_err() {
                            return;
                        }
                    }
                    notify();
                }
                if resp_tx.send(Response::Taken(taken)).is_err() {
                    return;
                }
                notify();
            }
        })?;
    Ok((req_tx, resp_rx))
}

/// The queued requests in order, keeping only the newest `Explain`, and how many were taken.
fn coalesce(first: Request, rx: &Receiver<Request>) -> (Vec<Request>, u64) {
    let mut queue = vec![first];
    while let Ok(r) = rx.try_recv() {
        queue.push(r);
    }
    let count = queue.len() as u64;
    let last_explain = queue
        .iter()
        .rposition(|r| matches!(r, Request::Explain { .. }));
    let kept = queue
        .into_iter()
        .enumerate()
        .filter(|(i, r)| !matches!(r, Request::Explain { .. }) || Some(*i) == last_explain)
        .map(|(_, r)| r)
        .collect();
    (kept, count)
}

fn failed(what: impl Into<String>, e: impl std::fmt::Display) -> Response {
    Response::Failed {
        what: what.into(),
        message: e.to_string(),
    }
}

impl Session {
    fn handle(&mut self, req: Request) -> Vec<Response> {
        match req {
            Request::LoadModel(source, device) => self.load_model(source, &device),
            Request::OpenImage(source) => self.open_image(source),
            Request::Explain {
                generation,
                class,
                panes,
            } => vec![self.explain(generation, class, &panes)],
            Request::Export { kind, path, style } => {
                vec![match self.export(&kind, &path, &style) {
                    Ok(()) => Response::Exported(path),
                    Err(e) => failed(format!("export to {}", path.display()), format!("{e:#}")),
                }]
            }
        }
    }

    fn load_model(&mut self, source: ModelSource, device: &candle_core::Device) -> Vec<Response> {
        let (name, loaded) = match &source {
            ModelSource::Builtin => (builtin::NAME.to_owned(), builtin::model(device)),
            ModelSource::File(p) => (p.display().to_string(), Model::load(p, device)),
        };
        let model = match loaded.and_then(|m| m.layers().map(|l| (m, l))) {
            Ok((m, layers)) => {
                let labels = Labels::for_classes(m.num_classes());
                let info = ModelInfo {
                    name,
                    architecture: m.architecture.clone(),
                    device: format!("{:?}", m.device()),
                    parameters: m.parameter_count(),
                    input_size: m.preprocess.input_size(),
                    layers,
                    default_layer: m.default_layer().to_owned(),
                    no_cam: m.cam_head().err().map(str::to_owned),
                    class_names: (0..m.num_classes())
                        .map(|c| label_of(labels.as_ref(), c))
                        .collect(),
                };
                self.model = Some(Arc::new(m));
                self.labels = labels;
                Response::ModelLoaded(Box::new(info))
            }
            Err(e) => return vec![failed(format!("open model {name}"), e)],
        };
        let mut out = vec![model];
        // The photo is preprocessed anew for this model.
        if let Some(img) = self.image.take() {
            out.extend(self.prepare(img.source, img.photo));
        }
        out
    }

    fn open_image(&mut self, source: ImageSource) -> Vec<Response> {
        let photo = match &source {
            ImageSource::Sample => load_image_bytes(
                builtin::SAMPLE_IMAGE,
                std::path::Path::new(builtin::SAMPLE_IMAGE_NAME),
            ),
            ImageSource::File(p) => load_image(p),
        };
        match photo {
            Ok(photo) => self.prepare(source, photo),
            Err(e) => vec![failed(format!("open image {}", source.name()), e)],
        }
    }

    /// Preprocesses and runs the forward pass once for this photo.
    fn prepare(&mut self, source: ImageSource, photo: RgbImage) -> Vec<Response> {
        let Some(model) = self.model.clone() else {
            self.image = Some(Loaded {
                source,
                photo,
                mapping: InputMapping::identity(1, 1),
                explainer: None,
            });
            return Vec::new();
        };
        let result = (|| -> crate::engine::Result<(InputMapping, Explainer<'static>)> {
            let (input, mapping) = model.preprocess.apply(&photo, model.device())?;
            Ok((mapping, Explainer::new_shared(model.clone(), &input)?))
        })();
        let (mapping, explainer) = match result {
            Ok(r) => r,
            Err(e) => return vec![failed(format!("explain {}", source.name()), e)],
        };
        let predictions = match explainer.predictions() {
            Ok(p) => p,
            Err(e) => return vec![failed("predictions", e)],
        };
        let (w, h) = photo.dimensions();
        let s = (MAX_DISPLAY_SIDE as f32 / w.max(h) as f32).min(1.0);
        let (dw, dh) = (
            ((w as f32 * s).round() as u32).max(1),
            ((h as f32 * s).round() as u32).max(1),
        );
        let display = match resize_rgb(&photo, dw, dh) {
            Ok(d) => d,
            Err(e) => return vec![failed("display copy", e)],
        };
        let info = ImageInfo {
            source: source.clone(),
            original: (w, h),
            display,
            mapping: mapping.for_photo_size(dw, dh),
            predictions,
        };
        self.last = None;
        self.image = Some(Loaded {
            source,
            photo,
            mapping,
            explainer: Some(explainer),
        });
        vec![Response::ImageLoaded(Box::new(info))]
    }

    fn explain(&mut self, generation: u64, class: Option<usize>, panes: &[PaneSpec]) -> Response {
        let Some(ex) = self.image.as_ref().and_then(|i| i.explainer.as_ref()) else {
            return failed("explain", "no image is open");
        };
        let class = match class {
            Some(c) => c,
            None => match ex.top_k(1) {
                Ok(p) => p[0].class,
                Err(e) => return failed("explain", e),
            },
        };
        let results: Vec<Result<Explanation, String>> = panes
            .iter()
            .map(|p| {
                ex.explain(p.method, p.layer.as_deref(), class)
                    .map_err(|e| e.to_string())
            })
            .collect();
        let panes = results
            .iter()
            .map(|r| {
                r.as_ref().map_err(Clone::clone).map(|e| PaneResult {
                    method: e.method,
                    layer: e.layer.clone(),
                    signed: e.signed_map(),
                    guided_rgb: (e.raw.shape.len() == 3)
                        .then(|| deprocess_gradient(&e.raw.data, e.raw.shape[2], e.raw.shape[1])),
                    explanation: e.clone(),
                })
            })
            .collect();
        self.last = Some((class, results));
        Response::Explained {
            generation,
            class,
            panes,
        }
    }

    fn export(
        &self,
        kind: &ExportKind,
        path: &std::path::Path,
        s: &ExportStyle,
    ) -> anyhow::Result<()> {
        let img = self
            .image
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no image is open"))?;
        let (class, results) = self
            .last
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("nothing is explained yet"))?;
        let ex = img
            .explainer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no explanation"))?;
        let prob = ex
            .predictions()?
            .iter()
            .find(|p| p.class == *class)
            .map_or(0.0, |p| p.probability);
        let label = label_of(self.labels.as_ref(), *class);
        let pane = |i: usize| -> anyhow::Result<&Explanation> {
            match results.get(i) {
                Some(Ok(e)) => Ok(e),
                Some(Err(why)) => Err(anyhow::anyhow!("{why}")),
                None => Err(anyhow::anyhow!("no pane {i}")),
            }
        };
        match kind {
            ExportKind::Annotated(i) => {
                let e = pane(*i)?;
                let boxes = photo_boxes(&e.localization, &img.mapping, s.threshold, s.all_boxes);
                let caption = Caption {
                    label: &label,
                    probability: prob,
                    method: e.method,
                    layer: &e.layer,
                    threshold: s.threshold,
                };
                let out =
                    annotated_with_caption(&img.photo, &img.mapping, e, &s.style, &boxes, &caption);
                save_png(path, &out)?;
            }
            ExportKind::Composite => {
                let (w, h) = img.photo.dimensions();
                let k = (1600.0 / w.max(h) as f32).min(1.0);
                let (pw, ph) = (
                    ((w as f32 * k) as u32).max(1),
                    ((h as f32 * k) as u32).max(1),
                );
                let photo = resize_rgb(&img.photo, pw, ph)?;
                let mapping = img.mapping.for_photo_size(pw, ph);
                let panes: Vec<(String, RgbImage)> = results
                    .iter()
                    .map(|r| match r {
                        Ok(e) => {
                            let boxes =
                                photo_boxes(&e.localization, &mapping, s.threshold, s.all_boxes);
                            let title = if e.method.uses_layer() {
                                format!("{} · {}", e.method.title(), e.layer)
                            } else {
                                e.method.title().to_owned()
                            };
                            (title, annotated(&photo, &mapping, e, &s.style, &boxes))
                        }
                        Err(why) => ("n/a".to_owned(), unavailable_pane(&photo, why)),
                    })
                    .collect();
                let caption = format!(
                    "{label}  {:.1}% · class {class} · τ {:.2}",
                    prob * 100.0,
                    s.threshold
                );
                save_png(path, &with_caption_for(&composite(&panes), &caption, pw))?;
            }
            ExportKind::RawNpy(i) => pane(*i)?.raw.write_npy(path)?,
        }
        Ok(())
    }
}

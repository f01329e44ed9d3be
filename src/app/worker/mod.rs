//! The `camscope-worker` thread: decoding, inference, backward passes, drawing and export, off
//! the UI thread. Requests carry a generation; a queued request is dropped when a newer one
//! makes it pointless ([`Request::is_superseded_by`]).

mod coalesce;
mod export;
mod metrics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use image::RgbImage;

use super::protocol::{
    ImageInfo, ImageSource, Look, MAX_DISPLAY_SIDE, ModelInfo, ModelSource, PaneResult, PaneSpec,
    Rendered, Request, Response, Smoothing,
};
use crate::engine::io::input::{PhotoFit, from_photo};
use crate::engine::io::labels::label_of;
use crate::engine::io::preprocess::{image_warnings, load_image, load_image_bytes, resize_rgb};
use crate::engine::methods::Options;
use crate::engine::render::{GridPane, fit_size, pane_pixels, shared_maps};
use crate::engine::{Error, Explainer, Explanation, InputMapping, Labels, Method, Model, builtin};
use coalesce::coalesce;

/// Sends a response and wakes the app.
#[derive(Clone)]
struct Outbox {
    tx: Sender<Response>,
    notify: Arc<dyn Fn() + Send + Sync>,
}

impl Outbox {
    /// False when the app has gone.
    fn send(&self, r: Response) -> bool {
        let ok = self.tx.send(r).is_ok();
        (self.notify)();
        ok
    }
}

struct Session {
    model: Option<Arc<Model>>,
    labels: Option<Labels>,
    image: Option<Photo>,
    /// The last explanation, for redrawing and exports.
    last: Option<Last>,
    /// For progress reports while a slow method runs.
    outbox: Outbox,
    /// The generation the app still wants; a slow method for another one stops.
    wanted: Arc<AtomicU64>,
}

/// The open photo at full resolution and as displayed, each with its mapping to the model
/// input, and its forward pass (none while no model is loaded).
struct Photo {
    source: ImageSource,
    photo: RgbImage,
    mapping: InputMapping,
    display: Arc<RgbImage>,
    display_mapping: InputMapping,
    explainer: Option<Explainer<'static>>,
    /// Problems of the file that did not stop decoding (a truncated JPEG).
    warnings: Vec<String>,
}

struct Last {
    generation: u64,
    class: usize,
    panes: Vec<(Method, Result<Explanation, String>)>,
}

impl Last {
    fn grid_panes(&self) -> Vec<GridPane<'_>> {
        self.panes
            .iter()
            .map(|(m, r)| GridPane {
                method: *m,
                result: r.as_ref().map_err(String::as_str),
            })
            .collect()
    }

    /// Each pane's map on the shared colour scale, when `look` asks for one.
    fn shared_maps(&self, look: &Look) -> Vec<Option<crate::engine::Map>> {
        shared_maps(&self.grid_panes(), look.shared_scale, &look.overlay)
    }
}

/// Starts the worker; `notify` runs after every response (the app requests a repaint there).
/// A slow explanation stops when `wanted` no longer holds its generation.
pub fn spawn(
    notify: impl Fn() + Send + Sync + 'static,
    wanted: Arc<AtomicU64>,
) -> std::io::Result<(Sender<Request>, Receiver<Response>)> {
    let (req_tx, req_rx) = std::sync::mpsc::channel::<Request>();
    let (resp_tx, resp_rx) = std::sync::mpsc::channel::<Response>();
    let outbox = Outbox {
        tx: resp_tx,
        notify: Arc::new(notify),
    };
    std::thread::Builder::new()
        .name("camscope-worker".into())
        .spawn(move || {
            let mut s = Session {
                model: None,
                labels: None,
                image: None,
                last: None,
                outbox: outbox.clone(),
                wanted,
            };
            let mut taken = 0u64;
            while let Ok(first) = req_rx.recv() {
                let mut queue = vec![first];
                queue.extend(req_rx.try_iter());
                let (batch, count) = coalesce(queue);
                taken += count;
                for req in batch {
                    for r in s.handle(req) {
                        if !outbox.send(r) {
                            return;
                        }
                    }
                }
                if !outbox.send(Response::Taken(taken)) {
                    return;
                }
            }
        })?;
    Ok((req_tx, resp_rx))
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
                smoothing,
                look,
            } => {
                let explained = self.explain(generation, class, &panes, smoothing);
                let mut out = vec![explained];
                out.extend(self.render(generation, look));
                out
            }
            Request::Render { generation, look } => {
                self.render(generation, look).into_iter().collect()
            }
            Request::Metrics { generation, steps } => self.metrics(generation, steps),
            Request::Export {
                generation,
                kind,
                path,
                style,
            } => vec![match self.export(generation, &kind, &path, &style) {
                Ok(()) => Response::Exported(path),
                Err(e) => failed(format!("export to {}", path.display()), format!("{e:#}")),
            }],
        }
    }

    fn load_model(&mut self, source: ModelSource, device: &candle_core::Device) -> Vec<Response> {
        let (name, loaded) = match &source {
            ModelSource::Builtin => (builtin::NAME.to_owned(), builtin::model(device)),
            ModelSource::File(p) => (p.display().to_string(), Model::load(p, device)),
        };
        let model = match loaded.and_then(|m| m.layers().map(|l| (m, l))) {
            Ok((m, layers)) => {
                let labels = Labels::for_model(&m);
                let info = ModelInfo {
                    name,
                    architecture: m.architecture.clone(),
                    device: format!("{:?}", m.device()),
                    parameters: m.parameter_count(),
                    input_size: m.preprocess.input_size(),
                    preprocess: m.preprocess.describe(),
                    preprocess_source: m.preprocess_source.clone(),
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
            out.extend(self.prepare(img.source, img.photo, img.warnings));
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
        let warnings = match &source {
            ImageSource::File(p) => image_warnings(p),
            ImageSource::Sample => Vec::new(),
        };
        match photo {
            Ok(photo) => self.prepare(source, photo, warnings),
            Err(e) => vec![failed(format!("open image {}", source.name()), e)],
        }
    }

    /// Preprocesses (the CLI's photo → input step) and runs the forward pass once.
    fn prepare(
        &mut self,
        source: ImageSource,
        photo: RgbImage,
        warnings: Vec<String>,
    ) -> Vec<Response> {
        let (w, h) = photo.dimensions();
        let (dw, dh) = fit_size(w, h, MAX_DISPLAY_SIDE);
        let display = match resize_rgb(&photo, dw, dh) {
            Ok(d) => Arc::new(d),
            Err(e) => return vec![failed("display copy", e)],
        };
        let Some(model) = self.model.clone() else {
            self.image = Some(Photo {
                source,
                photo,
                mapping: InputMapping::identity(w, h),
                display,
                display_mapping: InputMapping::identity(dw, dh),
                explainer: None,
                warnings,
            });
            return Vec::new();
        };
        // On failure the photo is kept (a model that suits it may come next).
        let result = from_photo(
            model.preprocess,
            model.device(),
            photo,
            PhotoFit::CenterCrop,
        )
        .and_then(|loaded| {
            let explainer = Explainer::new_shared(model.clone(), &loaded.input)?;
            Ok((loaded, explainer))
        });
        let (loaded, explainer) = match result {
            Ok(r) => r,
            Err(e) => return vec![failed(format!("explain {}", source.name()), e)],
        };
        let predictions = match explainer.predictions() {
            Ok(p) => p,
            Err(e) => return vec![failed("predictions", e)],
        };
        let display_mapping = loaded.mapping.for_photo_size(dw, dh);
        let info = ImageInfo {
            source: source.clone(),
            original: (w, h),
            display: display.clone(),
            mapping: display_mapping,
            predictions,
        };
        self.last = None;
        self.image = Some(Photo {
            source,
            photo: loaded.photo,
            mapping: loaded.mapping,
            display,
            display_mapping,
            explainer: Some(explainer),
            warnings,
        });
        vec![Response::ImageLoaded(Box::new(info))]
    }

    /// The options of one pane: smoothing, progress reports, and a stop as soon as the app no
    /// longer wants this generation.
    fn options(&self, generation: u64, pane: usize, method: Method, s: Smoothing) -> Options {
        let outbox = self.outbox.clone();
        let wanted = self.wanted.clone();
        Options {
            eigen_smooth: s.eigen,
            aug_smooth: s.aug,
            progress: Some(Arc::new(move |done, total| {
                outbox.send(Response::Progress {
                    generation,
                    pane,
                    method,
                    done,
                    total,
                });
            })),
            cancel: Some(Arc::new(move || {
                wanted.load(Ordering::Relaxed) != generation
            })),
            ..Options::default()
        }
    }

    fn explain(
        &mut self,
        generation: u64,
        class: Option<usize>,
        panes: &[PaneSpec],
        smoothing: Smoothing,
    ) -> Response {
        let Some(ex) = self.image.as_ref().and_then(|i| i.explainer.as_ref()) else {
            return failed("explain", "no image is open");
        };
        let class = match class {
            Some(c) => c,
            None => match ex.top_k(1) {
                Ok(p) if !p.is_empty() => p[0].class,
                Ok(_) => return failed("explain", "the model predicts no classes"),
                Err(e) => return failed("explain", e),
            },
        };
        let mut results: Vec<(Method, Result<Explanation, String>)> = Vec::new();
        for (i, p) in panes.iter().enumerate() {
            let options = self.options(generation, i, p.method, smoothing);
            let r = match ex.explain_with(p.method, p.layer.as_deref(), class, &options) {
                Err(Error::Cancelled) => return Response::Cancelled { generation },
                r => r.map_err(|e| e.to_string()),
            };
            results.push((p.method, r));
        }
        let mut warnings = self
            .image
            .as_ref()
            .map(|i| i.warnings.clone())
            .unwrap_or_default();
        warnings.extend(ex.warnings().unwrap_or_default());
        warnings.extend(
            results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().and_then(Explanation::warning)),
        );
        let panes = results
            .iter()
            .map(|(m, r)| {
                r.as_ref().map_err(Clone::clone).map(|e| PaneResult {
                    method: *m,
                    layer: e.layer.clone(),
                    explanation: e.clone(),
                })
            })
            .collect();
        self.last = Some(Last {
            generation,
            class,
            panes: results,
        });
        Response::Explained {
            generation,
            class,
            panes,
            warnings,
        }
    }

    /// Draws the last explanation's panes on the display photo: the canvas shows these pixels.
    /// Nothing when that explanation is not `generation` (it failed, or a newer one is on its
    /// way and will be drawn when it comes).
    fn render(&self, generation: u64, look: Look) -> Option<Response> {
        let (img, last) = (self.image.as_ref()?, self.last.as_ref()?);
        if last.generation != generation {
            return None;
        }
        let shared = last.shared_maps(&look);
        let panes = last
            .panes
            .iter()
            .zip(&shared)
            .map(|((_, r), shared)| {
                r.as_ref().ok().map(|e| {
                    let (photo, mapping) = (&img.display, &img.display_mapping);
                    pane_pixels(photo, mapping, e, &look.overlay, shared.as_ref())
                })
            })
            .collect();
        Some(Response::Rendered(Rendered {
            generation,
            look,
            panes,
        }))
    }
}

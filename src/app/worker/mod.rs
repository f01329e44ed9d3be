//! The `camscope-worker` thread: decoding, inference, backward passes, drawing and export, off
//! the UI thread. Requests carry a generation; a queued request is dropped when a newer one
//! makes it pointless ([`Request::is_superseded_by`]).

mod coalesce;
mod export;
mod load;
mod metrics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use image::RgbImage;

use super::protocol::{
    ImageSource, Look, PaneResult, PaneSpec, Rendered, Request, Response, Smoothing,
};
use crate::engine::methods::Options;
use crate::engine::render::{GridPane, pane_pixels, shared_maps};
use crate::engine::{Error, Explainer, Explanation, InputMapping, Labels, Method, Model};
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
    /// The second model, for panes that compare models.
    second: Option<(Arc<Model>, Option<Labels>)>,
    image: Option<Photo>,
    /// The last explanation, for redrawing and exports.
    last: Option<Last>,
    /// For progress reports while a slow method runs.
    outbox: Outbox,
    /// The generation the app still wants; a slow method for another one stops.
    wanted: Arc<AtomicU64>,
}

/// The open photo at full resolution and as displayed, and its views: the photo prepared for
/// the first model and for the second (none while that model is not loaded).
struct Photo {
    source: ImageSource,
    photo: RgbImage,
    display: Arc<RgbImage>,
    views: [Option<View>; 2],
    /// Problems of the file that did not stop decoding (a truncated JPEG).
    warnings: Vec<String>,
}

/// The photo as one model sees it: the mappings from its input to the photo at full and at
/// display resolution, and its forward pass.
struct View {
    mapping: InputMapping,
    display_mapping: InputMapping,
    explainer: Explainer<'static>,
}

impl Photo {
    /// The view of the first model (`second == false`) or of the second.
    fn view(&self, second: bool) -> Option<&View> {
        self.views[second as usize].as_ref()
    }
}

struct Last {
    generation: u64,
    /// The first model's class (the second model's panes each say theirs).
    class: usize,
    panes: Vec<LastPane>,
}

struct LastPane {
    method: Method,
    second: bool,
    result: Result<Explanation, String>,
}

impl Last {
    /// The panes for a composite of `img`: the second model's panes with their own mapping.
    fn grid_panes<'a>(&'a self, img: &'a Photo) -> Vec<GridPane<'a>> {
        self.panes
            .iter()
            .map(|p| GridPane {
                method: p.method,
                result: p.result.as_ref().map_err(String::as_str),
                mapping: if p.second {
                    img.view(true).map(|v| &v.mapping)
                } else {
                    None
                },
            })
            .collect()
    }

    /// Each pane's map on the shared colour scale, when `look` asks for one.
    fn shared_maps(&self, img: &Photo, look: &Look) -> Vec<Option<crate::engine::Map>> {
        shared_maps(&self.grid_panes(img), look.shared_scale, &look.overlay)
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
                second: None,
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

/// The class a forward pass predicts first.
fn top_class(ex: &Explainer<'_>) -> crate::engine::Result<usize> {
    ex.top_k(1)?
        .first()
        .map(|p| p.class)
        .ok_or(Error::ClassOutOfRange {
            class: 0,
            num_classes: 0,
        })
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
            Request::LoadSecondModel(source, device) => {
                self.load_second_model(source.as_ref(), &device)
            }
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
        let Some(img) = self.image.as_ref() else {
            return failed("explain", "no image is open");
        };
        let Some(ex) = img.view(false).map(|v| &v.explainer) else {
            return failed("explain", "no image is open");
        };
        let class = match class.map_or_else(|| top_class(ex), Ok) {
            Ok(c) => c,
            Err(e) => return failed("explain", e),
        };
        let mut results = Vec::new();
        for (i, p) in panes.iter().enumerate() {
            let options = self.options(generation, i, p.method, smoothing);
            let r = match img.view(p.second) {
                None => Err("no second model is open (File → Open second model…)".to_owned()),
                Some(v) => {
                    // The second model explains the class asked for when it has it, else its
                    // own top-1 (its classes may be other classes).
                    let own = if p.second && class >= v.explainer.model().num_classes() {
                        top_class(&v.explainer)
                    } else {
                        Ok(class)
                    };
                    let r = own.and_then(|c| {
                        v.explainer
                            .explain_with(p.method, p.layer.as_deref(), c, &options)
                    });
                    match r {
                        Err(Error::Cancelled) => return Response::Cancelled { generation },
                        r => r.map_err(|e| e.to_string()),
                    }
                }
            };
            results.push(LastPane {
                method: p.method,
                second: p.second,
                result: r,
            });
        }
        let mut warnings = img.warnings.clone();
        warnings.extend(ex.warnings().unwrap_or_default());
        warnings.extend(
            results
                .iter()
                .filter_map(|p| p.result.as_ref().ok().and_then(Explanation::warning)),
        );
        let panes = results
            .iter()
            .map(|p| {
                let mapping = img.view(p.second).map(|v| v.display_mapping);
                p.result.as_ref().map_err(Clone::clone).map(|e| PaneResult {
                    method: p.method,
                    layer: e.layer.clone(),
                    explanation: e.clone(),
                    second: p.second,
                    mapping: mapping.unwrap_or(InputMapping::identity(1, 1)),
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
        let shared = last.shared_maps(img, &look);
        let panes = last
            .panes
            .iter()
            .zip(&shared)
            .map(|(p, shared)| {
                let (e, v) = (p.result.as_ref().ok()?, img.view(p.second)?);
                let (photo, mapping) = (&img.display, &v.display_mapping);
                Some(pane_pixels(
                    photo,
                    mapping,
                    e,
                    &look.overlay,
                    shared.as_ref(),
                ))
            })
            .collect();
        Some(Response::Rendered(Rendered {
            generation,
            look,
            panes,
        }))
    }
}

//! The app's mirror of the worker's state: what is loaded, explained and drawn, and the
//! status line. Changed only by worker responses and by the app's commands.

use std::path::PathBuf;

use super::protocol::{ImageInfo, ModelInfo, PaneMetrics, PaneResult, Rendered, Response};
use crate::engine::Method;
use crate::engine::metrics::localize::BBox;
use crate::engine::render::photo_boxes;

/// The status line: the last thing that happened.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

impl Status {
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: true,
        }
    }
}

/// How far a slow method of the explanation being computed has come.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub pane: usize,
    pub method: Method,
    pub done: usize,
    pub total: usize,
}

/// The current explanation, as received from the worker.
pub struct Explained {
    pub generation: u64,
    pub class: usize,
    pub panes: Vec<Result<PaneResult, String>>,
}

#[derive(Default)]
pub struct Mirror {
    pub model: Option<ModelInfo>,
    /// The second model, when one is open beside the first.
    pub second: Option<ModelInfo>,
    pub image: Option<ImageInfo>,
    pub explained: Option<Explained>,
    /// The current explanation's panes as drawn (what the canvas shows).
    pub rendered: Option<Rendered>,
    /// The class asked for; `None` follows the top-1 prediction.
    pub class: Option<usize>,
    /// Set when what is shown no longer matches the photo, model, class or panes.
    pub needs_explain: bool,
    /// The generation of the newest explanation asked for.
    pub generation: u64,
    pub status: Status,
    /// A slow method's progress while the newest explanation is computed.
    pub progress: Option<Progress>,
    /// The last export written.
    pub last_export: Option<PathBuf>,
    /// Faithfulness curves of the panes, for the explanation of this generation.
    pub metrics: Option<(u64, Vec<PaneMetrics>)>,
    /// While the curves are computed: their generation, forward passes done and in all.
    pub metrics_progress: Option<(u64, usize, usize)>,
    /// The generation whose curves were stopped before they were done.
    pub metrics_stopped: Option<u64>,
}

/// What a response changed that the app must act on.
#[derive(Debug, Default, PartialEq)]
pub struct Changed {
    pub photo: bool,
    pub rendered: bool,
}

impl Mirror {
    /// The boxes of pane `i` in display-photo coordinates at threshold `tau`.
    pub fn pane_boxes(&self, i: usize, tau: f32, all: bool) -> Vec<BBox> {
        let Some(Ok(p)) = self.explained.as_ref().and_then(|e| e.panes.get(i)) else {
            return Vec::new();
        };
        photo_boxes(&p.explanation.localization, &p.mapping, tau, all)
    }

    /// Takes in one worker response.
    pub fn absorb(&mut self, r: Response) -> Changed {
        let mut changed = Changed::default();
        match r {
            Response::Taken(_) => {}
            Response::ModelLoaded(info) => {
                self.status = Status::info(format!("model {} ({})", info.name, info.architecture));
                self.model = Some(*info);
                self.class = None;
                self.needs_explain = true;
            }
            Response::SecondModelLoaded(info) => {
                self.status = Status::info(match &info {
                    Some(i) => format!("second model {} ({})", i.name, i.architecture),
                    None => "second model closed".to_owned(),
                });
                self.second = info.map(|i| *i);
                self.needs_explain = true;
            }
            Response::ImageLoaded(info) => {
                self.status = Status::info(format!(
                    "opened {} ({}×{})",
                    info.source.name(),
                    info.original.0,
                    info.original.1
                ));
                self.image = Some(*info);
                self.class = None;
                self.needs_explain = true;
                changed.photo = true;
            }
            Response::Explained {
                generation,
                class,
                panes,
                warnings,
            } => {
                if generation == self.generation {
                    self.progress = None;
                    if !warnings.is_empty() {
                        self.status = Status::error(format!("warning: {}", warnings.join("; ")));
                    }
                    self.explained = Some(Explained {
                        generation,
                        class,
                        panes,
                    });
                }
            }
            Response::Rendered(r) => {
                if r.generation == self.generation {
                    self.rendered = Some(r);
                    changed.rendered = true;
                }
            }
            Response::Progress {
                generation,
                pane,
                method,
                done,
                total,
            } => {
                if generation == self.generation {
                    self.progress = Some(Progress {
                        pane,
                        method,
                        done,
                        total,
                    });
                }
            }
            Response::Metrics { generation, panes } => {
                self.metrics_progress = None;
                self.metrics = Some((generation, panes));
            }
            Response::MetricsProgress {
                generation,
                done,
                total,
            } => {
                if self.metrics_stopped == Some(generation) {
                    self.metrics_stopped = None;
                }
                self.metrics_progress = Some((generation, done, total));
            }
            Response::MetricsStopped { generation } => {
                self.metrics_progress = None;
                self.metrics_stopped = Some(generation);
            }
            Response::Cancelled { generation } => {
                if generation == self.generation {
                    self.progress = None;
                    self.status = Status::info("cancelled; the panes show the previous maps");
                }
            }
            Response::Exported(path) => {
                self.status = Status::info(format!("saved {}", path.display()));
                self.last_export = Some(path);
            }
            Response::Failed { what, message } => {
                self.progress = None;
                self.status = Status::error(format!("{what}: {message}"));
            }
        }
        changed
    }
}

//! What the app and its worker thread say to each other.

use std::path::PathBuf;
use std::sync::Arc;

use image::RgbImage;

use crate::engine::{
    Explanation, InputMapping, LayerInfo, Method, Model, OverlayStyle, Prediction, builtin,
};

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

    /// A file-name stem for suggested export names.
    pub fn stem(&self) -> String {
        match self {
            ImageSource::Sample => "chelsea".to_owned(),
            ImageSource::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// One pane of the view: a method at a layer (`None`: the model's default).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaneSpec {
    pub method: Method,
    pub layer: Option<String>,
    /// Explained by the second model (File → Open second model…) instead of the first.
    #[serde(default)]
    pub second: bool,
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

/// How pane pixels are drawn: the overlay style, and whether the panes share one colour scale
/// (`render::on_shared_scale`) instead of each its own min–max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    pub overlay: OverlayStyle,
    pub shared_scale: bool,
}

/// How panes are drawn and boxed: what the canvas shows and exports write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawStyle {
    pub look: Look,
    pub threshold: f32,
    pub all_boxes: bool,
}

/// The smoothing options of the methods (pytorch-grad-cam's `eigen_smooth`, `aug_smooth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Smoothing {
    pub eigen: bool,
    pub aug: bool,
}

pub enum Request {
    LoadModel(ModelSource, candle_core::Device),
    /// A second model beside the first, for panes and the gallery to compare; `None` closes it.
    LoadSecondModel(Option<ModelSource>, candle_core::Device),
    OpenImage(ImageSource),
    /// Explain the open photo; the panes are drawn with `look` once explained. A slow method
    /// stops when the app no longer wants `generation` (`WorkerLink::cancel_running`).
    Explain {
        generation: u64,
        class: Option<usize>,
        panes: Vec<PaneSpec>,
        smoothing: Smoothing,
        look: Look,
    },
    /// Draw the explanation of `generation` again with another look.
    Render {
        generation: u64,
        look: Look,
    },
    /// The deletion and insertion curves of every pane of the explanation of `generation`
    /// (docs/metrics.md); stops when the app no longer wants `generation`.
    Metrics {
        generation: u64,
        steps: usize,
    },
    /// Write the explanation of `generation`, as drawn with `style`, to `path`.
    Export {
        generation: u64,
        kind: ExportKind,
        path: PathBuf,
        style: DrawStyle,
    },
}

impl Request {
    /// Whether a newer request of the same kind makes this one pointless.
    pub fn is_superseded_by(&self, newer: &Request) -> bool {
        matches!(
            (self, newer),
            (Request::Explain { .. }, Request::Explain { .. })
                | (Request::Render { .. }, Request::Render { .. })
                | (Request::Render { .. }, Request::Explain { .. })
                | (Request::Metrics { .. }, Request::Metrics { .. })
                | (Request::Metrics { .. }, Request::Explain { .. })
        )
    }
}

/// One pane's deletion and insertion curves.
#[derive(Clone, Debug)]
pub struct PaneMetrics {
    pub title: String,
    pub deletion: crate::engine::metrics::faithfulness::Curve,
    pub insertion: crate::engine::metrics::faithfulness::Curve,
}

/// A loaded model, described for the UI.
pub struct ModelInfo {
    /// The model itself, shared with the gallery's thread.
    pub model: Arc<Model>,
    /// A number of this load, new for every model opened (the gallery's cache key).
    pub id: u64,
    pub name: String,
    pub architecture: String,
    pub device: String,
    pub parameters: usize,
    pub input_size: (usize, usize),
    /// How photos become input ([`crate::engine::Preprocess::describe`]) and where that
    /// comes from (metadata next to the weights, or the architecture's defaults).
    pub preprocess: String,
    pub preprocess_source: String,
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
    /// The photo at most [`MAX_DISPLAY_SIDE`] large: what panes are drawn on.
    pub display: Arc<RgbImage>,
    /// The model-input geometry in display-photo coordinates.
    pub mapping: InputMapping,
    pub predictions: Vec<Prediction>,
}

/// Photos are shown at most this large; exports use the full resolution.
pub const MAX_DISPLAY_SIDE: u32 = 2048;

/// What one pane explains.
pub struct PaneResult {
    pub method: Method,
    pub layer: String,
    pub explanation: Explanation,
    /// Whether the second model explained it.
    pub second: bool,
    /// Its model's input geometry in display-photo coordinates (the two models may crop
    /// differently).
    pub mapping: InputMapping,
}

/// The panes of one explanation drawn on the display photo with one look (`None` where the
/// method did not apply).
pub struct Rendered {
    pub generation: u64,
    pub look: Look,
    pub panes: Vec<Option<RgbImage>>,
}

pub enum Response {
    /// The worker has taken this many requests in all (finished or superseded).
    Taken(u64),
    ModelLoaded(Box<ModelInfo>),
    /// The second model was opened (`Some`) or closed (`None`).
    SecondModelLoaded(Option<Box<ModelInfo>>),
    ImageLoaded(Box<ImageInfo>),
    Explained {
        generation: u64,
        class: usize,
        panes: Vec<Result<PaneResult, String>>,
        /// Non-finite inputs, logits or maps: shown in the status line.
        warnings: Vec<String>,
    },
    Rendered(Rendered),
    /// A slow method of pane `pane` has evaluated `done` of `total` channels.
    Progress {
        generation: u64,
        pane: usize,
        method: Method,
        done: usize,
        total: usize,
    },
    /// The faithfulness curves of the panes of `generation` that have a map.
    Metrics {
        generation: u64,
        panes: Vec<PaneMetrics>,
    },
    /// The curves of `generation` have needed `done` of `total` forward passes so far.
    MetricsProgress {
        generation: u64,
        done: usize,
        total: usize,
    },
    /// The curves of `generation` were stopped (by the user, or superseded).
    MetricsStopped {
        generation: u64,
    },
    /// The explanation of `generation` was stopped (cancelled, or superseded).
    Cancelled {
        generation: u64,
    },
    Exported(PathBuf),
    /// Something failed; the previous state stays.
    Failed {
        what: String,
        message: String,
    },
}

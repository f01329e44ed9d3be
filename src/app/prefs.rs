//! What the app remembers across restarts (separate from runtime state such as textures).

use std::path::PathBuf;

use super::protocol::{DrawStyle, Look, PaneSpec, Smoothing};
use crate::engine::{Blend, Colormap, Method, OverlayStyle};

/// How many recent files are kept.
const RECENT: usize = 8;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub recent_images: Vec<PathBuf>,
    pub recent_models: Vec<PathBuf>,
    /// The model to open at start (`None`: the built-in one).
    pub model: Option<PathBuf>,
    /// The photo to open at start (`None`: the built-in sample).
    pub image: Option<PathBuf>,
    /// The single view's method and layer.
    pub single: PaneSpec,
    /// The compare view's panes (2–4).
    pub compare: Vec<PaneSpec>,
    pub compare_mode: bool,
    /// Show the panes' deletion and insertion curves (docs/metrics.md).
    pub show_metrics: bool,
    pub threshold: f32,
    pub image_weight: f32,
    pub colormap: Colormap,
    pub alpha_by_value: bool,
    /// Show signed maps (CAM and Grad-CAM before ReLU, guided gradients) with a diverging map.
    pub signed: bool,
    pub all_boxes: bool,
    /// Compare panes on one colour scale (raw maps, shared min / max).
    pub shared_scale: bool,
    pub smoothing: Smoothing,
    pub use_gpu: bool,
}

impl Default for Prefs {
    fn default() -> Self {
        let pane = |method| PaneSpec {
            method,
            layer: None,
            second: false,
        };
        Self {
            recent_images: Vec::new(),
            recent_models: Vec::new(),
            model: None,
            image: None,
            single: pane(Method::GradCam),
            compare: vec![
                pane(Method::Cam),
                pane(Method::GradCam),
                pane(Method::GuidedGradCam),
            ],
            compare_mode: false,
            show_metrics: false,
            threshold: 0.2,
            image_weight: 0.5,
            colormap: Colormap::Jet,
            alpha_by_value: false,
            signed: false,
            all_boxes: false,
            shared_scale: false,
            smoothing: Smoothing::default(),
            use_gpu: true,
        }
    }
}

/// Puts `path` first in `list`, without duplicates, keeping [`RECENT`] entries.
pub fn remember(list: &mut Vec<PathBuf>, path: &std::path::Path) {
    list.retain(|p| p != path);
    list.insert(0, path.to_owned());
    list.truncate(RECENT);
}

/// The display settings: how maps are drawn and boxed. None of them touches the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Display {
    pub threshold: f32,
    pub image_weight: f32,
    pub colormap: Colormap,
    pub alpha_by_value: bool,
    pub signed: bool,
    pub all_boxes: bool,
    pub shared_scale: bool,
}

impl Prefs {
    pub fn display(&self) -> Display {
        Display {
            threshold: self.threshold,
            image_weight: self.image_weight,
            colormap: self.colormap,
            alpha_by_value: self.alpha_by_value,
            signed: self.signed,
            all_boxes: self.all_boxes,
            shared_scale: self.shared_scale,
        }
    }

    pub fn set_display(&mut self, d: Display) {
        self.threshold = d.threshold;
        self.image_weight = d.image_weight;
        self.colormap = d.colormap;
        self.alpha_by_value = d.alpha_by_value;
        self.signed = d.signed;
        self.all_boxes = d.all_boxes;
        self.shared_scale = d.shared_scale;
    }

    /// How panes are drawn (the signed view uses the diverging colormap): the canvas and
    /// every export use this one style.
    pub fn overlay_style(&self) -> OverlayStyle {
        OverlayStyle {
            colormap: if self.signed {
                Colormap::RdBu
            } else {
                self.colormap
            },
            image_weight: self.image_weight,
            blend: if self.alpha_by_value {
                Blend::AlphaByValue
            } else {
                Blend::Mix
            },
            ..Default::default()
        }
    }

    /// How pane pixels are drawn.
    pub fn look(&self) -> Look {
        Look {
            overlay: self.overlay_style(),
            shared_scale: self.shared_scale,
        }
    }

    pub fn draw_style(&self) -> DrawStyle {
        DrawStyle {
            look: self.look(),
            threshold: self.threshold,
            all_boxes: self.all_boxes,
        }
    }

    /// How many panes the current view shows.
    pub fn pane_count(&self) -> usize {
        if self.compare_mode {
            self.compare.len()
        } else {
            1
        }
    }

    /// The panes the current view shows.
    pub fn panes(&self) -> Vec<PaneSpec> {
        if self.compare_mode {
            self.compare.clone()
        } else {
            vec![self.single.clone()]
        }
    }

    pub fn pane_mut(&mut self, i: usize) -> Option<&mut PaneSpec> {
        if self.compare_mode {
            self.compare.get_mut(i)
        } else if i == 0 {
            Some(&mut self.single)
        } else {
            None
        }
    }
}

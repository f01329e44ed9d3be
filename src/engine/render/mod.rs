//! Maps into pictures: overlays on the original photo, boxes, captions, composites, PNG.
//!
//! [`pane_pixels`] is the only place a map becomes pixels; [`annotate`] adds boxes and captions
//! for exports; [`compose`] assembles compare grids.

pub mod annotate;
mod boxes;
pub mod colormap;
mod colormap_tables;
pub mod compose;
mod overlay;
pub mod plot;
mod png;
pub mod text;

pub use annotate::{
    Caption, MAX_EXPORT_PIXELS, annotated, annotated_with_caption, export_size, export_warning,
    pane_title, photo_boxes, unavailable_pane,
};
pub use boxes::{BOX_PRIMARY, BOX_SECONDARY, draw_boxes, draw_rect, stroke_for};
pub use compose::{
    GridPane, GridSettings, MAX_PANE_SIDE, caption_height, compare_grid, composite, fit_size,
    grid_caption, shared_maps, with_caption, with_caption_for,
};
pub use overlay::{
    deprocess_gradient, display_map, on_shared_scale, overlay_on_photo, pane_pixels,
    picture_on_photo, show_cam_on_image,
};
pub use png::save_png;

use crate::engine::render::colormap::Colormap;

/// How heat is laid over the photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blend {
    /// `(1 − w)·heat + w·image`, then divided by its maximum: pytorch-grad-cam's
    /// `show_cam_on_image`.
    Mix,
    /// Heat with opacity `α = min(1, 2·(1 − w)·v)`: transparent where the map is low
    /// (α = v at the default w = 0.5).
    AlphaByValue,
}

/// Overlay settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OverlayStyle {
    pub colormap: Colormap,
    /// The image's weight w in [0, 1].
    pub image_weight: f32,
    pub blend: Blend,
    /// How bright the photo stays outside the model's crop.
    pub outside_dim: f32,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self {
            colormap: Colormap::Jet,
            image_weight: 0.5,
            blend: Blend::Mix,
            outside_dim: 0.35,
        }
    }
}
